"""Open311 GeoReport v2 at /open311/v2/: services, service definitions, service requests.

Reading is open (public categories and public incidents only; reporter contacts never leave).
Posting needs an API key: a bearer token made by ``cadastre-gis tokens create NAME``, sent as
the ``api_key`` parameter (or an ``Authorization: Bearer`` header). Posts are rate-limited per
key with a database counter, so the limit holds across all workers.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import text

from cadastre_gis import accounts, incidents
from cadastre_gis.errors import CadastreError, NotAuthenticated

from .db import conn, settings, write
from .urls import absolute

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

MAX_REQUESTS = 1000


class Open311Error(Exception):
    """An error answered in the Open311 format: ``[{"code": N, "description": "..."}]``."""

    def __init__(self, status: int, description: str) -> None:
        """Remember the HTTP status and the description."""
        super().__init__(description)
        self.status = status
        self.description = description


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error):  # type: ignore[no-untyped-def]
    return jsonify([{"code": exc.status, "description": exc.description}]), exc.status


@bp.errorhandler(CadastreError)
def _domain_error(exc: CadastreError):  # type: ignore[no-untyped-def]
    from cadastre_gis.errors import http_status

    status = http_status(exc)
    return jsonify([{"code": status, "description": exc.message}]), status


def _fmt(fmt: str) -> None:
    if fmt != "json":
        raise Open311Error(400, "only the json format is supported here; use .json")


@bp.route("/discovery.json")
def discovery():  # type: ignore[no-untyped-def]
    """Open311 discovery document."""
    base = absolute("/open311/v2/")
    return jsonify({"changeset": "2026-11-29T00:00:00Z", "contact": "situation center",
                    "key_service": "cadastre-gis tokens create NAME",
                    "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2",
                                   "url": base, "changeset": "2026-11-29T00:00:00Z",
                                   "type": "production", "formats": ["application/json"]}]})


@bp.route("/services.<fmt>")
def services(fmt: str):  # type: ignore[no-untyped-def]
    """The public incident categories as Open311 services."""
    _fmt(fmt)
    rows = conn().execute(text(
        "SELECT code, name_en, name_ru, name_uz, default_priority, deadline_hours"
        " FROM incident_category WHERE public ORDER BY code")).mappings()
    return jsonify([{
        "service_code": r["code"], "service_name": r["name_en"],
        "description": f"{r['name_en']} / {r['name_ru']} / {r['name_uz']}; fixed within "
                       f"{r['deadline_hours']} h",
        "metadata": False, "type": "realtime", "keywords": r["code"].replace("_", " "),
        "group": "city services"} for r in rows])


@bp.route("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str):  # type: ignore[no-untyped-def]
    """Service definition (no extra attributes: every service takes the standard fields)."""
    _fmt(fmt)
    ok = conn().execute(text("SELECT 1 FROM incident_category WHERE code = :c AND public"),
                        {"c": code}).first()
    if ok is None:
        raise Open311Error(404, f"service_code {code} not found")
    return jsonify({"service_code": code, "attributes": []})


def _param(name: str) -> str | None:
    v = request.values.get(name)
    return v.strip() if isinstance(v, str) and v.strip() else None


def _api_key() -> str:
    key = _param("api_key")
    header = request.headers.get("Authorization", "")
    if not key and header.lower().startswith("bearer "):
        key = header[7:].strip()
    if not key:
        raise Open311Error(403, "api_key is required to post a service request")
    return key


def _rate_limit(key: str) -> None:
    """Count this post against the key's minute; refuse above settings.open311_rate."""
    limit = settings().open311_rate
    with write("open311") as c:
        n = c.execute(text(
            "INSERT INTO open311_rate (key, minute, n) VALUES (:k, date_trunc('minute', now()), 1)"
            " ON CONFLICT (key, minute) DO UPDATE SET n = open311_rate.n + 1 RETURNING n"),
            {"k": key}).scalar_one()
        if n == 1 and random.random() < 0.05:  # noqa: S311 - housekeeping, not security
            c.execute(text("DELETE FROM open311_rate WHERE minute < now() - interval '1 hour'"))
    if n > limit:
        raise Open311Error(429, f"rate limit: at most {limit} requests per minute per api_key")


