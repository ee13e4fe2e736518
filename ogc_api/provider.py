"""Our PostGIS feature provider for pygeoapi: the whole FeatureCollection is built in SQL.

Compared with pygeoapi's stock PostgreSQL provider: GeoJSON and reprojection happen inside
PostGIS with integer SRIDs, pages follow a keyset ``cursor`` (no deep OFFSET), and
``numberMatched`` is computed only when it is cheap or asked for (``resulttype=hits`` or
``numberMatched=true``).

Write methods (OGC API Features Part 4) on parcels, buildings and incidents are in
``writes.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from typing import Any
from urllib.parse import urlencode

from pygeoapi.provider.base import (
    BaseProvider,
    ProviderGenericError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from sqlalchemy.exc import DataError, DBAPIError, ProgrammingError

from . import context
from .collections import COLLECTIONS, Collection
from .sql import (
    compile_filter,
    geometry_json,
    output_crs,
    parse_datetime,
    properties_json,
    read_connect,
)

LOGGER = logging.getLogger(__name__)


class FeaturesPlaceholder(list):
    """Stands for ``n`` features whose JSON text is spliced in by the web layer.

    pygeoapi only counts the features of a page before serializing it; parsing PostGIS's JSON
    into Python objects and dumping it again costs more than the query itself.
    """

    def __init__(self, n: int) -> None:
        """An empty list that reports length ``n``."""
        super().__init__()
        self.n = n

    def __len__(self) -> int:
        """The number of features it stands for."""
        return self.n


def encode_cursor(last_id: int) -> str:
    """Opaque keyset cursor for the page after ``last_id``."""
    return base64.urlsafe_b64encode(json.dumps([last_id]).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    """The last id encoded in a cursor (400 on anything else)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int):
            return value[0]
    except (ValueError, TypeError):
        pass
    raise ProviderInvalidQueryError(user_msg="bad cursor; follow the next link as given")


class CadastreProvider(BaseProvider):
    """pygeoapi feature provider over one public collection of ``collections.py``."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        """Set up from the pygeoapi provider definition (cheap: pygeoapi makes one per request)."""
        super().__init__(provider_def)
        self.collection: Collection = COLLECTIONS[provider_def["collection"]]
        self.id_field = "id"
        from .writes import WRITABLE

        self.editable = self.collection.id in WRITABLE
        if self.collection.time and self.collection.time != "lifespan":
            self.time_field = self.collection.time
        self._fields = {}
        for f in self.collection.fields:
            spec: dict[str, Any] = {"type": f.type}
            if f.format:
                spec["format"] = f.format
            self._fields[f.name] = spec

    # -- pygeoapi interface ----------------------------------------------------------------

    def get_fields(self) -> dict[str, Any]:
        """Public properties and their JSON types (the queryables)."""
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: list | None = None, datetime_: str | None = None,
              properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False,
              q: str | None = None, filterq: Any = None, crs_transform_spec: Any = None,
              **kwargs: Any) -> dict[str, Any]:
        """One page of features as a GeoJSON FeatureCollection (built by PostGIS)."""
        c = self.collection
        req = context.current()
        params: dict[str, Any] = {}
        source, where = self._source(datetime_, params)
        conds = [where] if where != "true" else []
        if bbox:
            conds.append(self._bbox(bbox, req, params))
        for i, (name, value) in enumerate(properties or []):
            conds.append(self._equals(name, value, f"p{i}", params))
        if filterq is not None:
            fsql, fparams = compile_filter(c, filterq)
            conds.append(f"({fsql})")
            params.update(fparams)

        base_where = " AND ".join(conds) or "true"
        want_count = (resulttype == "hits" or c.cheap_count
                      or (req.arg("numberMatched") or "").lower() in ("true", "1"))
        if resulttype == "hits":
            n = self._scalar(f"SELECT count(*) FROM {source} WHERE {base_where}", params)
            return {"type": "FeatureCollection", "features": [], "numberMatched": n,
                    "numberReturned": 0}

        keyset = not sortby
        order = "t.id"
        if sortby:
            parts = []
            for s in sortby:
                f = c.field(s["property"])
                if f is None:
                    raise ProviderInvalidQueryError(user_msg="bad sortby property")
                direction = "DESC" if s.get("order") == "-" else "ASC"
                parts.append(f"{f.sql} {direction} NULLS LAST")
            order = ", ".join(parts + ["t.id"])
        page_conds = [base_where]
        cursor = req.arg("cursor")
        if cursor and keyset:
            params["after"] = decode_cursor(cursor)
            page_conds.append("t.id > %(after)s")
        params.update(lim=int(limit), lim1=int(limit) + 1, off=int(offset or 0))
        crs = output_crs(crs_transform_spec.target_crs_uri if crs_transform_spec else
                         "http://www.opengis.net/def/crs/EPSG/0/32642")
        geom = "NULL::json" if skip_geometry else geometry_json(crs)
        props = properties_json(c, select_properties or None)
        sql = f"""
