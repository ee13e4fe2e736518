"""OGC API Features Part 4 writes (create, replace, update, delete) for our provider.

Only ``parcels``, ``buildings`` and ``incidents`` are writable. ``web/ogc.py`` has already
checked the caller's role (401/403) and passes everything else in a :class:`WriteRequest`
(no request context is read here); here we check a registrar's districts, honour
``Content-Crs`` (reprojected in PostGIS to EPSG:32642, polygons promoted to MultiPolygon),
make ``If-Match`` atomic with the write (``UPDATE … WHERE version = :v`` — of two clients
holding the same ETag exactly one succeeds, the other gets 412 and nothing changes), record
writes without ``If-Match`` as unconditional (or refuse them with 428 when the settings say
so), and turn every database rule violation into a named domain error (4xx) carrying the
rule's message. Bodies are bounded (size → 413, nesting depth → 400).

Every SQL statement binds its values; column names come from the constant lists below.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cadastre_gis import registry
from cadastre_gis.db import set_actor
from cadastre_gis.errors import (
    InvalidGeometry,
    InvalidInput,
    NotAuthenticated,
    NotAuthorized,
    NotFound,
    PreconditionRequired,
    RetiredParcel,
    StaleVersion,
    TooLarge,
    from_db_error,
)
from cadastre_gis.policy import may_edit_district
from cadastre_gis.schema import SRID

from .cql import check_geometry
from .params import parse_crs_header
from .sql import engine

# collection -> (table, writable properties, geometry type, has registry lifespan)
WRITABLE: dict[str, tuple[str, tuple[str, ...], str, bool]] = {
    "parcels": ("parcel", ("cadastral_number", "address", "land_category", "permitted_use",
                           "declared_area_m2", "cadastral_value"), "MultiPolygon", True),
    "buildings": ("building", ("cadastral_number", "parcel_id", "address", "building_use",
                               "floors", "year_built", "floor_area_m2", "cadastral_value"),
                  "MultiPolygon", True),
    "incidents": ("incident", ("category", "status", "priority", "title", "description",
                               "address", "deadline"), "Point", False),
}
READ_ONLY = {"id", "district_id", "area_m2", "footprint_m2", "status", "version", "valid_from",
             "valid_to", "reported_at", "resolved_at", "closed_at", "overdue", "updated_at",
             "updated_by", "transaction_id"}
"""Properties a client reads and may send back (QGIS sends every field): ignored on write."""


MAX_BODY = 5 * 1024 * 1024
"""Largest Part 4 body (bytes): a parcel with tens of thousands of vertices fits."""
MAX_TEXT = 2000
"""Longest text property accepted on write."""
MAX_DEPTH = 32
"""Deepest JSON nesting of a Part 4 body (a MultiPolygon needs 6)."""


@dataclass
class WriteRequest:
    """Everything a Part 4 write needs from the HTTP request."""

    collection: str
    method: str
    """POST (create), PUT (replace), PATCH (update) or DELETE."""
    account: dict[str, Any] | None
    actor: str | None
    body: bytes = b""
    if_match: str | None = None
    content_crs: str | None = None
    require_if_match: bool = False


def parse_if_match(value: str | None, collection: str, ident: int) -> int | None:
    """The version named by an ``If-Match`` ETag of this item (None: no precondition)."""
    if value is None or value.strip() == "":
        return None
    if value.strip() == "*":
        return None
    for tag in value.split(","):
        m = re.fullmatch(r'\s*(?:W/)?"([a-z]+)-(\d+)-v(\d+)"\s*', tag)
        if m and m.group(1) == collection and int(m.group(2)) == ident:
            return int(m.group(3))
    return -1  # an ETag of something else (or of an older representation): never matches


def _write_engine(url: str) -> Any:
    """The OGC API's pooled engine, in transactions (its reads run in autocommit)."""
    return engine(url).execution_options(isolation_level="READ COMMITTED")


