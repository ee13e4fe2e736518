"""Open311 GeoReport v2 at /open311/v2/: services, service definitions, service requests.

Every method answers in XML (the specification's default) or JSON, chosen by the ``.xml`` /
``.json`` suffix; errors too (``<errors><error><code/><description/></error></errors>``).
``jurisdiction_id`` is optional; when given it must be ours (:data:`JURISDICTIONS`), else 404.

Reading is open: public categories and public, not hidden incidents only, with the public
text (``incident.public_description``: personal data masked by the database, or a
moderator's edit); reporter contacts never leave. Posting needs an API key (a bearer token
made by ``cadastre-gis tokens create NAME``, as ``api_key`` or ``Authorization: Bearer``),
is rate-limited per key and per calling address (database counters shared by all workers),
and takes a position as ``lat``/``long``, or an ``address_string`` (or a cadastral number
as ``address_id``) placed from the parcel address index.
"""

from __future__ import annotations

import random
import re
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import text

from cadastre_gis import accounts, incidents
from cadastre_gis.errors import CadastreError, InvalidInput, NotAuthenticated
from cadastre_gis.redaction import redact

from .db import conn, settings, write
from .urls import absolute
from .validation import number, text_field

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

MAX_REQUESTS = 1000
JURISDICTIONS = ("tashkent.uz", "tashkent")
"""The ``jurisdiction_id`` values this endpoint answers for (it serves one city)."""
ADDRESS_RATE_FACTOR = 5
"""Posts per minute from one address: this many times ``CADASTRE_OPEN311_RATE``."""
LIMITS = {"description": 4000, "address_string": 500, "address_id": 64, "first_name": 100,
          "last_name": 100, "email": 254, "phone": 40, "device_id": 100, "account_id": 64,
          "media_url": 2000, "service_code": 64, "jurisdiction_id": 64, "api_key": 200,
          "service_request_id": 2000, "status": 20, "start_date": 40, "end_date": 40}
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")
PHONE = re.compile(r"^\+?[0-9 ()./-]{5,40}$")


class Open311Error(Exception):
    """An error answered in the Open311 format: ``[{"code": N, "description": "..."}]``."""

    def __init__(self, status: int, description: str) -> None:
        """Remember the HTTP status and the description."""
        super().__init__(description)
        self.status = status
        self.description = description


def _format() -> str:
    """``xml`` or ``json`` from the path suffix (XML is the specification's default)."""
    path = request.path
    return "json" if path.endswith(".json") else "xml"


def _respond(payload: Any, root: str, item: str, status: int = 200) -> Response:
    """One answer in the format asked for."""
    if _format() == "json":
        resp = jsonify(payload)
        resp.status_code = status
        return resp
    return Response(_to_xml(payload, root, item), status=status,
                    mimetype="text/xml", content_type="text/xml; charset=utf-8")


def _to_xml(payload: Any, root: str, item: str) -> bytes:
    top = ET.Element(root)
    for obj in payload if isinstance(payload, list) else [payload]:
        el = ET.SubElement(top, item) if isinstance(payload, list) else top
        _fill(el, obj)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


def _fill(el: ET.Element, obj: dict[str, Any]) -> None:
    for key, value in obj.items():
        child = ET.SubElement(el, key)
        if isinstance(value, list):
            for v in value:
                sub = ET.SubElement(child, key.rstrip("s") or "item")
                if isinstance(v, dict):
                    _fill(sub, v)
                else:
                    sub.text = _xml_text(v)
        elif isinstance(value, dict):
            _fill(child, value)
        else:
            child.text = _xml_text(value)


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error(status: int, description: str) -> Response:
    return _respond([{"code": status, "description": description}], "errors", "error", status)


@bp.errorhandler(Open311Error)
def _open311_error(exc: Open311Error):  # type: ignore[no-untyped-def]
    return _error(exc.status, exc.description)


@bp.errorhandler(CadastreError)
def _domain_error(exc: CadastreError):  # type: ignore[no-untyped-def]
    return _error(getattr(exc, "status", 400), exc.message)


@bp.before_request
def _jurisdiction() -> None:
    """Check the format suffix and ``jurisdiction_id`` before any method runs."""
    last = request.path.rsplit("/", 1)[-1]
    if "." not in last or last.rsplit(".", 1)[1] not in ("xml", "json"):
        raise Open311Error(404, "unknown format: end the path with .xml or .json")
    jid = _param("jurisdiction_id")
    if jid is not None and jid.lower() not in JURISDICTIONS:
        raise Open311Error(404, f"jurisdiction_id {jid} not found; this endpoint serves"
                                f" {JURISDICTIONS[0]}")