SELECT coalesce(json_agg(json_build_object(
           'type', 'Feature', 'id', p._id, 'geometry', p._geom, 'properties', p._props)
         ORDER BY p._rn) FILTER (WHERE p._rn <= %(lim)s), '[]'::json)::text,
       count(*), max(p._id) FILTER (WHERE p._rn = %(lim)s)
  FROM (SELECT q.*, row_number() OVER () AS _rn
          FROM (SELECT t.id AS _id, {geom} AS _geom, {props} AS _props
                  FROM {source}
                 WHERE {" AND ".join(page_conds)}
                 ORDER BY {order}
                 LIMIT %(lim1)s OFFSET %(off)s) q) p"""
        row = self._row(sql, params)
        fetched, last_id = int(row[1]), row[2]
        returned = min(fetched, int(limit))
        doc: dict[str, Any] = {"type": "FeatureCollection"}
        if req.raw_ok:
            doc["features"] = FeaturesPlaceholder(returned)
            req.raw_features = row[0]
        else:
            doc["features"] = json.loads(row[0])
        doc["numberReturned"] = returned
        first_page = not cursor and not offset
        if want_count:
            doc["numberMatched"] = self._scalar(
                f"SELECT count(*) FROM {source} WHERE {base_where}", params)
        elif first_page and fetched <= int(limit):
            doc["numberMatched"] = returned
        links: list[dict[str, Any]] = []
        if keyset and fetched > int(limit) and last_id is not None and req.url:
            args = [(k, v) for k, v in req.args if k not in ("cursor", "offset")]
            args.append(("cursor", encode_cursor(int(last_id))))
            links.append({"rel": "next", "type": "application/geo+json",
                          "title": "Items (next)", "href": f"{req.url}?{urlencode(args)}"})
        if keyset and not links and returned == int(limit):
            # pygeoapi would add an offset-based next link to a full last page
            req.drop_next = True
        doc["links"] = links
        return doc

    def get(self, identifier: str, crs_transform_spec: Any = None, **kwargs: Any) -> dict:
        """One feature by id or (parcels, buildings) by cadastral number."""
        c = self.collection
        ident = str(identifier)
        params: dict[str, Any] = {}
        if c.number_pattern and re.fullmatch(c.number_pattern, ident):
            params["number"] = ident
            cond = "t.cadastral_number = %(number)s AND t.status <> 'pending'"
            order = "(t.status = 'active') DESC, t.valid_from DESC"
        elif re.fullmatch(r"[0-9]{1,18}", ident):
            params["id"] = int(ident)
            cond = "t.id = %(id)s"
            if c.time == "lifespan":
                cond += " AND t.status <> 'pending'"
            order = "t.id"
        else:
            raise ProviderItemNotFoundError(user_msg="item not found")
        crs = output_crs(crs_transform_spec.target_crs_uri if crs_transform_spec else
                         "http://www.opengis.net/def/crs/EPSG/0/32642")
        version = f"t.{c.version_column}" if c.version_column else "NULL"
        sql = f"""
