"""Build pygeoapi's configuration from our settings (no YAML with credentials on disk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cadastre_gis.settings import Settings

HERE = Path(__file__).resolve().parent

# Process id -> dotted path of its pygeoapi processor class. Each area adds its own lines.
PROCESSES: dict[str, str] = {
    "parcel-extract": "ogc_api.processes.extract.ParcelExtractProcessor",
    "parcel-split": "ogc_api.processes.registry.ParcelSplit",
    "parcel-merge": "ogc_api.processes.registry.ParcelMerge",
    "boundary-correction": "ogc_api.processes.registry.BoundaryCorrection",
    "right-transfer": "ogc_api.processes.registry.RightTransfer",
    "encumbrance-register": "ogc_api.processes.registry.EncumbranceRegister",
    "encumbrance-release": "ogc_api.processes.registry.EncumbranceRelease",
}

# Process id -> policy action (cadastre_gis.policy) checked by web/ogc.py before execution.
PROCESS_POLICY: dict[str, str] = {
    "parcel-extract": "extract.issue",
    "parcel-split": "registry.edit",
    "parcel-merge": "registry.edit",
    "boundary-correction": "registry.edit",
    "right-transfer": "registry.edit",
    "encumbrance-register": "registry.edit",
    "encumbrance-release": "registry.edit",
}


CITY_BBOX = [69.1, 41.15, 69.5, 41.45]

FEATURES_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    "http://www.opengis.net/spec/ogcapi-common-3/1.0/conf/schemas",
]
"""What our items routes implement (``tests/ogc_api/test_conformance.py`` exercises each)."""

NOT_OFFERED = {"http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/callback"}
"""Classes pygeoapi lists for its modules that we do not offer (synchronous execution only)."""


def conformance() -> list[str]:
    """The conformance classes declared at /conformance: exactly what works."""
    from pygeoapi.api import CONFORMANCE_CLASSES as common
    from pygeoapi.api.processes import CONFORMANCE_CLASSES as processes
    from pygeoapi.api.tiles import CONFORMANCE_CLASSES as tiles

    from .cql import CONFORMANCE as filters

    classes = [*common, *FEATURES_CONFORMANCE, *filters, *tiles, *processes]
    return sorted(set(classes) - NOT_OFFERED)


def public_root(settings: Settings, base_url: str | None = None) -> str:
    """The site root the OGC documents link to: ``base_url`` (the request's), else settings."""
    return (base_url or settings.base_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def collections(settings: Settings, base_url: str | None = None) -> dict[str, Any]:
    """The public feature and tile collections, served by our PostGIS providers."""
    from datetime import UTC, datetime

    from .collections import COLLECTIONS, TILED
    from .sql import SUPPORTED_CRS

    url = settings.url()
    base = public_root(settings, base_url) + "/ogc"
    out: dict[str, Any] = {}
    for cid, c in COLLECTIONS.items():
        extents: dict[str, Any] = {"spatial": {"bbox": CITY_BBOX, "crs": SUPPORTED_CRS[0]}}
        if c.time:
            extents["temporal"] = {"begin": datetime(1991, 1, 1, tzinfo=UTC), "end": None}
        providers: list[dict[str, Any]] = [{
            "type": "feature",
            "name": "ogc_api.provider.CadastreProvider",
            "data": url,
            "collection": cid,
            "id_field": "id",
            "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/32642",
            "crs": list(SUPPORTED_CRS),
            "editable": False,
        }]
        if cid in TILED:
            providers.append({
                "type": "tile",
                "name": "ogc_api.tiles.CadastreTileProvider",
                "data": url,
                "collection": cid,
                "options": {"zoom": {"min": c.min_zoom, "max": c.max_zoom},
                            "schemes": ["WebMercatorQuad"]},
                "format": {"name": "mvt", "mimetype": "application/vnd.mapbox-vector-tile"},
            })
        out[cid] = {
            "type": "collection",
            "title": {"en": c.title},
            "description": {"en": c.description},
            "keywords": {"en": list(c.keywords)},
            # GDAL's OAPIF driver reads field types from a describedby JSON schema (without
            # it, "10:09:03:01:01:0045" is sniffed as a time)
            "links": [{"type": "application/schema+json", "rel": "describedby",
                       "title": "JSON schema of the items",
                       "href": f"{base}/collections/{cid}/schema?f=json"}],
            "extents": extents,
            "providers": providers,
        }
    return out


def build_config(settings: Settings, base_url: str | None = None) -> dict[str, Any]:
    """The pygeoapi config dict for ``settings``, linking to the site root ``base_url``.

    pygeoapi writes every link from ``server.url``, so the web layer builds one config (and
    API object) per public root it is reached at (``web/ogc.py``).
    """
    import pygeoapi

    root = public_root(settings, base_url)
    base = root + "/ogc"
    resources: dict[str, Any] = dict(collections(settings, base_url))
    for pid, dotted in PROCESSES.items():
        resources[pid] = {"type": "process", "processor": {"name": dotted}}
    return {
        "server": {
            "bind": {"host": settings.host, "port": settings.port},
            "url": base,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            "languages": ["en-US", "ru-RU", "uz-UZ"],
            "cors": False,
            "pretty_print": False,
            "limits": {"default_items": settings.default_limit, "max_items": settings.max_limit,
                       "on_exceed": "error"},
            "map": {"url": root + "/static/blank-tile.png",
                    "attribution": "Tashkent cadastre"},
            "templates": {"path": str(HERE / "templates"),
                          "static": str(Path(pygeoapi.__file__).parent / "static")},
            # Dummy would turn a process's 404/403 into a 400; ours keeps the status (issue 6).
            "manager": {"name": "ogc_api.manager.CadastreManager", "connection": None,
                        "output_dir": None},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"en": "Tashkent cadastre and situation center"},
                "description": {"en": "Land parcels, buildings, districts, incidents and cameras"
                                      " of Tashkent (open data; no personal data)"},
                "keywords": {"en": ["cadastre", "parcels", "buildings", "Tashkent", "incidents"]},
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": root,
            },
            "license": {"name": "CC-BY 4.0",
                        "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "Tashkent city cadastre", "url": root},
            "contact": {"name": "Cadastre service", "position": "Registry",
                        "address": "Amir Temur square", "city": "Tashkent",
                        "country": "Uzbekistan", "email": "cadastre@example.uz",
                        "role": "pointOfContact"},
        },
        "resources": resources,
    }