def _param(name: str) -> str | None:
    v = request.values.get(name)
    return text_field(v, name, LIMITS.get(name, 200), multiline=(name == "description"))


@bp.route("/discovery.<fmt>")
def discovery(fmt: str):  # type: ignore[no-untyped-def]
    """Open311 discovery document."""
    base = absolute("/open311/v2/")
    doc = {"changeset": "2026-12-03T00:00:00Z", "contact": "situation center",
           "key_service": "cadastre-gis tokens create NAME",
           "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2",
                          "url": base, "changeset": "2026-12-03T00:00:00Z",
                          "type": "production", "formats": ["text/xml", "application/json"]}]}
    if fmt == "json":
        return jsonify(doc)
    top = ET.Element("discovery")
    for k in ("changeset", "contact", "key_service"):
        ET.SubElement(top, k).text = doc[k]  # type: ignore[assignment]
    eps = ET.SubElement(top, "endpoints")
    for ep in doc["endpoints"]:  # type: ignore[attr-defined]
        e = ET.SubElement(eps, "endpoint")
        for k in ("specification", "url", "changeset", "type"):
            ET.SubElement(e, k).text = ep[k]
        formats = ET.SubElement(e, "formats")
        for f in ep["formats"]:
            ET.SubElement(formats, "format").text = f
    return Response(b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, "utf-8"),
                    content_type="text/xml; charset=utf-8")


@bp.route("/services.<fmt>")
def services(fmt: str):  # type: ignore[no-untyped-def]
    """The public incident categories as Open311 services."""
    rows = conn().execute(text(
        "SELECT code, name_en, name_ru, name_uz, default_priority, deadline_hours"
        " FROM incident_category WHERE public ORDER BY code")).mappings()
    return _respond([{
        "service_code": r["code"], "service_name": r["name_en"],
        "description": f"{r['name_en']} / {r['name_ru']} / {r['name_uz']}; fixed within "
                       f"{r['deadline_hours']} h",
        "metadata": False, "type": "realtime", "keywords": r["code"].replace("_", " "),
        "group": "city services"} for r in rows], "services", "service")


@bp.route("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str):  # type: ignore[no-untyped-def]
    """Service definition (no extra attributes: every service takes the standard fields)."""
    text_field(code, "service_code", LIMITS["service_code"], multiline=False)
    ok = conn().execute(text("SELECT 1 FROM incident_category WHERE code = :c AND public"),
                        {"c": code}).first()
    if ok is None:
        raise Open311Error(404, f"service_code {code} not found")
    return _respond({"service_code": code, "attributes": []}, "service_definition", "")


def _api_key() -> str:
    key = _param("api_key")
    header = request.headers.get("Authorization", "")
    if not key and header.lower().startswith("bearer "):
        key = header[7:].strip()
    if not key:
        raise Open311Error(403, "api_key is required to post a service request")
    return key


def _count(c: Any, key: str) -> int:
    n = c.execute(text(
        "INSERT INTO open311_rate (key, minute, n) VALUES (:k, date_trunc('minute', now()), 1)"
        " ON CONFLICT (key, minute) DO UPDATE SET n = open311_rate.n + 1 RETURNING n"),
        {"k": key}).scalar_one()
    if n == 1 and random.random() < 0.05:  # noqa: S311 - housekeeping, not security
        c.execute(text("DELETE FROM open311_rate WHERE minute < now() - interval '1 hour'"))
    return int(n)


def _rate_limit(key: str) -> None:
    """Count this post against the key's and the address's minute; refuse above the limits."""
    limit = settings().open311_rate
    with write("open311") as c:
        by_key = _count(c, key)
        by_addr = _count(c, f"addr:{request.remote_addr}")
    if by_key > limit:
        raise Open311Error(429, f"rate limit: at most {limit} requests per minute per api_key")
    if by_addr > ADDRESS_RATE_FACTOR * limit:
        raise Open311Error(429, f"rate limit: at most {ADDRESS_RATE_FACTOR * limit} requests"
                                " per minute from one address")


def _geocode(address: str | None, address_id: str | None) -> tuple[float, float]:
    """(lon, lat) of a parcel found by cadastral number (``address_id``) or address text."""
    c = conn()
    if address_id:
        row = c.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) p"
            " FROM parcel WHERE cadastral_number = :n AND status = 'active') s"),
            {"n": address_id}).first()
        if row is None:
            raise Open311Error(400, f"address_id {address_id} is not a known cadastral number")
        return float(row[0]), float(row[1])
    from cadastre_gis.search import SearchQuery, search

    try:
        found = search(c, SearchQuery(q=address or "", limit=1))["results"]
    except InvalidInput as exc:
        raise Open311Error(400, f"address_string could not be placed ({exc.message});"
                                " send lat and long") from exc
    finally:
        c.rollback()
    if not found:
        raise Open311Error(400, "address_string matches no address in Tashkent; send lat and long")
    lon, lat = found[0]["centroid"]
    return float(lon), float(lat)