SELECT json_build_object('type', 'Feature', 'id', t.id, 'geometry', {geometry_json(crs)},
                         'properties', {properties_json(c)})::text, {version}
  FROM {c.table} t WHERE {cond} ORDER BY {order} LIMIT 1"""
        row = self._row(sql, params)
        if row is None:
            raise ProviderItemNotFoundError(user_msg="item not found")
        doc = json.loads(row[0])
        if row[1] is not None:
            etag = f'"{c.id}-{doc["id"]}-v{row[1]}"'
        else:
            etag = '"' + hashlib.blake2b(row[0].encode(), digest_size=12).hexdigest() + '"'
        context.current().etag = etag
        return doc

    # -- OGC API Features Part 4 (parcels, buildings, incidents; see writes.py) -----------

    def create(self, item: dict) -> Any:
        """Create a feature; returns its id."""
        from .writes import Writer

        return Writer(self.collection.id, self.data).create(item)

    def update(self, identifier: Any, item: dict) -> bool:
        """Replace (PUT) or update (PATCH) a feature under the If-Match precondition."""
        from .writes import Writer

        return Writer(self.collection.id, self.data).update(identifier, item)

    def delete(self, identifier: Any) -> bool:
        """Retire a parcel or building (its history stays), delete an incident."""
        from .writes import Writer

        return Writer(self.collection.id, self.data).delete(identifier)

    # -- helpers ---------------------------------------------------------------------------

    def _source(self, datetime_: str | None, params: dict[str, Any]) -> tuple[str, str]:
        """FROM clause (alias ``t``) and its constant condition for the requested time."""
        c = self.collection
        if not datetime_ or not c.time:
            return f"{c.table} t", c.where
        start, end, instant = parse_datetime(datetime_)
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

    def _bbox(self, bbox: list, req: context.OgcRequest, params: dict[str, Any]) -> str:
        """Bbox condition: the envelope in its own CRS, reprojected by PostGIS.

        pygeoapi reprojects only two corners of the bbox; reprojecting the envelope polygon
        in SQL (as TiPG does) keeps the features along its edges.
        """
        raw = req.arg("bbox")
        crs = output_crs(req.arg("bbox-crs")) if raw else None
        if raw and crs is not None:
            v = [float(x) for x in raw.split(",")]
            if len(v) == 6:
                v = [v[0], v[1], v[3], v[4]]
            if crs.flip:
                v = [v[1], v[0], v[3], v[2]]
            env = f"ST_MakeEnvelope(%(bx1)s, %(by1)s, %(bx2)s, %(by2)s, {int(crs.srid)})"
            if crs.srid != 32642:
                env = f"ST_Transform({env}, 32642)"
        else:
            v = list(bbox) if len(bbox) == 4 else [bbox[0], bbox[1], bbox[3], bbox[4]]
            env = "ST_MakeEnvelope(%(bx1)s, %(by1)s, %(bx2)s, %(by2)s, 32642)"
        params.update(bx1=v[0], by1=v[1], bx2=v[2], by2=v[3])
        return f"ST_Intersects(t.geom, {env})"

    def _equals(self, name: str, value: str, key: str, params: dict[str, Any]) -> str:
        """``property=value`` query parameter as a bound equality."""
        f = self.collection.field(name)
        if f is None:
            raise ProviderInvalidQueryError(user_msg=f"unknown property {name[:40]}")
        try:
            if f.type == "integer":
                params[key] = int(value)
            elif f.type == "number":
                params[key] = float(value)
            elif f.type == "boolean":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                params[key] = value.lower() in ("true", "1")
            else:
                params[key] = value
        except ValueError:
            raise ProviderInvalidQueryError(user_msg=f"bad value for {name}") from None
        if f.format == "date-time":
            return f"{f.sql} = %({key})s::timestamptz"
        return f"{f.sql} = %({key})s"

    def _row(self, sql: str, params: dict[str, Any]) -> Any:
        try:
            with read_connect(self.data) as conn:
                return conn.exec_driver_sql(sql, params).first()
        except ProviderGenericError:
            raise
        except (DataError, ProgrammingError) as exc:
            LOGGER.info("OGC query rejected by the database: %s", exc.orig)
            raise ProviderInvalidQueryError(user_msg="query could not be evaluated; check "
                                                     "filter values and property types") from None
        except DBAPIError as exc:
            LOGGER.error("OGC query failed: %s", exc.orig)
            raise ProviderQueryError(user_msg="query failed") from None

    def _scalar(self, sql: str, params: dict[str, Any]) -> int:
        row = self._row(sql, params)
        return int(row[0]) if row else 0

    def __repr__(self) -> str:
        return f"<CadastreProvider {self.collection.id}>"
