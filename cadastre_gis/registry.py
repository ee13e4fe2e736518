"""Registry operations: split, merge, boundary correction, transfer, encumbrances and arrests.

One service for every path (OGC API Processes, staff web pages, the command line). Each
operation is atomic (a savepoint inside the caller's transaction), is recorded as one
``registry_transaction`` with its ``source_document`` and actor, and leaves every earlier
state in the history tables. Geometry work happens in PostGIS (``ST_Split``,
``ST_Intersection``, ``ST_Union``) in the storage CRS, and the database's own triggers
(overlaps, shares, formats, history, audit) check the result, so a rule broken here gets the
same message as in QGIS.

Every operation takes ``dry_run``: the whole operation runs, the result is collected (with
GeoJSON of the proposed parcels) and the savepoint is rolled back — that is the staff
pages' map preview, checked by the same rules as the real thing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import clock
from .cadastral import PARCEL_NUMBER
from .errors import (
    ArrestActive,
    CadastreError,
    Conflict,
    InvalidCadastralNumber,
    InvalidGeometry,
    InvalidInput,
    NotFound,
    RetiredParcel,
    RuleViolation,
    StaleVersion,
    from_db_error,
)
from .pinfl import birth_date, check_pinfl
from .schema import SRID

ENCUMBRANCES = ("mortgage", "lease", "servitude", "arrest", "permanent_use")
DOCUMENT_KINDS = ("deed", "sale_contract", "gift_contract", "inheritance", "court_decision",
                  "hokim_decision", "survey", "mortgage_agreement", "lease_agreement",
                  "servitude_agreement", "arrest_order", "release_order", "other")
SPLIT_AREA_TOLERANCE_M2 = 1.0
"""Largest difference between a parent's area and the sum of its children's (m²)."""
SPLIT_AREA_TOLERANCE_REL = 0.001
"""... or this fraction of the parent's area, whichever is larger."""
MERGE_GAP_M = 1.5
"""Parcels closer than this (fences between neighbours) count as adjacent for a merge."""
MIN_PART_M2 = 1.0
"""Smallest child parcel a split may create."""


