"""OGC API Features query parameters, checked at the edge (one place for every items request).

``parse_items`` turns the query string (and a CQL2 JSON body) into an :class:`ItemsQuery` or
raises :class:`~cadastre_gis.errors.InvalidInput` with a short message: NUL bytes, invalid
UTF-8, over-long values, NaN/Inf/overflowing numbers, bboxes out of range for their CRS,
unknown CRSs, properties and sort keys, bad datetimes, bad cursors and bad CQL2 all end here
as a 400, before any SQL is built.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cadastre_gis.errors import InvalidInput, LimitTooLarge

from . import cql
from .collections import Collection
from .sql import OutputCrs, output_crs

RESERVED = {"f", "lang", "limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "filter",
            "filter-lang", "filter-crs", "properties", "sortby", "skipGeometry", "cursor",
            "resulttype", "numberMatched"}
MAX_VALUE = 2_000
"""Longest value of a parameter other than ``filter``."""
FORMATS = {"json": "application/geo+json", "html": "text/html", "csv": "text/csv"}
_PROJECTED_LIMIT = 1e8
"""Largest absolute coordinate of a projected CRS in metres (Gauss-Krüger easting with its
zone prefix is ~1.4e7; anything beyond 1e8 is not a place on Earth)."""


@dataclass
class ItemsQuery:
    """A checked items request."""

    limit: int
    offset: int = 0
    bbox: list[float] | None = None
    bbox_crs: OutputCrs = field(default_factory=lambda: output_crs(None))
    crs: OutputCrs = field(default_factory=lambda: output_crs(None))
    datetime: tuple[datetime | None, datetime | None, bool] | None = None
    filter: Any = None
    filter_crs: OutputCrs = field(default_factory=lambda: output_crs(None))
    select: list[str] | None = None
    sortby: list[tuple[str, bool]] = field(default_factory=list)
    """(property, descending)."""
    skip_geometry: bool = False
    equals: list[tuple[str, Any]] = field(default_factory=list)
    cursor: int | None = None
    hits: bool = False
    number_matched: bool = False
    format: str = "json"
    args: list[tuple[str, str]] = field(default_factory=list)
    """The request's parameters in order (for self and next links)."""

    def args_dict(self) -> dict[str, str]:
        """The first value of each parameter."""
        out: dict[str, str] = {}
        for k, v in self.args:
            out.setdefault(k, v)
        return out


def shown(name: str) -> str:
    """A client-given name fit to quote in a message (identifiers only, else "?")."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,40}", name) else "?"


def check_text(name: str, value: str, limit: int = MAX_VALUE) -> str:
    """A parameter value without NUL characters, decoding errors or excess length."""
    if "\x00" in value:
        raise InvalidInput(f"{name[:40]} contains a NUL character")
    if "\ufffd" in value:
        raise InvalidInput(f"{name[:40]} is not valid UTF-8")
    if len(value) > limit:
        raise InvalidInput(f"{name[:40]} is longer than {limit} characters")
    return value


def check_query_bytes(raw: bytes) -> None:
    """Refuse a query string that is not UTF-8 once percent-decoded."""
    from urllib.parse import unquote_to_bytes

    for part in raw.split(b"&"):
        try:
            unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the query string is not valid UTF-8") from None


def number(name: str, text: str) -> float:
    """A finite float (NaN, Inf and overflow such as 1e400 are refused)."""
    try:
        v = float(text)
    except ValueError:
        raise InvalidInput(f"{name} must be numbers separated by commas") from None
    if not math.isfinite(v):
        raise InvalidInput(f"{name} must be finite numbers (no NaN, Inf or overflow)")
    return v


def crs_limits(crs: OutputCrs) -> tuple[float, float, float, float]:
    """(min first axis, min second axis, max first, max second) of valid coordinates."""
    if crs.digits == 7:  # geographic
        return (-90.0, -180.0, 90.0, 180.0) if crs.flip else (-180.0, -90.0, 180.0, 90.0)
    p = _PROJECTED_LIMIT
    return (-p, -p, p, p)


def check_box(v: list[float], crs: OutputCrs, antimeridian: bool = False) -> None:
    """Range and order checks of a bbox in ``crs`` axis order.

    In a geographic CRS a first longitude greater than the second means the box crosses the
    antimeridian (OGC API Features 1.0, 7.15.3) and is accepted when ``antimeridian``.
    """
    lo1, lo2, hi1, hi2 = crs_limits(crs)
    if not (lo1 <= v[0] <= hi1 and lo1 <= v[2] <= hi1 and lo2 <= v[1] <= hi2
            and lo2 <= v[3] <= hi2):
        raise InvalidInput(f"bbox is out of range for {crs.uri}")
    lon = (1, 3) if crs.flip else (0, 2)
    lat = (0, 2) if crs.flip else (1, 3)
    geographic = crs.digits == 7
    if v[lat[0]] > v[lat[1]]:
        raise InvalidInput("bbox: the lower corner must come first (miny <= maxy)")
    if v[lon[0]] > v[lon[1]] and not (geographic and antimeridian):
        raise InvalidInput("bbox: the lower corner must come first (minx <= maxx)")


def parse_bbox(raw: str, crs: OutputCrs) -> list[float]:
    """4 or 6 finite numbers in range; returns (x1, y1, x2, y2) in the CRS's axis order."""
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise InvalidInput("bbox must have 4 or 6 numbers")
    v = [number("bbox", p) for p in parts]
    if len(v) == 6:
        if v[2] > v[5]:
            raise InvalidInput("bbox: the lower corner must come first")
        v = [v[0], v[1], v[3], v[4]]
    check_box(v, crs, antimeridian=True)
    return v


