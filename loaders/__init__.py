"""Import and export of GIS files (Fiona, pyproj, validation, reports)."""