@dataclass
class Result:
    """What an operation did (or, in a dry run, would do)."""

    kind: str
    transaction_id: int | None
    dry_run: bool
    parcels: list[dict[str, Any]] = field(default_factory=list)
    retired: list[dict[str, Any]] = field(default_factory=list)
    rights: list[dict[str, Any]] = field(default_factory=list)
    ended_rights: list[int] = field(default_factory=list)
    message: str = ""
    parties: list[dict[str, Any]] = field(default_factory=list)
    """The people and organizations the operation names (a transfer's recipients and
    seller), as found in the registry: shown in the preview before anything is confirmed."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"kind": self.kind, "transaction_id": self.transaction_id, "dry_run": self.dry_run,
                "message": self.message, "parcels": self.parcels, "retired": self.retired,
                "rights": self.rights, "ended_rights": self.ended_rights,
                "parties": self.parties}

    def geojson(self) -> dict[str, Any]:
        """A FeatureCollection (CRS84) of the resulting and retired parcels, for a map preview."""
        feats = []
        for role, items in (("result", self.parcels), ("retired", self.retired)):
            for p in items:
                props = {k: v for k, v in p.items() if k != "geometry"}
                props["role"] = role
                feats.append({"type": "Feature", "id": p.get("id"), "properties": props,
                              "geometry": p.get("geometry")})
        return {"type": "FeatureCollection", "features": feats}


# ---------------------------------------------------------------------------------------
# Retired units
# ---------------------------------------------------------------------------------------
def retired_message(conn: Connection, table: str, ref: int | str) -> str | None:
    """When ``ref`` (id or number) names a retired parcel/building (and no active one), say so.

    The message names the active successors (through splits and merges), e.g.
    ``parcel 10:09:03:01:01:0045 is retired (successors: …:0046, …:0047)``; None otherwise.
    """
    if table not in ("parcel", "building"):
        return None
    by = "id" if isinstance(ref, int) or str(ref).isdigit() else "cadastral_number"
    value: int | str = int(ref) if by == "id" else str(ref)
    row = conn.execute(text(
        f"SELECT id, cadastral_number, status FROM {table} WHERE {by} = :v"
        " ORDER BY (status = 'active') DESC, valid_from DESC LIMIT 1"), {"v": value}).first()
    if row is None or row[2] != "retired":
        return None
    if table == "parcel":
        succ = conn.execute(text("SELECT parcel_successors(:i)"), {"i": row[0]}).scalar()
    else:
        succ = None
    return (f"{table} {row[1]} is retired" + (f" (successors: {succ})" if succ else "")
            + "; it cannot be changed")


# ---------------------------------------------------------------------------------------
# Input helpers
# ---------------------------------------------------------------------------------------
def check_number(number: str) -> str:
    """Return a stripped parcel cadastral number or raise InvalidCadastralNumber."""
    n = (number or "").strip()
    if not PARCEL_NUMBER.match(n):
        raise InvalidCadastralNumber(
            f"parcel cadastral number {number!r} is not in the form 10:09:03:01:01:0045")
    return n


def geometry_sql(geom: Any, srid: int | None = None) -> tuple[str, dict[str, Any]]:
    """SQL expression (and binds) turning GeoJSON/WKT input into a geometry in EPSG:32642.

    ``geom`` is a GeoJSON geometry (dict or string) or WKT; ``srid`` is its CRS (default:
    4326 for GeoJSON — lon/lat, CRS84 axis order — and 32642 for WKT). Reprojection happens
    in PostGIS.
    """
    if geom is None or geom == "":
        raise InvalidGeometry("a geometry is required")
    if hasattr(geom, "wkt"):  # Shapely, in the storage CRS unless told otherwise
        return (f"ST_Transform(ST_SetSRID(ST_GeomFromText(:g), :s), {SRID})",
                {"g": geom.wkt, "s": srid or SRID})
    if isinstance(geom, dict):
        if "geometry" in geom and geom.get("type") == "Feature":
            geom = geom["geometry"]
        return (f"ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(:g), :s), {SRID})",
                {"g": json.dumps(geom), "s": srid or 4326})
    s = str(geom).strip()
    if s.startswith("{"):
        return geometry_sql(json.loads(s), srid)
    return (f"ST_Transform(ST_SetSRID(ST_GeomFromText(:g), :s), {SRID})", {"g": s, "s": srid or SRID})


def _geom_value(conn: Connection, geom: Any, srid: int | None) -> str:
    """Parse input geometry in the database; returns EWKB hex in EPSG:32642."""
    expr, binds = geometry_sql(geom, srid)
    try:
        with conn.begin_nested():
            return conn.execute(text(f"SELECT encode(ST_AsEWKB({expr}), 'hex')"), binds).scalar_one()
    except Exception as exc:  # noqa: BLE001 - any parse error is the caller's bad input
        if isinstance(exc, CadastreError):
            raise
        raise InvalidGeometry("the geometry could not be read (GeoJSON or WKT expected)") from exc


def _document(conn: Connection, document: dict[str, Any] | None, default_kind: str) -> int:
    """Insert the source document of an operation and return its id."""
    if not document or not str(document.get("number") or "").strip():
        raise InvalidInput("a source document with its number is required")
    kind = document.get("kind") or default_kind
    if kind not in DOCUMENT_KINDS:
        raise InvalidInput(f"document kind must be one of {', '.join(DOCUMENT_KINDS)}")
    issued = document.get("issued_on") or None
    if isinstance(issued, str):
        try:
            issued = date.fromisoformat(issued)
        except ValueError as exc:
            raise InvalidInput("document date must be YYYY-MM-DD") from exc
    return conn.execute(text(
        "INSERT INTO source_document (kind, number, issued_on, issuer, title)"
        " VALUES (:k, :n, :d, :i, :t) RETURNING id"),
        {"k": kind, "n": str(document["number"]).strip()[:200], "d": issued,
         "i": (document.get("issuer") or None), "t": (document.get("title") or None)}).scalar_one()


def _transaction(conn: Connection, kind: str, doc_id: int, actor: str | None,
                 details: dict[str, Any], note: str | None = None) -> int:
    return conn.execute(text(
        "INSERT INTO registry_transaction (kind, source_document_id, actor, note, details)"
        " VALUES (:k, :d, coalesce(:a, cadastre_actor()), :n, CAST(:j AS jsonb)) RETURNING id"),
        {"k": kind, "d": doc_id, "a": actor, "n": note,
         "j": json.dumps(details, default=str)}).scalar_one()


def districts_setting(account: dict[str, Any] | None) -> str:
    """The ``cadastre.districts`` value for an acting account: ``all``, ``none`` or ``3,9``."""
    if account is None:
        return ""
    if account.get("role") == "admin":
        return "all"
    if account.get("role") != "registrar":
        return "none"
    ids = sorted({int(d) for d in account.get("district_ids") or []})
    return ",".join(map(str, ids)) or "none"


def act_for(conn: Connection, account: dict[str, Any] | None) -> None:
    """Hold this transaction's registry writes to the account's districts.

    The database's district trigger (the same one that holds QGIS logins to theirs) reads
    ``cadastre.districts``; every write path of the application calls this first.
    """
    if account is None:
        return
    conn.execute(text("SELECT set_config('cadastre.districts', :v, true)"),
                 {"v": districts_setting(account)})


def check_scope(conn: Connection, label: str, district_id: int | None) -> None:
    """Raise NotAuthorized (the database's own message) unless the writer may edit the district."""
    try:
        with conn.begin_nested():
            conn.execute(text("SELECT cadastre_check_scope(:l, :d, :d, cadastre_allowed_districts())"),
                         {"l": label, "d": district_id})
    except Exception as exc:
        if hasattr(getattr(exc, "orig", None), "pgcode"):
            raise from_db_error(exc) from exc
        raise


def _lock_parcels(conn: Connection, numbers: list[str], account: dict[str, Any] | None
                  ) -> list[dict[str, Any]]:
    """Lock the active parcels with these numbers (in a stable order), checking the district."""
    act_for(conn, account)
    rows = conn.execute(text(
        "SELECT id, cadastral_number, district_id, version, land_category, permitted_use,"
        "       address, declared_area_m2, cadastral_value, ST_Area(geom) AS area"
        "  FROM parcel WHERE cadastral_number = ANY(:n) AND status = 'active'"
        " ORDER BY id FOR UPDATE"), {"n": numbers}).mappings().all()
    found = {r["cadastral_number"] for r in rows}
    missing = [n for n in numbers if n not in found]
    if missing:
        retired = retired_message(conn, "parcel", missing[0])
        if retired:
            raise RetiredParcel(retired)
        raise NotFound(f"no active parcel {', '.join(missing)}")
    for r in rows:
        check_scope(conn, f"parcel {r['cadastral_number']}", r["district_id"])
    by_number = {r["cadastral_number"]: dict(r) for r in rows}
    return [by_number[n] for n in numbers]


def check_no_arrest(conn: Connection, parcel_ids: list[int], what: str) -> None:
    """Raise ArrestActive when one of the parcels (or its buildings) is under an active arrest."""
    # Two indexed lookups (parcel rights, rights of the parcels' buildings) rather than one
    # OR, which would scan every right.
    row = conn.execute(text(
        "SELECT obj, registration_number, holder, starts_on FROM ("
        " SELECT r.id, p.cadastral_number AS obj, r.registration_number, r.holder, r.starts_on"
        "   FROM \"right\" r JOIN parcel p ON p.id = r.parcel_id"
        "  WHERE r.parcel_id = ANY(:ids) AND r.kind = 'arrest' AND r.status = 'active'"
        "    AND (r.ends_on IS NULL OR r.ends_on >= cadastre_today())"
        " UNION ALL"
        " SELECT r.id, b.cadastral_number, r.registration_number, r.holder, r.starts_on"
        "   FROM building b JOIN \"right\" r ON r.building_id = b.id"
        "  WHERE b.parcel_id = ANY(:ids) AND b.status = 'active' AND r.kind = 'arrest'"
        "    AND r.status = 'active' AND (r.ends_on IS NULL OR r.ends_on >= cadastre_today())) a"
        " ORDER BY id LIMIT 1"), {"ids": parcel_ids}).mappings().first()
    if row:
        by = f" by {row['holder']}" if row["holder"] else ""
        reg = f" {row['registration_number']}" if row["registration_number"] else ""
        since = f" since {row['starts_on']}" if row["starts_on"] else ""
        raise ArrestActive(f"{row['obj']} is under arrest{reg}{by}{since}: {what} is blocked"
                           " until the arrest is lifted")


def new_numbers(conn: Connection, quarter: str, count: int) -> list[str]:
    """``count`` unused parcel numbers in a quarter (AA:BB:CC:DD:EE), after the highest in use.

    A number once used (by an active or retired parcel) is never given again. Concurrent
    operations in one quarter are serialized by an advisory lock held to the end of the
    transaction.
    """
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('parcel-quarter:' || :q))"),
                 {"q": quarter})
    rows = conn.execute(text("""
        WITH used AS (
          SELECT split_part(cadastral_number, ':', 6)::int AS n, status FROM parcel
           WHERE cadastral_number LIKE :q || ':%'
          UNION ALL
          SELECT split_part(cadastral_number, ':', 6)::int, status FROM parcel_history
           WHERE cadastral_number LIKE :q || ':%'),
        start AS (SELECT coalesce(max(n) FILTER (WHERE status = 'active'), 0) AS s FROM used)
        SELECT n FROM (
          SELECT n, 0 AS pass FROM generate_series((SELECT s FROM start) + 1, 9999) n
          UNION ALL SELECT n, 1 FROM generate_series(1, 9999) n) c
         WHERE NOT EXISTS (SELECT 1 FROM used u WHERE u.n = c.n)
         ORDER BY pass, n LIMIT :k"""), {"q": quarter, "k": count * 2}).scalars().all()
    seen: list[int] = []
    for n in rows:
        if n not in seen:
            seen.append(n)
    if len(seen) < count:
        raise Conflict(f"quarter {quarter} has no free parcel numbers left")
    return [f"{quarter}:{n:04d}" for n in seen[:count]]


