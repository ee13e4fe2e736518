"""The OGC API: pygeoapi configured from our settings, plus our provider and process plugins."""