def encode_cursor(last_id: int) -> str:
    """Opaque keyset cursor for the page after ``last_id``."""
    return base64.urlsafe_b64encode(json.dumps([last_id]).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    """The last id encoded in a cursor (400 on anything else)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int) \
                and 0 <= value[0] < 2 ** 62:
            return value[0]
    except (ValueError, TypeError):
        pass
    raise InvalidInput("bad cursor; follow the next link as given")


def _time(value: str) -> datetime | None:
    from dateutil.parser import isoparse

    if value in ("..", ""):
        return None
    try:
        t = isoparse(value)
    except (ValueError, OverflowError):
        raise InvalidInput("datetime must be RFC 3339, e.g. 2025-01-01T00:00:00Z or an"
                           " interval a/b") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_datetime(value: str) -> tuple[datetime | None, datetime | None, bool]:
    """(start, end, is_instant) of a ``datetime`` parameter."""
    if "/" in value:
        a, _, b = value.partition("/")
        if "/" in b:
            raise InvalidInput("datetime interval must be start/end")
        start, end = _time(a), _time(b)
        if start is None and end is None:
            raise InvalidInput("datetime: an interval needs a start or an end")
        if start and end and start > end:
            raise InvalidInput("datetime interval ends before it starts")
        return start, end, False
    t = _time(value)
    if t is None:
        raise InvalidInput("datetime must be an instant or an interval a/b")
    return t, t, True


def _crs(name: str, value: str | None) -> OutputCrs:
    if value is not None:
        value = value.strip().strip("[]<>")
    try:
        return output_crs(value or None)
    except InvalidInput:
        raise InvalidInput(f"unsupported {name}; use one of the collection's crs") from None


def _bool(name: str, value: str) -> bool:
    low = value.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true or false")


def typed_value(coll: Collection, name: str, value: str) -> Any:
    """A ``property=value`` query parameter converted to the property's type."""
    f = coll.field(name)
    assert f is not None
    try:
        if f.type == "integer":
            v: Any = int(value)
            if abs(v) > 2 ** 63 - 1:
                raise ValueError(value)
            return v
        if f.type == "number":
            return number(name, value)
        if f.type == "boolean":
            return _bool(name, value)
        if f.format == "date-time":
            return _time(value)
    except ValueError:
        raise InvalidInput(f"bad value for {name}") from None
    return value


def negotiate(fmt: str | None, accept: str | None) -> str:
    """The response format from ``f`` (wins) or the Accept header (browsers get HTML)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidInput(f"unsupported f; use one of {', '.join(FORMATS)}")
        return fmt
    if accept and "text/html" in accept:
        from werkzeug.datastructures import MIMEAccept
        from werkzeug.http import parse_accept_header

        acc = parse_accept_header(accept, MIMEAccept)
        if acc.best_match(["application/geo+json", "application/json", "text/html"]) \
                == "text/html":
            return "html"
    return "json"


def parse_items(coll: Collection, args: list[tuple[str, str]], *, default_limit: int,
                max_limit: int, accept: str | None = None,
                body: dict[str, Any] | None = None) -> ItemsQuery:
    """Check every parameter of an items request; ``body``: a CQL2 JSON filter (POST)."""
    one: dict[str, str] = {}
    for k, v in args:
        check_text("parameter name", k, 100)
        check_text(k, v, cql.MAX_FILTER if k == "filter" else MAX_VALUE)
        if k in one and k in RESERVED:
            raise InvalidInput(f"{k} is given twice")
        one.setdefault(k, v)
    q = ItemsQuery(limit=default_limit, args=[(k, v) for k, v in args])
    q.format = negotiate(one.get("f"), accept)
    if "limit" in one:
        try:
            q.limit = int(one["limit"])
        except ValueError:
            raise InvalidInput("limit must be a whole number") from None
        if q.limit < 1:
            raise InvalidInput("limit must be at least 1")
        if q.limit > max_limit:
            raise LimitTooLarge(f"limit must be at most {max_limit}; follow the next links to"
                                " page through more features")
    if "offset" in one:
        try:
            q.offset = int(one["offset"])
        except ValueError:
            raise InvalidInput("offset must be a whole number") from None
        if not 0 <= q.offset <= 10_000_000:
            raise InvalidInput("offset must be between 0 and 10000000")
    q.crs = _crs("crs", one.get("crs"))
    if "bbox-crs" in one and "bbox" not in one:
        raise InvalidInput("bbox-crs given without bbox")
    q.bbox_crs = _crs("bbox-crs", one.get("bbox-crs"))
    if "bbox" in one:
        q.bbox = parse_bbox(one["bbox"], q.bbox_crs)
    if "datetime" in one:
        if not coll.time:
            raise InvalidInput(f"{coll.id} has no time; datetime does not apply")
        q.datetime = parse_datetime(one["datetime"])
    q.filter_crs = _crs("filter-crs", one.get("filter-crs"))
    lang = one.get("filter-lang")
    if "filter" in one:
        q.filter = cql.parse(one["filter"], lang)
    elif body is not None:
        if lang not in (None, cql.JSON):
            raise InvalidInput("a filter in the body is CQL2 JSON")
        q.filter = cql.parse_json(body)
    elif lang is not None and lang not in (cql.TEXT, cql.JSON, "cql-text"):
        raise InvalidInput("filter-lang must be cql2-text or cql2-json")
    if "properties" in one:
        names = [n.strip() for n in one["properties"].split(",") if n.strip()]
        unknown = [n for n in names if coll.field(n) is None]
        if unknown:
            raise InvalidInput(f"unknown properties: {', '.join(map(shown, unknown))[:100]};"
                               " see /queryables")
        q.select = names
    if "sortby" in one:
        for s in one["sortby"].split(","):
            s = s.strip()
            desc = s.startswith("-")
            name = s[1:] if s[:1] in "+-" and s else s
            if coll.field(name) is None:
                raise InvalidInput(f"bad sortby property {shown(name)}; see /queryables")
            q.sortby.append((name, desc))
    if "skipGeometry" in one:
        q.skip_geometry = _bool("skipGeometry", one["skipGeometry"])
    if "cursor" in one:
        q.cursor = decode_cursor(one["cursor"])
    if "resulttype" in one:
        if one["resulttype"] not in ("results", "hits"):
            raise InvalidInput("resulttype must be results or hits")
        q.hits = one["resulttype"] == "hits"
    if "numberMatched" in one:
        q.number_matched = _bool("numberMatched", one["numberMatched"])
    for k, v in args:
        if k not in RESERVED and coll.field(k) is not None:
            q.equals.append((k, typed_value(coll, k, v)))
    return q


def parse_crs_header(value: str | None) -> OutputCrs:
    """The CRS of a ``Content-Crs`` header (CRS84 when absent)."""
    raw = (value or "").strip().strip("<>").strip()
    check_text("Content-Crs", raw, 200)
    try:
        return output_crs(raw or None)
    except InvalidInput:
        raise InvalidInput("unsupported Content-Crs; use CRS84 or one of the collection's"
                           " crs") from None


def parse_item_args(coll: Collection, ident: str, raw_query: bytes, args: list[tuple[str, str]],
                    accept: str | None) -> tuple[str, OutputCrs, Any]:
    """(format, output CRS, as-of instant or None) of a single-item request."""
    check_query_bytes(raw_query)
    check_text("item id", ident, 100)
    one: dict[str, str] = {}
    for k, v in args:
        check_text("parameter name", k, 100)
        one.setdefault(k, check_text(k, v))
    fmt = negotiate(one.get("f"), accept)
    if fmt == "csv":
        raise InvalidInput("an item is served as GeoJSON or HTML")
    when = None
    if one.get("datetime") and coll.time:
        when = parse_datetime(one["datetime"])
    return fmt, _crs("crs", one.get("crs")), when
