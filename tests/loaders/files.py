"""Messy fixture files, generated with Fiona the way old Tashkent survey files look."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fiona
from fiona.crs import CRS
from shapely.geometry import MultiPolygon, Polygon, box, mapping

# Centre of Tashkent in SK-42 / Gauss-Krüger zone 12 (EPSG:28412).
CENTRE_28412 = (12_523_500.0, 4_573_400.0)

PARCEL_SCHEMA = {"KAD_NOMER": "str:24", "ADRES": "str:120", "PLOSHAD": "float:14.2",
                 "KATEGORIYA": "str:60", "VID_ISP": "str:60"}


def square(x: float, y: float, side: float = 20.0) -> Polygon:
    """A square parcel with its lower-left corner at (x, y)."""
    return box(x, y, x + side, y + side)


def write(path: Path, records: list[dict[str, Any]], *, schema: dict[str, str] | None = None,
          geometry: str = "Unknown", epsg: int | None = 28412, encoding: str = "cp1251",
          cpg: bool = False, driver: str | None = None, ldid: int | None = 0) -> Path:
    """Write records ({'geometry': shapely or None, **properties}) and mess the file up.

    A Shapefile loses its .cpg (unless ``cpg``) and gets language driver byte ``ldid``,
    as the old files do.
    """
    driver = driver or {".shp": "ESRI Shapefile", ".gpkg": "GPKG", ".geojson": "GeoJSON",
                        ".fgb": "FlatGeobuf"}[path.suffix]
    props = schema or PARCEL_SCHEMA
    kwargs: dict[str, Any] = {}
    if epsg:
        kwargs["crs"] = CRS.from_epsg(epsg)
    if driver == "ESRI Shapefile":
        kwargs["encoding"] = encoding
    with fiona.open(path, "w", driver=driver, schema={"geometry": geometry, "properties": props},
                    **kwargs) as dst:
        for r in records:
            g = r.get("geometry")
            dst.write({"geometry": mapping(g) if g is not None else None,
                       "properties": {k: r.get(k) for k in props}})
    if driver == "ESRI Shapefile":
        if not cpg:
            path.with_suffix(".cpg").unlink(missing_ok=True)
        if ldid is not None:
            with open(path.with_suffix(".dbf"), "r+b") as fh:
                fh.seek(29)
                fh.write(bytes([ldid]))
    return path


def bowtie(x: float, y: float) -> Polygon:
    """A self-intersecting ring (figure eight)."""
    return Polygon([(x, y), (x + 20, y + 20), (x + 20, y), (x, y + 20), (x, y)])


def with_hole(x: float, y: float) -> Polygon:
    """A 30 m square with a 10 m courtyard."""
    return Polygon([(x, y), (x + 30, y), (x + 30, y + 30), (x, y + 30)],
                   [[(x + 10, y + 10), (x + 20, y + 10), (x + 20, y + 20), (x + 10, y + 20)]])


def two_parts(x: float, y: float) -> MultiPolygon:
    """A parcel in two parts, 5 m apart."""
    return MultiPolygon([square(x, y, 15), square(x + 20, y, 15)])