def _depth(node: Any, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` (iteratively: no recursion to exhaust)."""
    stack = [(node, 1)]
    while stack:
        value, d = stack.pop()
        if d > limit:
            raise InvalidInput(f"the body is nested deeper than {limit} levels")
        if isinstance(value, dict):
            stack.extend((v, d + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, d + 1) for v in value)


def parse_body(body: bytes) -> dict[str, Any]:
    """A Part 4 body as a JSON object: bounded in size and depth, UTF-8, no NUL, finite."""
    if len(body) > MAX_BODY:
        raise TooLarge(f"the body is larger than {MAX_BODY // (1024 * 1024)} MB")
    try:
        textual = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not valid UTF-8") from None
    if "\x00" in textual or "\\u0000" in textual:
        raise InvalidInput("the body contains a NUL character")
    # a cheap bound before parsing: deeper bracket runs cannot be a feature
    if textual.count("[") + textual.count("{") > 0 and (
            max(len(r) for r in re.findall(r"[\[{\s]+", textual) or [""]) > 4 * MAX_DEPTH):
        raise InvalidInput(f"the body is nested deeper than {MAX_DEPTH} levels")
    try:
        item = json.loads(textual, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise InvalidInput("the body is not valid JSON") from None
    _depth(item, MAX_DEPTH)
    if not isinstance(item, dict):
        raise InvalidInput("a GeoJSON Feature is required")
    return item


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


class Writer:
    """Part 4 writes on one collection, in one transaction per request."""

    def __init__(self, url: str, req: WriteRequest) -> None:
        """Bind to a writable collection, the database URL and the request."""
        if req.collection not in WRITABLE:
            raise NotAuthorized(f"{req.collection[:40]} is read-only")
        self.req = req
        self.cid = req.collection
        self.table, self.fields, self.geom_type, self.registry = WRITABLE[req.collection]
        self.url = url
        self.etag: str | None = None

    # -- public --------------------------------------------------------------------------
    def create(self) -> int:
        """Insert a feature; returns its id."""
        item = parse_body(self.req.body)
        return self._guard(lambda c: self._create(c, item))

    def update(self, identifier: str) -> int:
        """Replace (PUT) or update (PATCH) a feature under the If-Match precondition."""
        item = parse_body(self.req.body)
        return self._guard(lambda c: self._update(c, self._ident(c, identifier), item))

    def delete(self, identifier: str) -> int:
        """Retire a parcel or building (history kept), delete an incident."""
        return self._guard(lambda c: self._delete(c, self._ident(c, identifier)))

    # -- internals -----------------------------------------------------------------------
    def _guard(self, fn: Any) -> Any:
        account = self.req.account
        if account is None:
            raise NotAuthenticated("authentication required")
        try:
            with _write_engine(self.url).begin() as c:
                set_actor(c, self.req.actor or f"{account['role']}:{account['username']}")
                if self.registry:
                    registry.act_for(c, account)  # the database holds the account's districts
                return fn(c)
        except DBAPIError as exc:
            raise from_db_error(exc) from None

    def _ident(self, c: Any, identifier: str) -> int:
        s = str(identifier)
        if not re.fullmatch(r"[0-9]{1,18}", s):
            # by cadastral number, as the GET endpoint allows
            row = c.execute(text(f'SELECT id FROM "{self.table}" WHERE cadastral_number = :n'
                                 " AND status = 'active'"), {"n": s}).scalar() \
                if self.registry and "\x00" not in s else None
            if row is None:
                self._gone(c, s)
            return int(row)
        return int(s)

    def _gone(self, c: Any, ref: int | str) -> None:
        """Raise 409 naming the successors for a retired parcel/building, else 404."""
        retired = registry.retired_message(c, self.table, ref) if self.registry else None
        raise RetiredParcel(retired) if retired else NotFound("item not found")

    def _geometry(self, c: Any, geom: Any) -> str:
        """Input GeoJSON geometry → EWKB hex in EPSG:32642 of the collection's type."""
        if not isinstance(geom, dict) or "type" not in geom:
            raise InvalidGeometry("a GeoJSON geometry is required")
        crs = parse_crs_header(self.req.content_crs)
        srid, flip = crs.srid, crs.flip
        check_geometry(geom, crs, "")
        expr = "ST_SetSRID(ST_GeomFromGeoJSON(:g), :s)"
        if flip:
            expr = f"ST_FlipCoordinates({expr})"
        expr = f"ST_Transform({expr}, {SRID})"
        try:
            with c.begin_nested():
                row = c.execute(text(f"SELECT GeometryType(g), encode(ST_AsEWKB("
                                     f"{'ST_Multi(g)' if self.geom_type == 'MultiPolygon' else 'g'}"
                                     f"), 'hex') FROM (SELECT {expr} AS g) s"),
                                {"g": json.dumps(geom), "s": srid}).one()
        except DBAPIError as exc:
            raise InvalidGeometry("the geometry could not be read as GeoJSON") from exc
        kind = row[0]
        if self.geom_type == "MultiPolygon" and kind not in ("POLYGON", "MULTIPOLYGON"):
            raise InvalidGeometry(f"{self.cid} need a Polygon or MultiPolygon, got {kind.title()}")
        if self.geom_type == "Point" and kind != "POINT":
            raise InvalidGeometry(f"{self.cid} need a Point, got {kind.title()}")
        return row[1]

    def _values(self, props: Any) -> dict[str, Any]:
        if props is None:
            return {}
        if not isinstance(props, dict):
            raise InvalidInput("properties must be an object")
        unknown = [k for k in props if k not in self.fields and k not in READ_ONLY]
        if unknown:
            raise InvalidInput(f"unknown or private properties: {', '.join(sorted(unknown))[:200]}")
        values = {k: v for k, v in props.items() if k in self.fields}
        for k, v in values.items():
            if isinstance(v, str) and len(v) > MAX_TEXT:
                raise InvalidInput(f"{k} is longer than {MAX_TEXT} characters")
            if not (v is None or isinstance(v, str | int | float | bool)):
                raise InvalidInput(f"{k} must be a plain value")
        return values

    def _check_district(self, c: Any, district_ids: list[int | None]) -> None:
        account = self.req.account or {}
        if self.cid == "incidents" or account.get("role") == "admin":
            return
        for d in district_ids:
            if not may_edit_district(account.get("role", ""), list(account.get("district_ids")
                                                                    or []), d):
                name = c.execute(text("SELECT name FROM district WHERE id = :d"), {"d": d}).scalar()
                raise NotAuthorized(f"{self.cid[:-1]} is in district {name or d}; you may edit"
                                    " only your districts")

    def _numbers_districts(self, c: Any, number: Any) -> list[int | None]:
        """The district a well-formed number names ([] for a malformed one: the database's
        format rule answers that with its own message)."""
        if not isinstance(number, str) or not re.fullmatch(r"[0-9]{2}(:[0-9]{2}){4}:[0-9]{4}"
                                                            r"(:[0-9]{4})?", number):
            return []
        return [c.execute(text("SELECT id FROM district WHERE code = split_part(:n, ':', 2)"),
                         {"n": number}).scalar()]

    def _note(self, c: Any, ident: int, method: str, expected: int | None) -> int | None:
        """Record the write: a registry transaction (parcels, buildings) or incident event."""
        unconditional = expected is None
        details = {"collection": self.cid, "id": ident, "method": method,
                   "if_match": expected, "unconditional": unconditional,
                   "via": "OGC API Features Part 4"}
        note = f"OGC API Part 4 {method}" + (" without If-Match (unconditional)"
                                              if unconditional and method != "POST" else "")
        if self.registry:
            return c.execute(text(
                "INSERT INTO registry_transaction (kind, actor, note, details)"
                " VALUES ('edit', cadastre_actor(), :n, CAST(:d AS jsonb)) RETURNING id"),
                {"n": note, "d": json.dumps(details)}).scalar_one()
        if method != "DELETE":
            c.execute(text("INSERT INTO incident_event (incident_id, kind, note, data)"
                           " VALUES (:i, 'edit', :n, CAST(:d AS jsonb))"),
                      {"i": ident, "n": note, "d": json.dumps(details)})
        return None

    def _create(self, c: Any, item: dict[str, Any]) -> int:
        values = self._values(item.get("properties"))
        values["geom"] = self._geometry(c, item.get("geometry"))
        if self.registry:
            self._check_district(c, self._numbers_districts(c, values.get("cadastral_number")))
        if self.cid == "incidents":
            values.setdefault("status", "new")
            values["source"] = "dashboard"
            # the district the point lies in (as the demo and Open311 intake record it)
            values["district_id"] = c.execute(text(
                "SELECT id FROM district WHERE ST_Intersects(geom, CAST(:g AS geometry))"
                " ORDER BY id LIMIT 1"), {"g": values["geom"]}).scalar()
        cols = list(values)
        exprs = [("CAST(:geom AS geometry)" if k == "geom" else f":{k}") for k in cols]
        ident = c.execute(text(
            f'INSERT INTO "{self.table}" ({", ".join(cols)}) VALUES ({", ".join(exprs)})'
            " RETURNING id"), values).scalar_one()
        tx = self._note(c, ident, "POST", None)
        if tx is not None:
            c.execute(text(f'UPDATE "{self.table}" SET transaction_id = :t WHERE id = :i'),
                      {"t": tx, "i": ident})
        self._set_etag(c, ident)
        return int(ident)

    def _update(self, c: Any, ident: int, item: dict[str, Any]) -> int:
        req = self.req
        expected = parse_if_match(req.if_match, self.cid, ident)
        if expected is None and req.if_match is None and req.require_if_match:
            raise PreconditionRequired("If-Match is required: GET the item and send its ETag")
        method = (req.method or "PUT").upper()
        values = self._values(item.get("properties"))
        if item.get("geometry") is not None:
            values["geom"] = self._geometry(c, item["geometry"])
        elif method == "PUT":
            raise InvalidGeometry("PUT replaces the feature: a geometry is required")
        active = " AND status = 'active'" if self.registry else ""
        current = c.execute(text(f'SELECT version{", district_id" if self.registry else ""}'
                                 f' FROM "{self.table}" WHERE id = :i{active}'),
                            {"i": ident}).first()
        if current is None:
            self._gone(c, ident)
        if self.registry:
            self._check_district(c, [current[1], *self._numbers_districts(
                c, values.get("cadastral_number"))])
        tx = self._note(c, ident, method, expected)
        sets = [("geom = CAST(:geom AS geometry)" if k == "geom" else f"{k} = :{k}")
                for k in values]
        if self.registry:
            sets.append("transaction_id = :tx")
        else:
            sets += ["version = version + 1", "updated_at = cadastre_now()"]
        params = {**values, "i": ident, "v": expected, "tx": tx}
        # The precondition and the write are one statement: a concurrent writer holding the
        # same ETag waits for our row lock, then finds the version changed (0 rows) → 412.
        n = c.execute(text(f'UPDATE "{self.table}" SET {", ".join(sets)} WHERE id = :i{active}'
                           " AND (CAST(:v AS integer) IS NULL OR version = :v)"),
                      params).rowcount
        if n == 0:
            now = c.execute(text(f'SELECT version FROM "{self.table}" WHERE id = :i'),
                            {"i": ident}).scalar()
            raise StaleVersion(f"{self.cid[:-1]} {ident} changed (now version {now}); GET it"
                               " again and retry with the new ETag")
        self._set_etag(c, ident)
        return ident

    def _delete(self, c: Any, ident: int) -> int:
        req = self.req
        expected = parse_if_match(req.if_match, self.cid, ident)
        if expected is None and req.if_match is None and req.require_if_match:
            raise PreconditionRequired("If-Match is required: GET the item and send its ETag")
        if self.registry:
            row = c.execute(text(f'SELECT district_id FROM "{self.table}" WHERE id = :i'
                                 " AND status = 'active'"), {"i": ident}).first()
            if row is None:
                self._gone(c, ident)
            self._check_district(c, [row[0]])
            tx = self._note(c, ident, "DELETE", expected)
            n = c.execute(text(
                f'UPDATE "{self.table}" SET status = \'retired\', valid_to = greatest(cadastre_now(), valid_from),'
                " transaction_id = :tx WHERE id = :i AND status = 'active'"
                " AND (CAST(:v AS integer) IS NULL OR version = :v)"),
                {"i": ident, "v": expected, "tx": tx}).rowcount
        else:
            n = c.execute(text(f'DELETE FROM "{self.table}" WHERE id = :i'
                               " AND (CAST(:v AS integer) IS NULL OR version = :v)"),
                          {"i": ident, "v": expected}).rowcount
        if n == 0:
            raise StaleVersion(f"{self.cid[:-1]} {ident} changed; GET it again and retry")
        return ident

    def _set_etag(self, c: Any, ident: int) -> None:
        v = c.execute(text(f'SELECT version FROM "{self.table}" WHERE id = :i'),
                      {"i": ident}).scalar()
        if v is not None:
            self.etag = f'"{self.cid}-{ident}-v{v}"'
