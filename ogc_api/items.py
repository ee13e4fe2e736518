"""Read items (OGC API Features ``/items`` and ``/items/{id}``): the GeoJSON is built in SQL.

Compared with pygeoapi's stock PostgreSQL provider: features and reprojection happen inside
PostGIS with integer SRIDs, the page comes back as one JSON text (never parsed into Python
objects), pages follow a keyset ``cursor`` (no deep OFFSET), and ``numberMatched`` is
computed only when it is cheap or asked for (``resulttype=hits`` or ``numberMatched=true``).

Every request value arrives checked (``params.py``) and is bound; SQL fragments come only
from ``collections.py`` (the privacy whitelist) and ``cql.py``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, ProgrammingError

from cadastre_gis.errors import CadastreError, InvalidInput, NotFound

from . import cql
from .collections import COLLECTIONS, STORAGE_SRID, Collection
from .params import ItemsQuery
from .sql import OutputCrs, geometry_json, properties_json, read_connect

LOGGER = logging.getLogger(__name__)


class QueryFailed(CadastreError):
    """The database could not answer the query."""

    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE
    ogc_exception_code = "NoApplicableCode"


@dataclass
class Page:
    """One page of features."""

    features: str
    """The features array as JSON text (from PostGIS)."""
    returned: int
    matched: int | None
    next_cursor: int | None
    """Last id of a full keyset page with more to come."""
    next_offset: int | None
    """Offset of the next page when sorted by ``sortby``."""


def collection(cid: str) -> Collection:
    """The public collection ``cid`` (404 otherwise)."""
    c = COLLECTIONS.get(cid)
    if c is None:
        raise NotFound("collection not found")
    return c


# -- SQL clauses ---------------------------------------------------------------------------

def source(c: Collection, when: tuple | None, params: dict[str, Any]) -> tuple[str, str]:
    """FROM clause (alias ``t``) and its condition for the requested time (None: now)."""
    if when is None or not c.time:
        return f"{c.table} t", c.where
    start, end, instant = when
    if c.time == "lifespan":
        if instant and c.history_table:
            params["as_of"] = start
            cols = ", ".join(c.columns)
            span = ("status <> 'pending' AND valid_from <= %(as_of)s"
                    " AND (valid_to IS NULL OR valid_to > %(as_of)s)")
            return (f"(SELECT {cols} FROM {c.table} WHERE {span} UNION ALL "
                    f"SELECT {cols} FROM {c.history_table} WHERE {span}) t"), "true"
        conds = ["t.status <> 'pending'"]
        if end is not None:
            params["t_end"] = end
            conds.append("t.valid_from <= %(t_end)s")
        if start is not None:
            params["t_start"] = start
            conds.append("(t.valid_to IS NULL OR t.valid_to >= %(t_start)s)")
        return f"{c.table} t", " AND ".join(conds)
    col = f"t.{c.time}"
    conds = [c.where] if c.where != "true" else []
    if instant:
        params["t_at"] = start
        conds.append(f"{col} = %(t_at)s")
    else:
        if start is not None:
            params["t_start"] = start
            conds.append(f"{col} >= %(t_start)s")
        if end is not None:
            params["t_end"] = end
            conds.append(f"{col} <= %(t_end)s")
    return f"{c.table} t", " AND ".join(conds) or "true"


STORAGE_AREA = (66.0, 0.0, 72.0, 84.0)
"""Area of use of EPSG:32642 (lon/lat): UTM zone 42N."""


def bbox_condition(bbox: list[float], crs: OutputCrs,
                   params: dict[str, Any]) -> tuple[str, list[str]]:
    """Bbox condition: the envelope in its own CRS, reprojected by PostGIS as a polygon.

    A geographic box whose first longitude is east of its second crosses the antimeridian
    and is the union of two envelopes. Returns the condition and the envelopes' SQL.
    """
    # PostGIS keeps x = easting/longitude whatever the CRS's axis order
    v = [bbox[1], bbox[0], bbox[3], bbox[2]] if crs.flip else list(bbox)
    boxes = [v]
    if crs.digits == 7:
        if v[0] > v[2]:
            boxes = [[v[0], v[1], 180.0, v[3]], [-180.0, v[1], v[2], v[3]]]
        # a continent-wide box projected to UTM folds over itself: clip it to where the
        # storage CRS is defined (no stored geometry lies outside) before PostGIS projects it
        a = STORAGE_AREA
        boxes = [[max(b[0], a[0]), max(b[1], a[1]), min(b[2], a[2]), min(b[3], a[3])]
                 for b in boxes]
        boxes = [b for b in boxes if b[0] <= b[2] and b[1] <= b[3]]
        if not boxes:
            return "false", []
    parts, envs = [], []
    for i, b in enumerate(boxes):
        keys = [f"b{i}{k}" for k in ("x1", "y1", "x2", "y2")]
        params.update(zip(keys, b, strict=True))
        env = "ST_MakeEnvelope({}, {}, {}, {}, {})".format(
            *(f"%({k})s" for k in keys), int(crs.srid))
        if crs.srid != STORAGE_SRID:
            env = f"ST_Transform({env}, {STORAGE_SRID})"
        envs.append(env)
        parts.append(f"ST_Intersects(t.geom, {env})")
    return (parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"), envs


def conditions(c: Collection, q: ItemsQuery, params: dict[str, Any],
               split: bool = False) -> tuple[str, str, str]:
    """(FROM clause, cheap WHERE, exact WHERE) of an items request.

    With ``split`` and a bbox, the cheap part is the index test ``geom && box`` (plus the
    time condition) and the exact part holds ``ST_Intersects`` and the filters, so a page can
    sort the window's candidates by id and test exactly only as many as it returns
    (see ``read_items``); otherwise everything is in the exact part.
    """
    src, where = source(c, q.datetime, params)
    cheap = [where] if where != "true" else []
    conds: list[str] = []
    if q.bbox is not None:
        exact_box, boxes = bbox_condition(q.bbox, q.bbox_crs, params)
        conds.append(exact_box)
        if split and boxes:
            cheap.append("(" + " OR ".join(f"t.geom && {b}" for b in boxes) + ")")
    for i, (name, value) in enumerate(q.equals):
        f = c.field(name)
        assert f is not None
        params[f"p{i}"] = value
        conds.append(f"{f.sql} = %(p{i})s" + ("::timestamptz" if f.format == "date-time"
                                               else ""))
    if q.filter is not None:
        fsql, fparams = cql.compile_filter(c, q.filter, q.filter_crs)
        conds.append(fsql)
        params.update(fparams)
    if not (split and q.bbox is not None):
        conds = cheap + conds
        cheap = []
    return src, " AND ".join(cheap) or "true", " AND ".join(conds) or "true"


# -- queries -------------------------------------------------------------------------------

def _row(url: str, sql: str, params: dict[str, Any]) -> Any:
    try:
        with read_connect(url) as conn:
            return conn.exec_driver_sql(sql, params).first()
    except (DataError, ProgrammingError) as exc:
        LOGGER.info("OGC query rejected by the database: %s", exc.orig)
        raise InvalidInput("query could not be evaluated; check filter values and property"
                           " types") from None
    except DBAPIError as exc:
        LOGGER.error("OGC query failed: %s", exc.orig)
        raise QueryFailed("query failed; try again") from None


def count_items(url: str, c: Collection, q: ItemsQuery) -> int:
    """numberMatched of a request."""
    params: dict[str, Any] = {}
    src, _, where = conditions(c, q, params)
    row = _row(url, f"SELECT count(*) FROM {src} WHERE {where}", params)
    return int(row[0]) if row else 0


def read_items(url: str, c: Collection, q: ItemsQuery) -> Page:
    """One page of features as JSON text, built by PostGIS."""
    params: dict[str, Any] = {}
    src, cheap, exact = conditions(c, q, params, split=True)
    keyset = not q.sortby
    order = "t.id"
    if q.sortby:
        parts = []
        for name, desc in q.sortby:
            f = c.field(name)
            assert f is not None
            parts.append(f"{f.sql} {'DESC' if desc else 'ASC'} NULLS LAST")
        order = ", ".join(parts + ["t.id"])
    if q.cursor is not None and keyset:
        params["after"] = q.cursor
        cheap = f"{cheap} AND t.id > %(after)s"
    offset = 0 if keyset else q.offset
    params.update(lim=q.limit, lim1=q.limit + 1, off=offset)
    geom = "NULL::json" if q.skip_geometry else geometry_json(q.crs)
    props = properties_json(c, q.select or None)
    if cheap != "true" and q.bbox is not None:
        # The window's index candidates in page order, tested exactly (ST_Intersects,
        # filters) one by one until the page is full: a 3 km window over 900 parcels tests
        # ~101 instead of 900 (OFFSET 0 keeps PostgreSQL from merging the two levels).
        src = f"(SELECT t.* FROM {src} WHERE {cheap} ORDER BY {order} OFFSET 0) t"
    elif cheap != "true":
        exact = f"{cheap} AND {exact}"
    sql = f"""
