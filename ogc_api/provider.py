"""pygeoapi's view of our collections: the queryables and schema of each (metadata only).

pygeoapi still renders the landing page, collections, queryables, schema and OpenAPI, and
reads the properties of a collection from this provider. Items are not read through
pygeoapi: ``web/ogc.py`` serves them from ``items.py`` (reads) and ``writes.py`` (Part 4).
"""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import BaseProvider

from .collections import COLLECTIONS, Collection


class CadastreProvider(BaseProvider):
    """pygeoapi feature provider over one public collection of ``collections.py``."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        """Set up from the pygeoapi provider definition (cheap: pygeoapi makes one per request)."""
        super().__init__(provider_def)
        self.collection: Collection = COLLECTIONS[provider_def["collection"]]
        self.id_field = "id"
        from .writes import WRITABLE

        # pygeoapi's OpenAPI document lists the Part 4 operations of editable collections
        self.editable = self.collection.id in WRITABLE
        if self.collection.time and self.collection.time != "lifespan":
            self.time_field = self.collection.time
        self._fields = {}
        for f in self.collection.fields:
            spec: dict[str, Any] = {"type": f.type}
            if f.format:
                spec["format"] = f.format
            self._fields[f.name] = spec

    def get_fields(self) -> dict[str, Any]:
        """Public properties and their JSON types (the queryables)."""
        return self._fields

    def __repr__(self) -> str:
        return f"<CadastreProvider {self.collection.id}>"
