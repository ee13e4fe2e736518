"""SQL building blocks for the provider: output CRS, CQL2 filters, datetime, engine.

Rules: every request value is a bound parameter; identifiers and SQL fragments come only from
``collections.py``; SRIDs are integers (``ST_Transform(geom, 4326)``) because a text SRID makes
PostGIS build a PROJ pipeline per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from geoalchemy2 import Geometry
from pygeoapi.provider.base import ProviderInvalidQueryError
from pyproj import CRS
from sqlalchemy import Boolean, DateTime, Float, Integer, Text, create_engine, func, literal_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from cadastre_gis.db import normalize_url

from .collections import STORAGE_SRID, Collection

OGC_CRS = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
OUTPUT_SRIDS = (4326, 3857, 32642, 28412)
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
        raise ProviderInvalidQueryError(user_msg=f"unsupported crs; use one of {SUPPORTED_CRS}")
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


# ---------------------------------------------------------------------------------------
# CQL2 (parsed by pygeoapi with pygeofilter) -> SQLAlchemy expression with bound values
# ---------------------------------------------------------------------------------------

_SQL_TYPES = {"integer": Integer, "number": Float, "boolean": Boolean, "string": Text}


def field_mapping(coll: Collection) -> dict[str, ColumnElement]:
    """Queryable name -> column: only public fields and the geometry."""
    mapping: dict[str, ColumnElement] = {}
    for f in coll.fields:
        typ = DateTime(timezone=True) if f.format == "date-time" else _SQL_TYPES[f.type]()
        mapping[f.name] = literal_column(f.sql, type_=typ)
    geom = literal_column("t.geom", type_=Geometry(srid=STORAGE_SRID))
    mapping["geometry"] = geom
    mapping["geom"] = geom
    return mapping


def _evaluator_class() -> type:
    from pygeofilter import ast, values
    from pygeofilter.backends.evaluator import handle
    from pygeofilter.backends.sqlalchemy.evaluate import SQLAlchemyFilterEvaluator

    def _box(x1: float, y1: float, x2: float, y2: float, srid: int) -> Any:
        env = func.ST_MakeEnvelope(float(x1), float(y1), float(x2), float(y2), int(srid))
        return env if srid == STORAGE_SRID else func.ST_Transform(env, STORAGE_SRID)

    class Evaluator(SQLAlchemyFilterEvaluator):  # type: ignore[misc]
        """pygeofilter's SQLAlchemy evaluator with envelopes reprojected to storage."""

        @handle(values.Envelope)
        def envelope(self, node: Any) -> Any:
            return _box(node.x1, node.y1, node.x2, node.y2, 4326)

        @handle(ast.BBox)
        def bbox(self, node: Any, lhs: Any) -> Any:
            srid = 4326
            if node.crs:
                m = re.search(r"(\d+)$", str(node.crs))
                srid = int(m.group(1)) if m else 4326
            return lhs.ST_Intersects(_box(node.minx, node.miny, node.maxx, node.maxy, srid))

        @handle(ast.Function)
        def function(self, node: Any, *arguments: Any) -> Any:
            # CQL2 text writes an envelope literal as BBOX(x1, y1, x2, y2)
            if node.name.lower() == "bbox" and len(arguments) in (4, 6):
                a = [float(v) for v in arguments]
                if len(a) == 6:
                    a = [a[0], a[1], a[3], a[4]]
                return _box(a[0], a[1], a[2], a[3], 4326)
            raise ProviderInvalidQueryError(user_msg=f"function {node.name[:40]} not supported")

    return Evaluator


_EVALUATOR: type | None = None


def compile_filter(coll: Collection, node: Any) -> tuple[str, dict[str, Any]]:
    """SQL text (pyformat placeholders) and bound values for a parsed CQL2 filter."""
    global _EVALUATOR
    if _EVALUATOR is None:
        _EVALUATOR = _evaluator_class()
    try:
        expr = _EVALUATOR(field_mapping(coll), False).evaluate(node)
    except ProviderInvalidQueryError:
        raise
    except KeyError as exc:
        raise ProviderInvalidQueryError(
            user_msg=f"unknown property in filter: {str(exc.args[0])[:60]}; see /queryables") from None
    except Exception:
        raise ProviderInvalidQueryError(user_msg="filter not supported") from None
    if isinstance(expr, bool):
        return ("true" if expr else "false"), {}
    if not isinstance(expr, ColumnElement):
        raise ProviderInvalidQueryError(user_msg="filter must be a predicate")
    compiled = expr.compile(dialect=postgresql.psycopg2.dialect())
    params = {f"f_{k}": v for k, v in compiled.params.items()}
    sql = re.sub(r"%\((\w+)\)s", lambda m: f"%(f_{m.group(1)})s", str(compiled))
    return sql, params


# ---------------------------------------------------------------------------------------
# datetime parameter
# ---------------------------------------------------------------------------------------

def _parse_time(value: str) -> datetime | None:
    from dateutil.parser import isoparse

    if value in ("..", ""):
        return None
    try:
        t = isoparse(value)
    except (ValueError, OverflowError):
        raise ProviderInvalidQueryError(user_msg="datetime must be RFC 3339, e.g. "
                                                 "2025-01-01T00:00:00Z or an interval a/b") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_datetime(value: str) -> tuple[datetime | None, datetime | None, bool]:
    """(start, end, is_instant) of a ``datetime`` parameter."""
    if "/" in value:
        a, _, b = value.partition("/")
        start, end = _parse_time(a), _parse_time(b)
        if start and end and start > end:
            raise ProviderInvalidQueryError(user_msg="datetime interval ends before it starts")
        return start, end, False
    t = _parse_time(value)
    if t is None:
        return None, None, False
    return t, t, True