SELECT coalesce(json_agg(json_build_object(
           'type', 'Feature', 'id', p._id, 'geometry', p._geom, 'properties', p._props)
         ORDER BY p._rn) FILTER (WHERE p._rn <= %(lim)s), '[]'::json)::text,
       count(*), max(p._id) FILTER (WHERE p._rn = %(lim)s)
  FROM (SELECT q.*, row_number() OVER () AS _rn
          FROM (SELECT t.id AS _id, {geom} AS _geom, {props} AS _props
                  FROM {src}
                 WHERE {exact}
                 ORDER BY {order}
                 LIMIT %(lim1)s OFFSET %(off)s) q) p"""
    row = _row(url, sql, params)
    fetched, last_id = int(row[1]), row[2]
    returned = min(fetched, q.limit)
    more = fetched > q.limit
    matched: int | None = None
    first_page = q.cursor is None and not offset
    if q.number_matched or c.cheap_count:
        matched = count_items(url, c, q)
    elif first_page and not more:
        matched = returned
    return Page(features=row[0], returned=returned, matched=matched,
                next_cursor=int(last_id) if keyset and more and last_id is not None else None,
                next_offset=offset + q.limit if not keyset and more else None)


def read_item(url: str, c: Collection, ident: str, crs: OutputCrs,
              when: tuple | None = None) -> tuple[str, str | None]:
    """(Feature JSON text, ETag) of one item by id or cadastral number.

    Without ``when`` only the current state is served (a retired parcel is 404); with an
    instant, the item as it was then (history included).
    """
    params: dict[str, Any] = {}
    src, where = source(c, when, params)
    if c.number_pattern and re.fullmatch(c.number_pattern, ident):
        params["number"] = ident
        cond = "t.cadastral_number = %(number)s"
        order = "t.valid_from DESC"
    elif re.fullmatch(r"[0-9]{1,18}", ident):
        params["id"] = int(ident)
        cond = "t.id = %(id)s"
        order = "t.id"
    else:
        raise NotFound("item not found")
    version = f"t.{c.version_column}" if c.version_column else "NULL"
    sql = f"""
