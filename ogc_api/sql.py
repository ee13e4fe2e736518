"""SQL building blocks of the items and tiles: output CRS, GeoJSON, properties, engine.

Rules: every request value is a bound parameter; identifiers and SQL fragments come only from
``collections.py``; SRIDs are integers (``ST_Transform(geom, 4326)``) because a text SRID makes
PostGIS build a PROJ pipeline per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pyproj import CRS
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

from cadastre_gis.db import normalize_url
from cadastre_gis.errors import InvalidInput

from .collections import STORAGE_SRID, Collection

OGC_CRS = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
OUTPUT_SRIDS = (4326, 3857, STORAGE_SRID, 28412)
SUPPORTED_CRS = [OGC_CRS] + [f"{EPSG}{s}" for s in OUTPUT_SRIDS]


@dataclass(frozen=True)
class OutputCrs:
    """How to write coordinates for one output CRS."""

    uri: str
    srid: int
    flip: bool
    """True when the CRS's first axis is northing/latitude (EPSG:4326, EPSG:28412)."""
    digits: int


@lru_cache(maxsize=16)
def _north_first(srid: int) -> bool:
    axis = CRS.from_epsg(srid).axis_info
    return bool(axis) and axis[0].direction.lower() in ("north", "south")


@lru_cache(maxsize=16)
def output_crs(uri: str | None) -> OutputCrs:
    """The output CRS for a ``crs`` URI (None: CRS84, the default)."""
    if uri is None or uri == OGC_CRS:
        return OutputCrs(OGC_CRS, 4326, False, 7)
    m = re.fullmatch(r"http://www\.opengis\.net/def/crs/EPSG/0/(\d+)", uri)
    if not m or int(m.group(1)) not in OUTPUT_SRIDS:
        raise InvalidInput(f"unsupported crs; use one of {', '.join(SUPPORTED_CRS)}")
    srid = int(m.group(1))
    geographic = CRS.from_epsg(srid).is_geographic
    return OutputCrs(uri, srid, _north_first(srid), 7 if geographic else 3)


def geometry_json(crs: OutputCrs, column: str = "t.geom") -> str:
    """SQL for the GeoJSON geometry of ``column`` in ``crs`` (no per-row PROJ set-up)."""
    g = column if crs.srid == STORAGE_SRID else f"ST_Transform({column}, {int(crs.srid)})"
    if crs.flip:
        g = f"ST_FlipCoordinates({g})"
    return f"ST_AsGeoJSON({g}, {int(crs.digits)}, 0)::json"


def properties_json(coll: Collection, names: list[str] | None = None) -> str:
    """SQL ``json_build_object`` of the (selected) public properties."""
    return _properties_json(coll, tuple(names) if names else None)


@lru_cache(maxsize=256)
def _properties_json(coll: Collection, names: tuple[str, ...] | None) -> str:
    fields = [f for f in coll.fields if not names or f.name in names]
    if not fields:
        return "'{}'::json"
    parts = ", ".join(f"'{f.name}', {f.sql}" for f in fields)
    return f"json_build_object({parts})"


@lru_cache(maxsize=8)
def engine(url: str) -> Engine:
    """A pooled read-only engine for the OGC API (one per database URL and process).

    Autocommit: every read is one statement, so there is no transaction to roll back when a
    connection goes back to the pool; ``pool_recycle`` replaces a per-checkout ping. No
    parallel workers: an OGC request is a small indexed query, and starting workers for it
    costs more than it saves (a z14 parcel tile: 30 ms with, 17 ms without) while many
    requests already run side by side.
    """
    return create_engine(normalize_url(url), pool_size=8, max_overflow=8, pool_recycle=600,
                         isolation_level="AUTOCOMMIT", future=True,
                         connect_args={"options": "-c max_parallel_workers_per_gather=0"})


def read_connect(url: str) -> Connection:
    """A connection for a read: a replica when the web layer allows one for this request
    (``cadastre_gis.db.replica_connect``), else this module's engine on the primary."""
    from cadastre_gis.db import replica_connect

    c = replica_connect(url)
    return c if c is not None else engine(url).connect()