@bp.route("/requests.<fmt>", methods=["POST"])
def post_request(fmt: str):  # type: ignore[no-untyped-def]
    """Create a service request (an incident) from an Open311 client."""
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
    values = {name: _param(name) for name in ("description", "address_string", "address_id",
                                              "first_name", "last_name", "email", "phone")}
    email, phone = values["email"], values["phone"]
    if email and not EMAIL.match(email):
        raise Open311Error(400, "email is not an e-mail address")
    if phone and not PHONE.match(phone):
        raise Open311Error(400, "phone may hold digits, spaces, + ( ) . - only")
    lat_s, lon_s = _param("lat"), _param("long")
    if lat_s is not None and lon_s is not None:
        lat = number(lat_s, "lat", minimum=-90, maximum=90)
        lon = number(lon_s, "long", minimum=-180, maximum=180)
    elif values["address_string"] or values["address_id"]:
        lon, lat = _geocode(values["address_string"], values["address_id"])
    else:
        raise Open311Error(400, "lat and long (or address_string) are required")
    description = values["description"]
    name = " ".join(x for x in (values["first_name"], values["last_name"]) if x) or None
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
        row = incidents.create(c, code, lon, lat, source="open311",  # type: ignore[arg-type]
                               title=redact((description or code)[:120]),
                               description=description, address=values["address_string"],
                               reporter_name=name, reporter_phone=phone,
                               reporter_email=email, full=False)
    notice = service_notice(row.get("deadline"), row.get("possible_duplicate_of"))
    return _respond([{"service_request_id": str(row["id"]), "service_notice": notice,
                      "account_id": None}], "service_requests", "request", 201)


def service_notice(deadline: Any, possible_duplicate_of: Any) -> str | None:
    """The notice a request carries, the same on POST and on every GET."""
    if isinstance(deadline, str):
        deadline = datetime.fromisoformat(deadline)
    parts = []
    if deadline:
        parts.append(f"due by {deadline.isoformat(timespec='seconds')}")
    if possible_duplicate_of:
        parts.append("possibly already reported")
    return "; ".join(parts) or None


REQUEST_SQL = """
SELECT i.id, i.status, i.category, c.name_en AS service_name, i.public_description,
       s.name AS agency, i.reported_at, i.updated_at, i.deadline, i.address, i.duplicate_of,
       i.possible_duplicate_of,
       ST_Y(ST_Transform(i.geom, 4326)) AS lat, ST_X(ST_Transform(i.geom, 4326)) AS lon
  FROM incident i
  JOIN incident_category c ON c.code = i.category AND c.public
  LEFT JOIN service s ON s.id = i.service_id
 WHERE i.visibility = 'public' AND i.moderation_status <> 'hidden'
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
        "description": r["public_description"], "agency_responsible": r["agency"],
        "service_notice": service_notice(r["deadline"], r["possible_duplicate_of"]),
        "requested_datetime": _iso(r["reported_at"]),
        "updated_datetime": _iso(r["updated_at"]), "expected_datetime": _iso(r["deadline"]),
        "address": redact(r["address"]), "address_id": None, "zipcode": None,
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
    sql = REQUEST_SQL
    params: dict[str, Any] = {}
    ids = _param("service_request_id")
    if ids:
        parts = [x.strip() for x in ids.split(",") if x.strip()]
        if not parts or len(parts) > MAX_REQUESTS or not all(x.isdigit() and len(x) < 19
                                                             for x in parts):
            raise Open311Error(400, "service_request_id must be a comma-separated list of ids")
        params["ids"] = [int(x) for x in parts]
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
            sql += " AND i.reported_at >= coalesce(CAST(:end AS timestamptz), cadastre_now()) - interval '90 days'"
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
    return _respond([_request_json(r) for r in rows], "service_requests", "request")


@bp.route("/requests/<request_id>.<fmt>")
def get_request(request_id: str, fmt: str):  # type: ignore[no-untyped-def]
    """One public service request."""
    if not request_id.isdigit() or len(request_id) > 18:
        raise Open311Error(400, "service_request_id must be a number")
    r = conn().execute(text(REQUEST_SQL + " AND i.id = :i"), {"i": int(request_id)}).mappings().first()
    if r is None:
        raise Open311Error(404, f"service request {request_id} not found")
    return _respond([_request_json(r)], "service_requests", "request")