SELECT json_build_object('type', 'Feature', 'id', t.id, 'geometry', {geometry_json(crs)},
                         'properties', {properties_json(c)})::text, t.id, {version}
  FROM {src} WHERE {where} AND {cond} ORDER BY {order} LIMIT 1"""
    row = _row(url, sql, params)
    if row is None:
        raise NotFound("item not found")
    etag = f'"{c.id}-{row[1]}-v{row[2]}"' if row[2] is not None else None
    return row[0], etag


def feature_collection(page: Page, links: list[dict[str, Any]], timestamp: str) -> str:
    """The FeatureCollection JSON text around a page's features (no re-parsing)."""
    meta: dict[str, Any] = {"numberReturned": page.returned}
    if page.matched is not None:
        meta["numberMatched"] = page.matched
    meta["timeStamp"] = timestamp
    meta["links"] = links
    tail = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
    return '{"type":"FeatureCollection","features":' + page.features + "," + tail[1:]


def page_links(base: str, cid: str, q: ItemsQuery, page: Page) -> list[dict[str, Any]]:
    """self/alternate/next/collection links of an items page (``base``: the OGC API root)."""
    from urllib.parse import urlencode

    uri = f"{base}/collections/{cid}/items"
    keep = [(k, v) for k, v in q.args if k not in ("f", "cursor", "offset")]
    here = keep + ([("cursor", q.args_dict().get("cursor", ""))] if q.cursor is not None
                   else []) + ([("offset", str(q.offset))] if q.offset else [])

    def href(fmt: str, extra: list[tuple[str, str]]) -> str:
        return f"{uri}?{urlencode([('f', fmt), *extra])}"

    types = {"json": "application/geo+json", "html": "text/html", "csv": "text/csv"}
    links = [{"rel": "self" if fmt == q.format else "alternate", "type": t,
              "title": f"This document as {fmt.upper() if fmt != 'json' else 'GeoJSON'}",
              "href": href(fmt, here)} for fmt, t in types.items()]
    nxt: list[tuple[str, str]] | None = None
    if page.next_cursor is not None:
        from .params import encode_cursor

        nxt = [*keep, ("cursor", encode_cursor(page.next_cursor))]
    elif page.next_offset is not None:
        nxt = [*keep, ("offset", str(page.next_offset))]
    if nxt is not None:
        links.append({"rel": "next", "type": types[q.format], "title": "Items (next)",
                      "href": href(q.format, nxt)})
    links.append({"rel": "collection", "type": "application/json",
                  "title": COLLECTIONS[cid].title, "href": f"{base}/collections/{cid}"})
    return links


def item_links(base: str, cid: str, ident: Any, fmt: str) -> list[dict[str, Any]]:
    """self/alternate/collection links of one item."""
    uri = f"{base}/collections/{cid}/items/{ident}"
    types = {"json": "application/geo+json", "html": "text/html"}
    links = [{"rel": "self" if f == fmt else "alternate", "type": t,
              "title": f"This document as {'GeoJSON' if f == 'json' else 'HTML'}",
              "href": f"{uri}?f={f}"} for f, t in types.items()]
    links.append({"rel": "collection", "type": "application/json",
                  "title": COLLECTIONS[cid].title, "href": f"{base}/collections/{cid}"})
    return links


def to_csv(features: list[dict[str, Any]]) -> str:
    """Features as CSV: id, the properties, the geometry as WKT."""
    import csv
    import io

    from shapely.geometry import shape

    out = io.StringIO()
    names: list[str] = []
    for f in features:
        names += [k for k in f.get("properties") or {} if k not in names and k != "id"]
    w = csv.writer(out)
    w.writerow(["id", *names, "wkt"])
    for f in features:
        props = f.get("properties") or {}
        geom = f.get("geometry")
        w.writerow([f.get("id"), *(props.get(k) for k in names),
                    shape(geom).wkt if geom else ""])
    return out.getvalue()
