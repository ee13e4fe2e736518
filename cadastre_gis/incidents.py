"""Incidents: lifecycle, operator actions, queries for the map, the panel and Open311.

The database does the bookkeeping (migration 0007): enrichment on every insert or move,
allowed transitions, the timeline in ``incident_event`` and ``pg_notify('incidents', ...)``.
This module validates early with clear messages and runs the actions in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from .errors import Conflict, InvalidInput, NotFound, RuleViolation, from_db_error
from .schema import INCIDENT_STATUSES, OPEN_INCIDENT_STATUSES

STATUSES = INCIDENT_STATUSES
OPEN_STATUSES = OPEN_INCIDENT_STATUSES

# Mirrors the table incident_transition (migration 0007); a test checks they agree.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"triaged", "dispatched", "duplicate", "rejected"}),
    "triaged": frozenset({"dispatched", "duplicate", "rejected"}),
    "dispatched": frozenset({"in_progress", "resolved", "triaged", "duplicate"}),
    "in_progress": frozenset({"resolved", "dispatched"}),
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset(),
    "duplicate": frozenset({"new"}),
    "rejected": frozenset({"new"}),
}

WINDOWS = {"1h": "1 hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days", "90d": "90 days"}


def can_transition(from_status: str, to_status: str) -> bool:
    """True when the lifecycle allows ``from_status`` → ``to_status``."""
    return to_status in TRANSITIONS.get(from_status, frozenset())


def _note(conn: Connection, note: str | None) -> None:
    conn.execute(text("SELECT set_config('cadastre.note', :n, true)"), {"n": (note or "")[:2000]})


def _row(conn: Connection, incident_id: int, lock: bool = False) -> dict[str, Any]:
    row = conn.execute(text("SELECT id, status, version, category, duplicate_of FROM incident"
                            " WHERE id = :i" + (" FOR UPDATE" if lock else "")),
                       {"i": incident_id}).mappings().first()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return dict(row)


def _run(conn: Connection, sql: str, params: dict[str, Any]) -> None:
    try:
        with conn.begin_nested():
            conn.execute(text(sql), params)
    except DBAPIError as exc:
        raise from_db_error(exc) from exc


def _check_version(row: dict[str, Any], version: int | None) -> None:
    if version is not None and int(version) != row["version"]:
        raise Conflict(f"incident {row['id']} was changed meanwhile (version {row['version']},"
                       f" you had {version}); reload it")


def set_status(conn: Connection, incident_id: int, to_status: str, note: str | None = None,
               version: int | None = None) -> dict[str, Any]:
    """Move an incident to ``to_status`` if the lifecycle allows it; returns the new state."""
    if to_status not in STATUSES:
        raise InvalidInput(f"unknown status {to_status!r}; one of {', '.join(STATUSES)}")
    row = _row(conn, incident_id, lock=True)
    _check_version(row, version)
    if not can_transition(row["status"], to_status):
        allowed = ", ".join(sorted(TRANSITIONS[row["status"]])) or "none"
        raise RuleViolation(f"incident {incident_id} cannot go from {row['status']} to "
                            f"{to_status} (allowed: {allowed})")
    _note(conn, note)
    _run(conn, "UPDATE incident SET status = :s WHERE id = :i", {"s": to_status, "i": incident_id})
    return _row(conn, incident_id)


def triage(conn: Connection, incident_id: int, priority: int | None = None,
           note: str | None = None, version: int | None = None) -> dict[str, Any]:
    """Confirm an incident (new → triaged), optionally setting its priority (1 highest … 4)."""
    if priority is not None and not (1 <= int(priority) <= 4):
        raise InvalidInput("priority must be 1 (highest) … 4")
    row = _row(conn, incident_id, lock=True)
    _check_version(row, version)
    if row["status"] != "new":
        raise RuleViolation(f"incident {incident_id} is {row['status']}; only new incidents are"
                            " triaged")
    _note(conn, note)
    _run(conn, "UPDATE incident SET status = 'triaged', priority = coalesce(:p, priority)"
         " WHERE id = :i", {"p": priority, "i": incident_id})
    return _row(conn, incident_id)


def dispatch(conn: Connection, incident_id: int, service_id: int | None = None,
             note: str | None = None, version: int | None = None) -> dict[str, Any]:
    """Send an incident to a service (its responsible one by default): → dispatched."""
    row = _row(conn, incident_id, lock=True)
    _check_version(row, version)
    if not can_transition(row["status"], "dispatched"):
        raise RuleViolation(f"incident {incident_id} is {row['status']} and cannot be dispatched")
    if service_id is not None and conn.execute(
            text("SELECT 1 FROM service WHERE id = :s"), {"s": service_id}).first() is None:
        raise InvalidInput(f"service {service_id} does not exist")
    _note(conn, note)
    _run(conn, "UPDATE incident SET status = 'dispatched', service_id = coalesce(:s, service_id)"
         " WHERE id = :i", {"s": service_id, "i": incident_id})
    return _row(conn, incident_id)


def resolve(conn: Connection, incident_id: int, note: str | None = None,
            version: int | None = None) -> dict[str, Any]:
    """Mark an incident resolved (from dispatched or in progress)."""
    return set_status(conn, incident_id, "resolved", note, version)


def merge(conn: Connection, duplicate_id: int, into_id: int, note: str | None = None
          ) -> dict[str, Any]:
    """Merge ``duplicate_id`` into ``into_id``: status duplicate, duplicate_of set, an event on
    both incidents (written by the database trigger)."""
    if duplicate_id == into_id:
        raise InvalidInput("an incident cannot be merged into itself")
    dup = _row(conn, duplicate_id, lock=True)
    target = _row(conn, into_id, lock=True)
    if target["status"] == "duplicate":
        raise RuleViolation(f"incident {into_id} is itself a duplicate of "
                            f"{target['duplicate_of']}; merge into that one")
    if not can_transition(dup["status"], "duplicate"):
        raise RuleViolation(f"incident {duplicate_id} is {dup['status']} and cannot be merged")
    _note(conn, note)
    _run(conn, "UPDATE incident SET status = 'duplicate', duplicate_of = :t,"
         " possible_duplicate_of = NULL WHERE id = :i", {"t": into_id, "i": duplicate_id})
    # children of the duplicate follow it into the target
    _run(conn, "UPDATE incident SET duplicate_of = :t WHERE duplicate_of = :i",
         {"t": into_id, "i": duplicate_id})
    return _row(conn, duplicate_id)


def create(conn: Connection, category: str, lon: float, lat: float, *, source: str = "dashboard",
           title: str | None = None, description: str | None = None,
           address: str | None = None, reporter_name: str | None = None,
           reporter_phone: str | None = None, reporter_email: str | None = None,
           visibility: str = "public", full: bool = True) -> dict[str, Any]:
    """Insert an incident at (lon, lat) WGS 84; the database fills the rest.

    Returns :func:`detail` of the new incident, or only its id, deadline and
    possible_duplicate_of when ``full`` is False (the fast path for Open311)."""
    if conn.execute(text("SELECT 1 FROM incident_category WHERE code = :c"),
                    {"c": category}).first() is None:
        raise InvalidInput(f"unknown category {category!r}")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("lon/lat out of range")
    try:
        with conn.begin_nested():
            row = conn.execute(text("""
                INSERT INTO incident (category, title, description, address, source, visibility,
                                      reporter_name, reporter_phone, reporter_email, geom)
                VALUES (:c, :t, :d, :a, :s, :v, :rn, :rp, :re,
                        ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 32642))
                RETURNING id, deadline, possible_duplicate_of"""), {"c": category, "t": title, "d": description, "a": address,
                                   "s": source, "v": visibility, "rn": reporter_name,
                                   "rp": reporter_phone, "re": reporter_email,
                                   "x": lon, "y": lat}).mappings().one()
    except DBAPIError as exc:
        raise from_db_error(exc) from exc
    if not full:
        return _jsonable(dict(row))
    return detail(conn, int(row["id"]))


DETAIL_SQL = """
SELECT i.id, i.category, c.name_en AS category_name, i.status, i.priority, i.title,
       i.description, i.address, i.source, i.visibility, i.reported_at, i.deadline,
       i.resolved_at, i.closed_at, i.updated_at, i.version, i.duplicate_of,
       i.possible_duplicate_of, i.district_id, d.name AS district, i.parcel_id,
       p.cadastral_number AS parcel_number, p.address AS parcel_address,
       i.building_id, b.cadastral_number AS building_number, b.floors AS building_floors,
       b.building_use, i.service_id, s.name AS service, s.phone AS service_phone,
       (i.deadline < cadastre_now() AND i.status IN ('new', 'triaged', 'dispatched', 'in_progress'))
         AS overdue,
       ST_X(ST_Transform(i.geom, 4326)) AS lon, ST_Y(ST_Transform(i.geom, 4326)) AS lat
  FROM incident i
  JOIN incident_category c ON c.code = i.category
  LEFT JOIN district d ON d.id = i.district_id
  LEFT JOIN parcel p ON p.id = i.parcel_id
  LEFT JOIN building b ON b.id = i.building_id
  LEFT JOIN service s ON s.id = i.service_id