@bp.route("/requests.<fmt>", methods=["POST"])
def post_request(fmt: str):  # type: ignore[no-untyped-def]
    """Create a service request (an incident) from an Open311 client."""
    _fmt(fmt)
    key = _api_key()
    try:
        account = accounts.account_for_token(conn(), key)
        conn().commit()
    except NotAuthenticated as exc:
        raise Open311Error(403, "invalid api_key") from exc
    _rate_limit(accounts.token_hash(key))
    code = _param("service_code")
    if not code:
        raise Open311Error(400, "service_code is required")
    lat_s, lon_s = _param("lat"), _param("long")
    if lat_s is None or lon_s is None:
        if _param("address_string") or _param("address_id"):
            raise Open311Error(400, "address lookup is not available here: send lat and long")
        raise Open311Error(400, "lat and long are required")
    try:
        lat, lon = float(lat_s), float(lon_s)
    except ValueError as exc:
        raise Open311Error(400, "lat and long must be decimal degrees (WGS 84)") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Open311Error(400, "lat and long out of range")
    description = _param("description")
    if description and len(description) > 4000:
        raise Open311Error(400, "description is longer than 4000 characters")
    name = " ".join(x for x in (_param("first_name"), _param("last_name")) if x) or None
    with write(f"open311:{account['username']}") as c:
        public, inside = c.execute(text(
            "SELECT EXISTS (SELECT 1 FROM incident_category WHERE code = :c AND public),"
            " EXISTS (SELECT 1 FROM district WHERE ST_Intersects(geom,"
            "   ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 32642)))"),
            {"c": code, "x": lon, "y": lat}).one()
        if not public:
            raise Open311Error(404, f"service_code {code} not found")
        if not inside:
            raise Open311Error(400, "the location is outside the city of Tashkent")
        row = incidents.create(c, code, lon, lat, source="open311",
                               title=(description or code)[:120], description=description,
                               address=_param("address_string"), reporter_name=name,
                               reporter_phone=_param("phone"), reporter_email=_param("email"),
                               full=False)
    notice = f"due by {row['deadline']}" if row.get("deadline") else None
    if row.get("possible_duplicate_of"):
        notice = (notice + "; " if notice else "") + "possibly already reported"
    return jsonify([{"service_request_id": str(row["id"]), "service_notice": notice,
                     "account_id": None}]), 201


REQUEST_SQL = """
SELECT i.id, i.status, i.category, c.name_en AS service_name, i.description, i.title,
       s.name AS agency, i.reported_at, i.updated_at, i.deadline, i.address, i.duplicate_of,
       ST_Y(ST_Transform(i.geom, 4326)) AS lat, ST_X(ST_Transform(i.geom, 4326)) AS lon
  FROM incident i
  JOIN incident_category c ON c.code = i.category AND c.public
  LEFT JOIN service s ON s.id = i.service_id
 WHERE i.visibility = 'public'
"""


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


def _request_json(r: Any) -> dict[str, Any]:
    notes = {"duplicate": f"duplicate of {r['duplicate_of']}", "rejected": "rejected",
             "resolved": "resolved", "closed": "closed"}.get(r["status"], r["status"])
    return {
        "service_request_id": str(r["id"]),
        "status": "open" if r["status"] in incidents.OPEN_STATUSES else "closed",
        "status_notes": notes, "service_name": r["service_name"], "service_code": r["category"],
        "description": r["description"], "agency_responsible": r["agency"],
        "service_notice": None, "requested_datetime": _iso(r["reported_at"]),
        "updated_datetime": _iso(r["updated_at"]), "expected_datetime": _iso(r["deadline"]),
        "address": r["address"], "address_id": None, "zipcode": None,
        "lat": round(r["lat"], 7), "long": round(r["lon"], 7), "media_url": None}


def _date(name: str) -> datetime | None:
    v = _param(name)
    if v is None:
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a W3C date-time, e.g. 2026-11-29T10:00:00Z") from exc


@bp.route("/requests.<fmt>", methods=["GET"])
def get_requests(fmt: str):  # type: ignore[no-untyped-def]
    """Public service requests, newest first (default: the last 90 days, at most 1000)."""
    _fmt(fmt)
    sql = REQUEST_SQL
    params: dict[str, Any] = {}
    ids = _param("service_request_id")
    if ids:
        try:
            params["ids"] = [int(x) for x in ids.split(",") if x.strip()]
        except ValueError as exc:
            raise Open311Error(400, "service_request_id must be a comma-separated list of ids") from exc
        sql += " AND i.id = ANY(:ids)"
    else:
        codes = _param("service_code")
        if codes:
            sql += " AND i.category = ANY(:codes)"
            params["codes"] = codes.split(",")
        start, end = _date("start_date"), _date("end_date")
        if start and end and end < start:
            raise Open311Error(400, "end_date is before start_date")
        if start:
            sql += " AND i.reported_at >= :start"
            params["start"] = start
        else:
            sql += " AND i.reported_at >= coalesce(CAST(:end AS timestamptz), now()) - interval '90 days'"
        if end:
            sql += " AND i.reported_at <= :end"
        params["end"] = end
        status = _param("status")
        if status:
            wanted = set(status.split(","))
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, "status must be open or closed")
            if wanted == {"open"}:
                sql += " AND i.status IN ('new', 'triaged', 'dispatched', 'in_progress')"
            elif wanted == {"closed"}:
                sql += " AND i.status NOT IN ('new', 'triaged', 'dispatched', 'in_progress')"
    sql += " ORDER BY i.reported_at DESC, i.id DESC LIMIT :lim"
    params["lim"] = MAX_REQUESTS
    rows = conn().execute(text(sql), params).mappings()
    return jsonify([_request_json(r) for r in rows])


@bp.route("/requests/<request_id>.<fmt>")
def get_request(request_id: str, fmt: str):  # type: ignore[no-untyped-def]
    """One public service request."""
    _fmt(fmt)
    if not request_id.isdigit():
        raise Open311Error(400, "service_request_id must be a number")
    r = conn().execute(text(REQUEST_SQL + " AND i.id = :i"), {"i": int(request_id)}).mappings().first()
    if r is None:
        raise Open311Error(404, f"service request {request_id} not found")
    return jsonify([_request_json(r)])