def _parcel_out(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = conn.execute(text(
        "SELECT id, cadastral_number, district_id, status, version, land_category,"
        "       permitted_use, area_m2, ST_AsGeoJSON(ST_Transform(geom, 4326), 7) AS g"
        "  FROM parcel WHERE id = ANY(:ids) ORDER BY id"), {"ids": ids}).mappings().all()
    return [{"id": r["id"], "cadastral_number": r["cadastral_number"],
             "district_id": r["district_id"], "status": r["status"], "version": r["version"],
             "land_category": r["land_category"], "permitted_use": r["permitted_use"],
             "area_m2": float(r["area_m2"]), "geometry": json.loads(r["g"])} for r in rows]


def _rights_out(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = conn.execute(text(
        "SELECT r.id, r.kind, r.party_id, r.parcel_id, r.building_id, r.share_num, r.share_den,"
        "       r.holder, r.amount_uzs, r.registration_number, r.starts_on, r.ends_on, r.status,"
        "       p.cadastral_number AS parcel_number, b.cadastral_number AS building_number"
        "  FROM \"right\" r LEFT JOIN parcel p ON p.id = r.parcel_id"
        "  LEFT JOIN building b ON b.id = r.building_id"
        " WHERE r.id = ANY(:ids) ORDER BY r.id"), {"ids": ids}).mappings().all()
    out = []
    for r in rows:
        d = dict(r)
        d["amount_uzs"] = float(d["amount_uzs"]) if d["amount_uzs"] is not None else None
        for k in ("starts_on", "ends_on"):
            d[k] = d[k].isoformat() if d[k] else None
        out.append(d)
    return out


class _Rollback(Exception):
    """Internal: unwind a dry run's savepoint."""


def _run(conn: Connection, dry_run: bool, fn: Any) -> Result:
    """Run ``fn(conn) -> Result`` in a savepoint; roll it back for a dry run.

    Database rule violations become domain errors carrying the rule's message.
    """
    holder: list[Result] = []
    try:
        with conn.begin_nested():
            res = fn(conn)
            res.dry_run = dry_run
            holder.append(res)
            if dry_run:
                raise _Rollback()
    except _Rollback:
        pass
    except CadastreError:
        raise
    except Exception as exc:
        if hasattr(getattr(exc, "orig", None), "pgcode"):
            raise from_db_error(exc) from exc
        raise
    res = holder[0]
    if dry_run:
        res.transaction_id = None
    return res


# ---------------------------------------------------------------------------------------
# Split
# ---------------------------------------------------------------------------------------
def split_parcel(conn: Connection, number: str, *, cut_line: Any = None, parts: list[Any] | None = None,
                 srid: int | None = None, document: dict[str, Any] | None = None,
                 actor: str | None = None, account: dict[str, Any] | None = None,
                 dry_run: bool = False) -> Result:
    """Split a parcel by a cut line or into given child polygons.

    Children get new numbers in the parent's quarter and carry its attributes and rights;
    the parent is retired (never deleted); lineage links parent → children; buildings move
    to the child holding most of their footprint.
    """
    number = check_number(number)
    if (cut_line is None) == (parts is None):
        raise InvalidInput("give either a cut line or the child polygons")
    if parts is not None and len(parts) < 2:
        raise InvalidInput("a split needs at least two child polygons")

    def op(c: Connection) -> Result:
        parent = _lock_parcels(c, [number], account)[0]
        check_no_arrest(c, [parent["id"]], "a split")
        if cut_line is not None:
            line = _geom_value(c, cut_line, srid)
            if c.execute(text("SELECT GeometryType(CAST(:l AS geometry))"),
                         {"l": line}).scalar() not in ("LINESTRING", "MULTILINESTRING"):
                raise InvalidGeometry("the cut line must be a LineString")
            pieces = c.execute(text(
                "SELECT encode(ST_AsEWKB(d.geom), 'hex') FROM parcel p,"
                " ST_Dump(ST_CollectionExtract(ST_Split(p.geom, CAST(:l AS geometry)), 3)) d"
                " WHERE p.id = :id ORDER BY ST_XMin(d.geom), ST_YMin(d.geom)"),
                {"l": line, "id": parent["id"]}).scalars().all()
            if len(pieces) < 2:
                raise InvalidGeometry(
                    f"the cut line does not cross parcel {number} from edge to edge")
        else:
            pieces = []
            for part in parts or []:
                g = _geom_value(c, part, srid)
                # Clip each child to the parent, so rounding in the input cannot leave slivers
                # outside it; what is left must still be a polygon.
                clipped = c.execute(text(
                    "SELECT encode(ST_AsEWKB(ST_CollectionExtract(ST_MakeValid("
                    " ST_Intersection(p.geom, CAST(:g AS geometry))), 3)), 'hex'),"
                    " ST_Area(CAST(:g AS geometry)) - ST_Area(ST_Intersection(p.geom, CAST(:g AS geometry))),"
                    " GeometryType(CAST(:g AS geometry))"
                    " FROM parcel p WHERE p.id = :id"), {"g": g, "id": parent["id"]}).one()
                if clipped[2] not in ("POLYGON", "MULTIPOLYGON"):
                    raise InvalidGeometry("each child must be a Polygon or MultiPolygon")
                tol = max(SPLIT_AREA_TOLERANCE_M2, SPLIT_AREA_TOLERANCE_REL * parent["area"])
                if clipped[1] > tol:
                    raise RuleViolation(
                        f"a child polygon lies {clipped[1]:.1f} m² outside parcel {number}")
                pieces.append(clipped[0])
        areas = [c.execute(text("SELECT ST_Area(CAST(:g AS geometry))"), {"g": p}).scalar_one()
                 for p in pieces]
        if min(areas) < MIN_PART_M2:
            raise RuleViolation(f"a child parcel would be smaller than {MIN_PART_M2} m²")
        total = sum(areas)
        tol = max(SPLIT_AREA_TOLERANCE_M2, SPLIT_AREA_TOLERANCE_REL * parent["area"])
        if abs(total - parent["area"]) > tol:
            raise RuleViolation(
                f"the children of {number} cover {total:.1f} m², the parcel has"
                f" {parent['area']:.1f} m² (tolerance {tol:.1f} m²)")
        _check_buildings_whole(c, parent["id"], number, pieces)
        doc = _document(c, document, "hokim_decision")
        quarter = number.rsplit(":", 1)[0]
        numbers = new_numbers(c, quarter, len(pieces))
        tx = _transaction(c, "split", doc, actor, {"parent": number, "children": numbers,
                                                   "by": "cut_line" if cut_line else "parts"})
        # Retire first, so the children never overlap an active parent.
        c.execute(text("UPDATE parcel SET status = 'retired', valid_to = greatest(cadastre_now(), valid_from),"
                       " transaction_id = :tx WHERE id = :id"), {"tx": tx, "id": parent["id"]})
        child_ids = []
        for num, piece, area in zip(numbers, pieces, areas, strict=True):
            value = (float(parent["cadastral_value"]) * area / total
                     if parent["cadastral_value"] is not None else None)
            cid = c.execute(text(
                "INSERT INTO parcel (cadastral_number, address, land_category, permitted_use,"
                " declared_area_m2, cadastral_value, transaction_id, geom)"
                " VALUES (:n, :a, :lc, :pu, :da, :v, :tx, ST_Multi(CAST(:g AS geometry)))"
                " RETURNING id"),
                {"n": num, "a": parent["address"], "lc": parent["land_category"],
                 "pu": parent["permitted_use"], "da": round(area, 2),
                 "v": round(value, 2) if value is not None else None, "tx": tx,
                 "g": piece}).scalar_one()
            child_ids.append(cid)
            c.execute(text("INSERT INTO parcel_lineage (parent_id, child_id, kind, transaction_id)"
                           " VALUES (:p, :c, 'split', :tx)"),
                      {"p": parent["id"], "c": cid, "tx": tx})
        new_rights, ended = _carry_rights(c, [parent["id"]], child_ids, tx, doc)
        _move_buildings(c, [parent["id"]], child_ids, tx)
        return Result("split", tx, dry_run, parcels=_parcel_out(c, child_ids),
                      retired=_parcel_out(c, [parent["id"]]), rights=_rights_out(c, new_rights),
                      ended_rights=ended,
                      message=f"{number} split into {', '.join(numbers)}")

    return _run(conn, dry_run, op)


_RIGHT_COLS = ("kind, party_id, share_num, share_den, holder, amount_uzs, registration_number,"
               " starts_on, ends_on, note, source_document_id")


def _check_buildings_whole(c: Connection, parent_id: int, number: str, pieces: list[str]) -> None:
    """Refuse a split whose cut crosses a building: each must lie (>= 95 %) in one child."""
    row = c.execute(text("""
        SELECT b.cadastral_number,
               max(ST_Area(ST_Intersection(b.geom, CAST(g AS geometry)))) / ST_Area(b.geom) AS best
          FROM building b, unnest(CAST(:pieces AS text[])) g
         WHERE b.parcel_id = :p AND b.status = 'active'
         GROUP BY b.id, b.cadastral_number, b.geom
        HAVING max(ST_Area(ST_Intersection(b.geom, CAST(g AS geometry)))) < 0.95 * ST_Area(b.geom)
         ORDER BY b.cadastral_number LIMIT 1"""), {"p": parent_id, "pieces": pieces}).first()
    if row:
        raise RuleViolation(f"the split of {number} crosses building {row[0]}: at most"
                            f" {100 * row[1]:.1f} % of it would lie in one child parcel;"
                            " draw the cut around the building")


def _carry_rights(c: Connection, parent_ids: list[int], child_ids: list[int], tx: int,
                  doc: int) -> tuple[list[int], list[int]]:
    """Carry the parents' rights in force to every child and end them on the parents.

    Children's rights start on the operation day with the same parties and exact shares,
    the operation's source document and transaction, and the end date each right had
    before (an open-ended ownership stays open-ended, a fixed-term lease keeps its term).
    Ownership is copied from the first parent only (a merge requires identical ownership,
    so copying every parent's owners would count them twice); every encumbrance is copied.
    The parents' rights end on the operation day (one already past its end keeps its date).
    """
    in_force = c.execute(text(
        "SELECT id FROM \"right\" WHERE parcel_id = ANY(:p) AND status = 'active'"
        " AND (ends_on IS NULL OR ends_on >= cadastre_today()) ORDER BY id FOR UPDATE"),
        {"p": parent_ids}).scalars().all()
    new_ids: list[int] = []
    # Children first (from the rows as they are before the operation), then the parents end.
    for child in child_ids:
        new_ids += c.execute(text(
            "INSERT INTO \"right\" (kind, party_id, share_num, share_den, holder, amount_uzs,"
            " registration_number, starts_on, ends_on, note, source_document_id, parcel_id,"
            " transaction_id)"
            " SELECT kind, party_id, share_num, share_den, holder, amount_uzs, registration_number,"
            "        greatest(cadastre_today(), starts_on), ends_on, note, :doc, :c, :tx"
            "   FROM \"right\" WHERE id = ANY(:ids)"
            "    AND (kind <> 'ownership' OR parcel_id = :first) ORDER BY id RETURNING id"),
            {"c": child, "tx": tx, "doc": doc, "ids": list(in_force), "first": parent_ids[0]}
        ).scalars().all()
    ended = c.execute(text(
        "UPDATE \"right\" SET status = 'ended', transaction_id = :tx,"
        " ends_on = CASE WHEN ends_on < cadastre_today() THEN ends_on"
        "                ELSE greatest(cadastre_today(), starts_on) END"
        " WHERE parcel_id = ANY(:p) AND status = 'active' RETURNING id"),
        {"tx": tx, "p": parent_ids}).scalars().all()
    return sorted(new_ids), sorted(ended)


def _move_buildings(c: Connection, parent_ids: list[int], child_ids: list[int], tx: int) -> None:
    """Re-attach buildings of retired parcels to the child holding most of their footprint.

    A building's number extends its parcel's, so it takes the child's number with its own
    last part (renumbered in order where two merged parents used the same one).
    """
    c.execute(text("""
        UPDATE building b SET parcel_id = best.child, transaction_id = :tx,
               cadastral_number = best.child_number || ':' || CASE WHEN best.clash
                 THEN lpad(best.rn::text, 4, '0') ELSE split_part(b.cadastral_number, ':', 7) END
          FROM (SELECT m.*, count(*) OVER (PARTITION BY m.child, m.suffix) > 1
                            OR bool_or(m.n_parents > 1) OVER (PARTITION BY m.child) AS clash,
                       row_number() OVER (PARTITION BY m.child ORDER BY m.number, m.bid) AS rn
                  FROM (SELECT DISTINCT ON (b2.id) b2.id AS bid, p.id AS child,
                               p.cadastral_number AS child_number, b2.cadastral_number AS number,
                               split_part(b2.cadastral_number, ':', 7) AS suffix,
                               cardinality(CAST(:parents AS bigint[])) AS n_parents
                          FROM building b2 JOIN parcel p ON p.id = ANY(:children)
                           AND p.geom && b2.geom
                         WHERE b2.parcel_id = ANY(:parents) AND b2.status = 'active'
                         ORDER BY b2.id, ST_Area(ST_Intersection(p.geom, b2.geom)) DESC) m) best
         WHERE b.id = best.bid"""), {"tx": tx, "children": child_ids, "parents": parent_ids})


# ---------------------------------------------------------------------------------------
# Merge
# ---------------------------------------------------------------------------------------
def _ownership(c: Connection, parcel_id: int) -> set[tuple[int, Fraction]]:
    rows = c.execute(text(
        "SELECT party_id, share_num, share_den FROM \"right\" WHERE parcel_id = :p"
        " AND kind = 'ownership' AND status = 'active'"), {"p": parcel_id}).all()
    acc: dict[int, Fraction] = {}
    for party, num, den in rows:
        acc[party] = acc.get(party, Fraction(0)) + Fraction(num, den)
    return set(acc.items())


def merge_parcels(conn: Connection, numbers: list[str], *, document: dict[str, Any] | None = None,
                  actor: str | None = None, account: dict[str, Any] | None = None,
                  dry_run: bool = False) -> Result:
    """Merge adjacent parcels with identical ownership into one new parcel.

    The new parcel takes a new number in the first parcel's quarter, the first parcel's
    land category and use, the summed value; owners carry over once, every encumbrance
    carries over; the parents are retired and linked to the child in the lineage.
    """
    nums = [check_number(n) for n in numbers]
    if len(set(nums)) < 2:
        raise InvalidInput("a merge needs at least two different parcels")

    def op(c: Connection) -> Result:
        parents = _lock_parcels(c, nums, account)
        ids = [p["id"] for p in parents]
        check_no_arrest(c, ids, "a merge")
        owners = [_ownership(c, pid) for pid in ids]
        for p, o in zip(parents[1:], owners[1:], strict=True):
            if o != owners[0]:
                raise RuleViolation(
                    f"{p['cadastral_number']} and {parents[0]['cadastral_number']} have different"
                    " owners or shares; only parcels with identical ownership can be merged")
        row = c.execute(text("""
            WITH u AS (SELECT ST_Union(geom) AS g FROM parcel WHERE id = ANY(:ids)),
                 closed AS (SELECT CASE WHEN ST_NumGeometries(g) = 1 THEN g ELSE
                    ST_Buffer(ST_Buffer(g, :d, 'join=mitre'), -:d, 'join=mitre') END AS g FROM u)
            SELECT encode(ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3))), 'hex'),
                   ST_NumGeometries(ST_CollectionExtract(ST_MakeValid(g), 3)), ST_Area(g)
              FROM closed"""), {"ids": ids, "d": MERGE_GAP_M / 2}).one()
        if row[1] != 1:
            raise RuleViolation(f"parcels {', '.join(nums)} are not adjacent")
        doc = _document(c, document, "hokim_decision")
        quarter = nums[0].rsplit(":", 1)[0]
        new_number = new_numbers(c, quarter, 1)[0]
        tx = _transaction(c, "merge", doc, actor, {"parents": nums, "child": new_number})
        c.execute(text("UPDATE parcel SET status = 'retired', valid_to = greatest(cadastre_now(), valid_from), transaction_id = :tx"
                       " WHERE id = ANY(:ids)"), {"tx": tx, "ids": ids})
        first = parents[0]
        values = [p["cadastral_value"] for p in parents]
        value = sum(float(v) for v in values) if all(v is not None for v in values) else None
        cid = c.execute(text(
            "INSERT INTO parcel (cadastral_number, address, land_category, permitted_use,"
            " declared_area_m2, cadastral_value, transaction_id, geom)"
            " VALUES (:n, :a, :lc, :pu, :da, :v, :tx, CAST(:g AS geometry)) RETURNING id"),
            {"n": new_number, "a": first["address"], "lc": first["land_category"],
             "pu": first["permitted_use"], "da": round(row[2], 2), "v": value, "tx": tx,
             "g": row[0]}).scalar_one()
        for pid in ids:
            c.execute(text("INSERT INTO parcel_lineage (parent_id, child_id, kind, transaction_id)"
                           " VALUES (:p, :c, 'merge', :tx)"), {"p": pid, "c": cid, "tx": tx})
        new_rights, ended = _carry_rights(c, ids, [cid], tx, doc)
        _move_buildings(c, ids, [cid], tx)
        return Result("merge", tx, dry_run, parcels=_parcel_out(c, [cid]),
                      retired=_parcel_out(c, ids), rights=_rights_out(c, new_rights),
                      ended_rights=ended, message=f"{', '.join(nums)} merged into {new_number}")

    return _run(conn, dry_run, op)


# ---------------------------------------------------------------------------------------
# Boundary correction
# ---------------------------------------------------------------------------------------
def correct_boundary(conn: Connection, number: str, geometry: Any, *, srid: int | None = None,
                     document: dict[str, Any] | None = None, expected_version: int | None = None,
                     actor: str | None = None, account: dict[str, Any] | None = None,
                     dry_run: bool = False) -> Result:
    """Replace a parcel's boundary after a survey; the old boundary stays in the history."""
    number = check_number(number)

    def op(c: Connection) -> Result:
        parcel = _lock_parcels(c, [number], account)[0]
        if expected_version is not None and int(expected_version) != parcel["version"]:
            raise StaleVersion(f"parcel {number} is at version {parcel['version']},"
                               f" not {expected_version}")
        g = _geom_value(c, geometry, srid)
        kind = c.execute(text("SELECT GeometryType(CAST(:g AS geometry))"), {"g": g}).scalar()
        if kind not in ("POLYGON", "MULTIPOLYGON"):
            raise InvalidGeometry("the corrected boundary must be a Polygon or MultiPolygon")
        doc = _document(c, document, "survey")
        before = parcel["area"]
        tx = _transaction(c, "boundary_correction", doc, actor, {"parcel": number})
        c.execute(text("UPDATE parcel SET geom = ST_Multi(CAST(:g AS geometry)), transaction_id = :tx"
                       " WHERE id = :id"), {"g": g, "tx": tx, "id": parcel["id"]})
        out = _parcel_out(c, [parcel["id"]])
        return Result("boundary_correction", tx, dry_run, parcels=out,
                      message=f"{number}: boundary corrected, area {before:.1f} →"
                              f" {out[0]['area_m2']:.1f} m²")

    return _run(conn, dry_run, op)


# ---------------------------------------------------------------------------------------
# Transfer of ownership
# ---------------------------------------------------------------------------------------
def _party(c: Connection, ref: Any, create: bool = True) -> int:
    """Resolve a party by id, PINFL (14 digits) or INN (9 digits); create it when described."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 9):
        pid = c.execute(text("SELECT id FROM party WHERE id = :i"), {"i": int(ref)}).scalar()
        if pid is None:
            raise NotFound(f"no party {ref}")
        return int(pid)
    info = ref if isinstance(ref, dict) else {"id_code": str(ref)}
    if info.get("id") is not None:
        return _party(c, int(info["id"]))
    code = str(info.get("pinfl") or info.get("inn") or info.get("id_code") or "").strip()
    if re.fullmatch(r"[0-9]{14}", code):
        col, kind = "pinfl", "person"
        pid = c.execute(text("SELECT id FROM party WHERE pinfl = :v"), {"v": code}).scalar()
        if pid is not None:
            return int(pid)
        check_pinfl(code, clock.today(c))  # a new or mistyped PINFL must be plausible
    elif re.fullmatch(r"[0-9]{9}", code):
        col = "inn"
        kind = str(info["kind"]) if info.get("kind") in ("organization", "state") \
            else "organization"
    else:
        raise InvalidInput(f"party {ref!r}: give a party id, a 14-digit PINFL or a 9-digit INN")
    pid = c.execute(text(f"SELECT id FROM party WHERE {col} = :v"), {"v": code}).scalar()
    if pid is not None:
        return int(pid)
    name = (info.get("full_name") or "").strip()
    if not create or not name:
        raise NotFound(f"no party with {col.upper()} {code}; give full_name to register it")
    return int(c.execute(text(f"INSERT INTO party (kind, full_name, {col}) VALUES (:k, :n, :v)"
                              " RETURNING id"), {"k": kind, "n": name, "v": code}).scalar_one())


def parse_share(share: Any) -> Fraction:
    """A share as a Fraction from "1/2", 0.5, [1, 2] or Fraction; must be in (0, 1]."""
    try:
        if isinstance(share, Fraction):
            f = share
        elif isinstance(share, (list, tuple)):
            f = Fraction(int(share[0]), int(share[1]))
        elif isinstance(share, str):
            f = Fraction(share.strip())
        elif isinstance(share, float):
            f = Fraction(share).limit_denominator(10000)
        else:
            f = Fraction(share)
    except (ValueError, ZeroDivisionError, TypeError, IndexError) as exc:
        raise InvalidInput(f"share {share!r} is not a fraction like 1/2") from exc
    if not 0 < f <= 1:
        raise InvalidInput(f"share {share!r} must be above 0 and at most 1")
    return f


def transfer(conn: Connection, number: str, *, to: list[dict[str, Any]], from_party: Any = None,
             document: dict[str, Any] | None = None, actor: str | None = None,
             account: dict[str, Any] | None = None, include_buildings: bool = True,
             dry_run: bool = False) -> Result:
    """Transfer ownership of a parcel, whole or in shares.

    Without ``from_party`` the whole parcel passes to the recipients (their shares must sum
    to 1). With ``from_party`` that owner passes the given shares (at most their own) and
    keeps the rest. Each recipient is ``{"party": id|PINFL|INN|{...}, "share": "1/2"}``.
    Afterwards the owners' shares sum to exactly 1, checked here and by the database.
    Buildings on the parcel owned exactly like the parcel follow the same transfer.
    """
    number = check_number(number)
    if not to:
        raise InvalidInput("a transfer needs at least one recipient")

    def op(c: Connection) -> Result:
        parcel = _lock_parcels(c, [number], account)[0]
        check_no_arrest(c, [parcel["id"]], "a transfer")
        before = dict(_ownership(c, parcel["id"]))
        recipients: dict[int, Fraction] = {}
        for item in to:
            if not isinstance(item, dict) or "party" not in item:
                raise InvalidInput('each recipient is {"party": ..., "share": "1/2"}')
            pid = _party(c, item["party"])
            recipients[pid] = recipients.get(pid, Fraction(0)) + parse_share(item.get("share", 1))
        given = sum(recipients.values(), Fraction(0))
        after = dict(before)
        if from_party is None:
            if given != 1:
                raise RuleViolation(f"the recipients' shares sum to {given}, not 1")
            after = dict(recipients)
            seller_text = "all owners"
        else:
            seller = _party(c, from_party, create=False)
            held = before.get(seller)
            if held is None:
                raise RuleViolation(f"party {seller} owns no share of {number}")
            if given > held:
                raise RuleViolation(f"party {seller} holds {held} of {number}, cannot transfer"
                                    f" {given}")
            after[seller] = held - given
            if after[seller] == 0:
                del after[seller]
            for pid, sh in recipients.items():
                after[pid] = after.get(pid, Fraction(0)) + sh
            seller_text = f"party {seller}"
        if sum(after.values(), Fraction(0)) != 1:
            raise RuleViolation(f"after the transfer the shares of {number} would sum to"
                                f" {sum(after.values(), Fraction(0))}, not 1")
        doc = _document(c, document, "sale_contract")
        tx = _transaction(c, "transfer", doc, actor, {
            "parcel": number, "from": seller_text,
            "to": {str(k): str(v) for k, v in recipients.items()},
            "owners_after": {str(k): str(v) for k, v in after.items()}})
        ended, new_ids = _replace_owners(c, "parcel_id", parcel["id"], before, after, tx, doc)
        if include_buildings:
            bids = c.execute(text("SELECT id FROM building WHERE parcel_id = :p AND status ="
                                  " 'active' ORDER BY id FOR UPDATE"), {"p": parcel["id"]}
                             ).scalars().all()
            for bid in bids:
                b_before = dict(_building_ownership(c, bid))
                if b_before == before:
                    e2, n2 = _replace_owners(c, "building_id", bid, b_before, after, tx, doc)
                    ended += e2
                    new_ids += n2
        parties = _parties_out(c, before, after)
        gets = "; ".join(
            f"{p['full_name']} ({'PINFL ' + p['pinfl'] if p['pinfl'] else 'INN ' + str(p['inn'])}"
            f"{', born ' + p['birth_date'] if p['birth_date'] else ''}) {p['share_after']}"
            for p in parties if p["id"] in recipients)
        return Result("transfer", tx, dry_run, parcels=_parcel_out(c, [parcel["id"]]),
                      rights=_rights_out(c, new_ids), ended_rights=sorted(ended),
                      message=f"{number}: ownership transferred from {seller_text} to {gets}",
                      parties=parties)

    return _run(conn, dry_run, op)


def _parties_out(c: Connection, before: dict[int, Fraction], after: dict[int, Fraction]
                 ) -> list[dict[str, Any]]:
    """Who the transfer names, as the registry knows them, with their share before and after."""
    ids = sorted(set(before) | set(after))
    rows = c.execute(text("SELECT id, kind, full_name, pinfl, inn, birth_date FROM party"
                          " WHERE id = ANY(:i) ORDER BY id"), {"i": ids}).mappings().all()
    out = []
    for r in rows:
        born = r["birth_date"] or (birth_date(r["pinfl"]) if r["pinfl"] else None)
        out.append({"id": r["id"], "kind": r["kind"], "full_name": r["full_name"],
                    "pinfl": r["pinfl"], "inn": r["inn"],
                    "birth_date": born.isoformat() if born else None,
                    "share_before": str(before[r["id"]]) if r["id"] in before else None,
                    "share_after": str(after[r["id"]]) if r["id"] in after else None})
    return out


def _building_ownership(c: Connection, building_id: int) -> set[tuple[int, Fraction]]:
    rows = c.execute(text(
        "SELECT party_id, share_num, share_den FROM \"right\" WHERE building_id = :b"
        " AND kind = 'ownership' AND status = 'active'"), {"b": building_id}).all()
    acc: dict[int, Fraction] = {}
    for party, num, den in rows:
        acc[party] = acc.get(party, Fraction(0)) + Fraction(num, den)
    return set(acc.items())


def _replace_owners(c: Connection, col: str, obj_id: int, before: dict[int, Fraction],
                    after: dict[int, Fraction], tx: int, doc: int) -> tuple[list[int], list[int]]:
    """End the ownership rights whose share changes and register the new ones."""
    changed = [p for p in set(before) | set(after) if before.get(p) != after.get(p)]
    if not changed:
        return [], []
    ended = c.execute(text(
        f"UPDATE \"right\" SET status = 'ended', ends_on = greatest(cadastre_today(), starts_on), transaction_id = :tx"
        f" WHERE {col} = :o AND kind = 'ownership' AND status = 'active'"
        " AND party_id = ANY(:p) RETURNING id"),
        {"tx": tx, "o": obj_id, "p": changed}).scalars().all()
    owners = [(p, after[p]) for p in sorted(changed) if after.get(p)]
    # One statement for all new owners: the share rule (a statement trigger) runs once.
    new_ids = c.execute(text(
        f"INSERT INTO \"right\" (kind, party_id, {col}, share_num, share_den, starts_on,"
        " source_document_id, transaction_id)"
        " SELECT 'ownership', u.p, :o, u.n, u.d, cadastre_today(), :doc, :tx"
        " FROM unnest(CAST(:ps AS bigint[]), CAST(:ns AS int[]), CAST(:ds AS int[])) AS u(p, n, d)"
        " RETURNING id"),
        {"ps": [p for p, _ in owners], "ns": [f.numerator for _, f in owners],
         "ds": [f.denominator for _, f in owners], "o": obj_id, "doc": doc, "tx": tx}
    ).scalars().all() if owners else []
    return list(ended), sorted(new_ids)


# ---------------------------------------------------------------------------------------
# Encumbrances: mortgage, lease, servitude, permanent use, arrest
# ---------------------------------------------------------------------------------------
_DOC_FOR = {"mortgage": "mortgage_agreement", "lease": "lease_agreement",
            "servitude": "servitude_agreement", "arrest": "arrest_order",
            "permanent_use": "hokim_decision"}


def register_encumbrance(conn: Connection, number: str, kind: str, *, party: Any = None,
                         holder: str | None = None, amount_uzs: float | None = None,
                         starts_on: str | date | None = None, ends_on: str | date | None = None,
                         registration_number: str | None = None, note: str | None = None,
                         document: dict[str, Any] | None = None, actor: str | None = None,
                         account: dict[str, Any] | None = None, dry_run: bool = False) -> Result:
    """Register a mortgage, lease, servitude, permanent use or arrest (ban) on a parcel."""
    number = check_number(number)
    if kind not in ENCUMBRANCES:
        raise InvalidInput(f"kind must be one of {', '.join(ENCUMBRANCES)}")
    if party is None and not (holder or "").strip():
        raise InvalidInput("name the holder: a party (id, PINFL, INN) or a holder text")
    s_given, e_on = _date(starts_on, "starts_on"), _date(ends_on, "ends_on")
    if e_on and s_given and e_on < s_given:
        raise InvalidInput("ends_on is before starts_on")
    if amount_uzs is not None:
        try:
            amount_uzs = float(amount_uzs)
        except (TypeError, ValueError) as exc:
            raise InvalidInput("amount_uzs must be a number") from exc
        if amount_uzs < 0:
            raise InvalidInput("amount_uzs must be >= 0")

    def op(c: Connection) -> Result:
        parcel = _lock_parcels(c, [number], account)[0]
        s_on = s_given or clock.today(c)
        if e_on and e_on < s_on:
            raise InvalidInput("ends_on is before starts_on")
        pid = _party(c, party) if party is not None else None
        name = holder
        if pid is not None and not name:
            name = c.execute(text("SELECT full_name FROM party WHERE id = :i"), {"i": pid}).scalar()
        doc = _document(c, document, _DOC_FOR[kind])
        tx = _transaction(c, "encumbrance_register", doc, actor, {"parcel": number, "kind": kind})
        rid = c.execute(text(
            "INSERT INTO \"right\" (kind, party_id, parcel_id, holder, amount_uzs,"
            " registration_number, starts_on, ends_on, note, source_document_id, transaction_id)"
            " VALUES (:k, :p, :parcel, :h, :a, :r, :s, :e, :n, :doc, :tx) RETURNING id"),
            {"k": kind, "p": pid, "parcel": parcel["id"], "h": name, "a": amount_uzs,
             "r": registration_number, "s": s_on, "e": e_on, "n": note, "doc": doc,
             "tx": tx}).scalar_one()
        return Result("encumbrance_register", tx, dry_run, parcels=_parcel_out(c, [parcel["id"]]),
                      rights=_rights_out(c, [rid]), message=f"{number}: {kind} registered")

    return _run(conn, dry_run, op)


def register_arrest(conn: Connection, number: str, **kw: Any) -> Result:
    """Register an arrest (ban) on a parcel: transfers, splits and merges are blocked."""
    return register_encumbrance(conn, number, "arrest", **kw)


def release_encumbrance(conn: Connection, right_id: int | None = None, *,
                        number: str | None = None, registration_number: str | None = None,
                        document: dict[str, Any] | None = None, actor: str | None = None,
                        account: dict[str, Any] | None = None, dry_run: bool = False) -> Result:
    """End an active encumbrance (release a mortgage, end a lease, lift an arrest)."""
    if right_id is None and not (number and registration_number):
        raise InvalidInput("give the right id, or the parcel number and registration number")

    def op(c: Connection) -> Result:
        if right_id is not None:
            row = c.execute(text(
                "SELECT r.id, r.kind, p.cadastral_number FROM \"right\" r JOIN parcel p"
                " ON p.id = r.parcel_id WHERE r.id = :i AND r.status = 'active' FOR UPDATE OF r"),
                {"i": int(right_id)}).first()
        else:
            row = c.execute(text(
                "SELECT r.id, r.kind, p.cadastral_number FROM \"right\" r JOIN parcel p"
                " ON p.id = r.parcel_id WHERE p.cadastral_number = :n AND p.status = 'active'"
                " AND r.registration_number = :r AND r.status = 'active' FOR UPDATE OF r"),
                {"n": check_number(number or ""), "r": registration_number}).first()
        if row is None:
            raise NotFound("no such active encumbrance on an active parcel")
        if row[1] not in ENCUMBRANCES:
            raise InvalidInput(f"right {row[0]} is {row[1]}, not an encumbrance;"
                               " ownership changes by transfer")
        parcel = _lock_parcels(c, [row[2]], account)[0]
        doc = _document(c, document, "release_order")
        tx = _transaction(c, "encumbrance_release", doc, actor,
                          {"parcel": row[2], "right": row[0], "kind": row[1]})
        c.execute(text("UPDATE \"right\" SET status = 'ended', ends_on = greatest(cadastre_today(), starts_on),"
                       " transaction_id = :tx WHERE id = :i"), {"tx": tx, "i": row[0]})
        return Result("encumbrance_release", tx, dry_run, parcels=_parcel_out(c, [parcel["id"]]),
                      rights=_rights_out(c, [row[0]]), ended_rights=[row[0]],
                      message=f"{row[2]}: {row[1]} {row[0]} released")

    return _run(conn, dry_run, op)


def lift_arrest(conn: Connection, right_id: int | None = None, **kw: Any) -> Result:
    """Lift an arrest (ban)."""
    return release_encumbrance(conn, right_id, **kw)


def _date(v: Any, name: str) -> date | None:
    if v in (None, ""):
        return None
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be YYYY-MM-DD") from exc


# ---------------------------------------------------------------------------------------
# Reading: lineage and timeline
# ---------------------------------------------------------------------------------------
def lineage(conn: Connection, number: str) -> dict[str, Any]:
    """Ancestors and descendants of a parcel (recursive over ``parcel_lineage``)."""
    number = check_number(number)
    pid = conn.execute(text(
        "SELECT id FROM parcel WHERE cadastral_number = :n"
        " ORDER BY (status = 'active') DESC, valid_from DESC LIMIT 1"), {"n": number}).scalar()
    if pid is None:
        raise NotFound(f"no parcel {number}")

    def walk(direction: str) -> list[dict[str, Any]]:
        a, b = ("child_id", "parent_id") if direction == "up" else ("parent_id", "child_id")
        rows = conn.execute(text(f"""
            WITH RECURSIVE walk(id, via, kind, depth, tx, at, path) AS (
              SELECT l.{b}, l.{a}, l.kind, 1, l.transaction_id, l.created_at, ARRAY[l.{a}, l.{b}]
                FROM parcel_lineage l WHERE l.{a} = :id
              UNION ALL
              SELECT l.{b}, l.{a}, l.kind, w.depth + 1, l.transaction_id, l.created_at,
                     w.path || l.{b}
                FROM parcel_lineage l JOIN walk w ON l.{a} = w.id
               WHERE NOT l.{b} = ANY(w.path) AND w.depth < 50)
            SELECT w.id, p.cadastral_number, p.status, w.kind, w.depth, v.cadastral_number AS via,
                   w.tx, w.at, p.area_m2, p.valid_from, p.valid_to
              FROM walk w JOIN parcel p ON p.id = w.id JOIN parcel v ON v.id = w.via
             ORDER BY w.depth, p.cadastral_number"""), {"id": pid}).mappings().all()
        out = []
        for r in rows:
            d = dict(r)
            d["area_m2"] = float(d["area_m2"]) if d["area_m2"] is not None else None
            for k in ("at", "valid_from", "valid_to"):
                d[k] = d[k].isoformat() if d[k] else None
            d["cadastral_number"], d["via"] = d.pop("cadastral_number"), d.pop("via")
            d["transaction_id"] = d.pop("tx")
            out.append(d)
        return out

    me = conn.execute(text("SELECT id, cadastral_number, status, valid_from, valid_to, area_m2"
                           " FROM parcel WHERE id = :i"), {"i": pid}).mappings().one()
    return {"parcel": {"id": me["id"], "cadastral_number": me["cadastral_number"],
                       "status": me["status"],
                       "valid_from": me["valid_from"].isoformat(),
                       "valid_to": me["valid_to"].isoformat() if me["valid_to"] else None,
                       "area_m2": float(me["area_m2"])},
            "ancestors": walk("up"), "descendants": walk("down")}


def timeline(conn: Connection, number: str) -> list[dict[str, Any]]:
    """Every version of a parcel (history and current) and the transactions on it, oldest first.

    Rows with ``event`` ``version`` are versions of the parcel itself; rows with ``event``
    ``rights`` are transactions that changed its rights (transfers, encumbrances registered
    or released), with a short ``summary``.
    """
    number = check_number(number)
    rows = conn.execute(text("""
        WITH ids AS (SELECT id FROM parcel WHERE cadastral_number = :n
                     UNION SELECT id FROM parcel_history WHERE cadastral_number = :n),
        rtx AS (SELECT transaction_id AS tx FROM "right" WHERE parcel_id IN (SELECT id FROM ids)
                UNION SELECT transaction_id FROM right_history
                 WHERE parcel_id IN (SELECT id FROM ids))
        SELECT * FROM (
          SELECT h.id, h.version, h.status, h.valid_from, h.valid_to, h.area_m2, h.cadastral_value,
                 h.land_category, h.permitted_use, h.changed_by AS actor, h.transaction_id,
                 t.kind AS tx_kind, d.kind AS doc_kind, d.number AS doc_number, false AS current,
                 'version' AS event, NULL::text AS summary
            FROM parcel_history h LEFT JOIN registry_transaction t ON t.id = h.transaction_id
            LEFT JOIN source_document d ON d.id = t.source_document_id
           WHERE h.cadastral_number = :n
          UNION ALL
          SELECT p.id, p.version, p.status, p.valid_from, p.valid_to, p.area_m2, p.cadastral_value,
                 p.land_category, p.permitted_use, p.updated_by, p.transaction_id,
                 t.kind, d.kind, d.number, true, 'version', NULL
            FROM parcel p LEFT JOIN registry_transaction t ON t.id = p.transaction_id
            LEFT JOIN source_document d ON d.id = t.source_document_id
           WHERE p.cadastral_number = :n
          UNION ALL
          SELECT NULL, NULL, NULL, t.created_at, NULL, NULL, NULL, NULL, NULL, t.actor, t.id,
                 t.kind, d.kind, d.number, false, 'rights',
                 concat_ws(' ', replace(t.kind, '_', ' '), t.details->>'kind',
                           CASE WHEN t.details ? 'owners_after' THEN 'owners after: '
                             || (SELECT string_agg(coalesce(pa.full_name, k) || ' ' || v, ', '
                                                   ORDER BY k)
                                   FROM jsonb_each_text(t.details->'owners_after') o(k, v)
                                   LEFT JOIN party pa ON pa.id::text = o.k) END)
            FROM registry_transaction t LEFT JOIN source_document d ON d.id = t.source_document_id
           WHERE t.id IN (SELECT tx FROM rtx)
             AND t.kind IN ('transfer', 'encumbrance_register', 'encumbrance_release')) v
        ORDER BY v.valid_from, v.version NULLS LAST"""), {"n": number}).mappings().all()
    if not rows:
        raise NotFound(f"no parcel {number}")
    out = []
    for r in rows:
        d = dict(r)
        for k in ("valid_from", "valid_to"):
            d[k] = d[k].isoformat() if d[k] else None
        for k in ("area_m2", "cadastral_value"):
            d[k] = float(d[k]) if d[k] is not None else None
        out.append(d)
    return out


def parcel_summary(conn: Connection, number: str) -> dict[str, Any]:
    """The current (or last) state of a parcel with its rights and buildings, for staff pages."""
    number = check_number(number)
    p = conn.execute(text(
        "SELECT id, cadastral_number, district_id, address, land_category, permitted_use,"
        " area_m2, cadastral_value, status, version, valid_from, valid_to,"
        " ST_AsGeoJSON(ST_Transform(geom, 4326), 7) AS g FROM parcel"
        " WHERE cadastral_number = :n ORDER BY (status = 'active') DESC, valid_from DESC LIMIT 1"),
        {"n": number}).mappings().first()
    if p is None:
        raise NotFound(f"no parcel {number}")
    d = dict(p)
    d["geometry"] = json.loads(d.pop("g"))
    rights = conn.execute(text(
        "SELECT r.id, r.kind, r.share_num, r.share_den, r.holder, r.registration_number,"
        " r.starts_on, r.ends_on, r.amount_uzs, r.party_id, pa.full_name"
        " FROM \"right\" r LEFT JOIN party pa ON pa.id = r.party_id"
        " WHERE r.parcel_id = :i AND r.status = 'active' ORDER BY r.kind, r.id"),
        {"i": d["id"]}).mappings().all()
    d["rights"] = [dict(r) for r in rights]
    d["buildings"] = [dict(b) for b in conn.execute(text(
        "SELECT id, cadastral_number, building_use, floors FROM building WHERE parcel_id = :i"
        " AND status = 'active' ORDER BY cadastral_number"), {"i": d["id"]}).mappings()]
    return d