"""


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()}


def detail(conn: Connection, incident_id: int) -> dict[str, Any]:
    """Everything the operator panel shows about one incident (no reporter contacts)."""
    row = conn.execute(text(DETAIL_SQL + " WHERE i.id = :i"), {"i": incident_id}).mappings().first()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return _jsonable(dict(row))


def timeline(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's events, oldest first."""
    rows = conn.execute(text(
        "SELECT id, at, actor, kind, from_status, to_status, note, data FROM incident_event"
        " WHERE incident_id = :i ORDER BY id"), {"i": incident_id}).mappings()
    return [_jsonable(dict(r)) for r in rows]


def events_since(conn: Connection, last_event_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Timeline events after ``last_event_id`` (for SSE replay), oldest first."""
    rows = conn.execute(text(
        "SELECT id AS event, incident_id AS id, kind AS op FROM incident_event WHERE id > :e"
        " ORDER BY id LIMIT :n"), {"e": last_event_id, "n": limit}).mappings()
    return [dict(r) for r in rows]


def last_event_id(conn: Connection) -> int:
    """The newest timeline event id (0 when none)."""
    return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM incident_event")).scalar_one())


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents a map, a list or a statistic is about (all fields optional)."""

    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    district: int | None = None
    window: str | None = None
    """One of :data:`WINDOWS` (``1h`` … ``90d``); None: any time."""
    public_only: bool = False
    ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        """Refuse unknown statuses and windows with a clear message."""
        bad = [s for s in self.statuses if s not in STATUSES]
        if bad:
            raise InvalidInput(f"unknown status {bad[0]!r}")
        if self.window is not None and self.window not in WINDOWS:
            raise InvalidInput(f"window must be one of {', '.join(WINDOWS)}")

    @classmethod
    def parse(cls, category: str | None = None, status: str | None = None,
              district: str | int | None = None, window: str | None = None,
              public_only: bool = False) -> IncidentFilter:
        """From query-string values: comma lists, ``status=open``, a district id."""
        sts = [x for x in (status or "").split(",") if x]
        if sts == ["open"]:
            sts = list(OPEN_STATUSES)
        if district not in (None, ""):
            if not str(district).isdigit():
                raise InvalidInput("district must be a district id")
            district = int(district)  # type: ignore[arg-type]
        return cls(categories=tuple(x for x in (category or "").split(",") if x),
                   statuses=tuple(sts), district=district or None,  # type: ignore[arg-type]
                   window=window or None, public_only=public_only)

    def where(self, alias: str = "i") -> tuple[str, dict[str, Any]]:
        """The SQL condition with bound parameters (for the queries of this package only)."""
        a = alias
        where = ["TRUE"]
        params: dict[str, Any] = {}
        if self.categories:
            where.append(f"{a}.category = ANY(:f_cats)")
            params["f_cats"] = list(self.categories)
        if self.statuses:
            where.append(f"{a}.status = ANY(:f_sts)")
            params["f_sts"] = list(self.statuses)
        if self.district:
            where.append(f"{a}.district_id = :f_dist")
            params["f_dist"] = int(self.district)
        if self.window:
            where.append(f"{a}.reported_at > cadastre_now() - CAST(:f_win AS interval)")
            params["f_win"] = WINDOWS[self.window]
        if self.public_only:
            where.append(f"{a}.visibility = 'public' AND {a}.category IN"
                         " (SELECT code FROM incident_category WHERE public)")
        if self.ids is not None:
            where.append(f"{a}.id = ANY(:f_ids)")
            params["f_ids"] = list(self.ids)
        return " AND ".join(where), params


def geojson(conn: Connection, filt: IncidentFilter | None = None, *,
            ids: list[int] | None = None, limit: int = 10000) -> dict[str, Any]:
    """Incidents matching ``filt`` (or exactly ``ids``) as a CRS84 FeatureCollection."""
    if ids is not None:
        filt = IncidentFilter(ids=tuple(ids))
    where, params = (filt or IncidentFilter()).where()
    rows = conn.execute(text(f"""
        SELECT i.id, i.category, i.status, i.priority, i.title, i.district_id, i.reported_at,
               i.deadline, i.possible_duplicate_of, i.duplicate_of,
               (i.deadline < cadastre_now() AND i.status IN ('new','triaged','dispatched','in_progress'))
                 AS overdue,
               ST_AsGeoJSON(ST_Transform(i.geom, 4326), 7)::json AS g
          FROM incident i WHERE {where}
         ORDER BY i.reported_at DESC LIMIT :lim"""), {**params, "lim": limit})
    feats = []
    for r in rows:
        feats.append({"type": "Feature", "id": r.id, "geometry": r.g, "properties": {
            "id": r.id, "category": r.category, "status": r.status, "priority": r.priority,
            "title": r.title, "district_id": r.district_id, "overdue": bool(r.overdue),
            "reported_at": r.reported_at.isoformat(),
            "deadline": r.deadline.isoformat() if r.deadline else None,
            "possible_duplicate_of": r.possible_duplicate_of, "duplicate_of": r.duplicate_of}})
    return {"type": "FeatureCollection", "features": feats}


def add_event(conn: Connection, incident_id: int, kind: str, note: str | None = None,
              data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append an event (e.g. a camera snapshot as evidence) to an incident's timeline."""
    import json

    _row(conn, incident_id)
    row = conn.execute(text(
        "INSERT INTO incident_event (incident_id, kind, note, data)"
        " VALUES (:i, :k, :n, CAST(:d AS jsonb)) RETURNING id, at, actor, kind, note, data"),
        {"i": incident_id, "k": kind, "n": (note or None) and note[:2000],
         "d": json.dumps(data) if data is not None else None}).mappings().one()
    return _jsonable(dict(row))


def dashboard_options(conn: Connection, lang: str = "en") -> dict[str, Any]:
    """Categories, districts and services named in ``lang`` (uz, ru, en), and the city bounds."""
    cat_col = {"uz": "name_uz", "ru": "name_ru"}.get(lang, "name_en")
    named = "coalesce(name_ru, name)" if lang == "ru" else "name"
    cats = conn.execute(text(f"SELECT code, {cat_col} AS name FROM incident_category"
                             f" ORDER BY {cat_col}")).mappings().all()
    dists = conn.execute(text(f"SELECT id, {named} AS name FROM district ORDER BY 2")
                         ).mappings().all()
    services = conn.execute(text(f"SELECT id, {named} AS name FROM service ORDER BY 2")
                            ).mappings().all()
    b = conn.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
        " (SELECT ST_Transform(ST_SetSRID(ST_Extent(geom), 32642), 4326) AS e FROM district) q"
    )).first()
    return {"categories": [dict(r) for r in cats], "districts": [dict(r) for r in dists],
            "services": [dict(r) for r in services],
            "bounds": list(b) if b and b[0] is not None else None}


def district_outlines(conn: Connection) -> dict[str, Any]:
    """District outlines simplified to 20 m, CRS84, as map context."""
    rows = conn.execute(text(
        "SELECT id, code, name, ST_AsGeoJSON(ST_Transform(ST_SimplifyPreserveTopology(geom, 20),"
        " 4326), 6)::json AS g FROM district ORDER BY id"))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": r.id, "geometry": r.g,
         "properties": {"id": r.id, "code": r.code, "name": r.name}} for r in rows]}
