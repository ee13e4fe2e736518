"""Citizen reports from the portal: checked input → an incident on the Open311 path, a tracking
token, photos, subscriptions; the public tracking view without personal data.

The incident itself is made by :func:`cadastre_gis.incidents.create`, so enrichment (district,
parcel, building, service), the deadline, the possible-duplicate link, the timeline and the
live feed are the database's, exactly as for Open311 and the dashboard.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import incidents, photos
from .errors import InvalidInput, NotFound, RateLimited
from .redaction import redact

LANGS = ("uz", "ru", "en")
REPORTS_PER_HOUR = 10
"""Reports accepted per client address and hour (counted only when a report is stored)."""
NEARBY_M = 50.0
DESCRIPTION_MAX = 2000
# Markup or script in free text: refused rather than escaped, so nothing odd is ever stored.
_MARKUP = re.compile(r"<\s*/?\s*[a-z!?]|javascript\s*:|vbscript\s*:|\bon[a-z]+\s*=|&#|\{\{",
                     re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{7,20}$")
_TELEGRAM = re.compile(r"^(@[A-Za-z0-9_]{5,32}|-?[0-9]{5,15})$")


def text_field(value: str | None, name: str, max_len: int, required: bool = False) -> str | None:
    """A free-text form value, stripped; refuses markup/script, control characters, over-long.

    Local stand-in for the shared ``web.validation.text_field`` (same contract), kept in the
    domain so every caller of :func:`submit` gets the same check."""
    v = (value or "").strip()
    if not v:
        if required:
            raise InvalidInput(f"{name} is required", field=name)
        return None
    if len(v) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters", field=name)
    if _CONTROL.search(v) or _MARKUP.search(v):
        raise InvalidInput(f"{name} must be plain text (no HTML or script)", field=name)
    return v


def normalize_phone(v: str) -> str:
    """Digits of a phone number with a leading + (Uzbek numbers get +998)."""
    digits = re.sub(r"\D", "", v)
    if len(digits) == 9:
        digits = "998" + digits
    return "+" + digits


@dataclass(frozen=True)
class Contact:
    """Optional, private contact details of a reporter or subscriber."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    telegram: str | None = None

    @classmethod
    def parse(cls, name: str | None, email: str | None, phone: str | None,
              telegram: str | None = None) -> Contact:
        """Checked contact details (all optional)."""
        nm = text_field(name, "name", 120)
        em = text_field(email, "email", 254)
        if em and not _EMAIL.match(em):
            raise InvalidInput("email does not look like an e-mail address", field="email")
        ph = text_field(phone, "phone", 24)
        if ph:
            if not _PHONE.match(ph):
                raise InvalidInput("phone must be a phone number, e.g. +998 90 123 45 67",
                                   field="phone")
            ph = normalize_phone(ph)
        tg = text_field(telegram, "telegram", 40)
        if tg and not _TELEGRAM.match(tg):
            raise InvalidInput("telegram must be @username or a chat id", field="telegram")
        return cls(nm, em.lower() if em else None, ph, tg)

    def channels(self) -> list[tuple[str, str]]:
        """(channel, address) pairs this contact can be reached on."""
        out = []
        if self.email:
            out.append(("email", self.email))
        if self.phone:
            out.append(("sms", self.phone))
        if self.telegram:
            out.append(("telegram", self.telegram))
        return out


@dataclass(frozen=True)
class ReportInput:
    """A citizen's report, parsed from the form."""

    category: str
    lon: float
    lat: float
    description: str | None
    address: str | None = None
    contact: Contact = field(default_factory=Contact)
    consent: bool = False
    lang: str = "uz"
    account_id: int | None = None
    photos: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def parse(cls, form: dict[str, str], files: list[tuple[str, bytes]], lang: str,
              account_id: int | None = None) -> ReportInput:
        """Check every field; raises :class:`InvalidInput` naming the first bad one."""
        category = (form.get("category") or "").strip()
        if not category:
            raise InvalidInput("choose what kind of problem it is", field="category")
        lon, lat = parse_point(form.get("lon"), form.get("lat"))
        description = text_field(form.get("description"), "description", DESCRIPTION_MAX,
                                 required=True)
        address = text_field(form.get("address"), "address", 200)
        contact = Contact.parse(form.get("name"), form.get("email"), form.get("phone"),
                                form.get("telegram"))
        consent = form.get("consent") in ("1", "on", "yes", "true")
        if consent and not contact.channels():
            raise InvalidInput("to be told about progress, give an e-mail or a phone number",
                               field="consent")
        real = [(n, b) for n, b in files if b]
        if len(real) > photos.MAX_PHOTOS:
            raise InvalidInput(f"at most {photos.MAX_PHOTOS} photos", field="photos")
        return cls(category, lon, lat, description, address, contact, consent,
                   lang if lang in LANGS else "uz", account_id, tuple(real))


def parse_point(lon_s: str | None, lat_s: str | None) -> tuple[float, float]:
    """(lon, lat) from form strings; a clear message when the pin is missing or broken."""
    if not (lon_s or "").strip() or not (lat_s or "").strip():
        raise InvalidInput("place a pin on the map (or use your location) to say where it is",
                           field="location")
    try:
        lon, lat = float(str(lon_s)), float(str(lat_s))
    except ValueError:
        raise InvalidInput("the location must be decimal degrees", field="location") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or lon != lon or lat != lat:
        raise InvalidInput("the location is out of range", field="location")
    return lon, lat


def public_categories(conn: Connection, lang: str = "en") -> list[dict[str, Any]]:
    """Categories a citizen may report, with their name in ``lang``."""
    lang = lang if lang in LANGS else "en"
    rows = conn.execute(text(
        f"SELECT code, name_{lang} AS name, deadline_hours FROM incident_category"
        f" WHERE public ORDER BY name_{lang}")).mappings()
    return [dict(r) for r in rows]


def inside_city(conn: Connection, lon: float, lat: float) -> bool:
    """True when (lon, lat) lies in one of the city's districts."""
    return bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM district WHERE ST_Intersects(geom,"
        " ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 32642)))"),
        {"x": lon, "y": lat}).scalar())


def _check_category(conn: Connection, code: str) -> None:
    ok = conn.execute(text("SELECT 1 FROM incident_category WHERE code = :c AND public"),
                      {"c": code}).first()
    if ok is None:
        raise InvalidInput("choose one of the listed kinds of problem", field="category")


def nearby_open(conn: Connection, category: str, lon: float, lat: float,
                radius_m: float = NEARBY_M, lang: str = "en") -> list[dict[str, Any]]:
    """Open public incidents of ``category`` within ``radius_m`` of the point ("is it one of
    these?"), nearest first; public fields only."""
    lang = lang if lang in LANGS else "en"
    rows = conn.execute(text(f"""
        SELECT i.id, i.status, i.title, i.public_description AS description, i.reported_at,
               c.name_{lang} AS category,
               round(ST_Distance(i.geom, p.g)::numeric, 0) AS distance_m
          FROM incident i
          JOIN incident_category c ON c.code = i.category AND c.public
          CROSS JOIN (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 32642) AS g) p
         WHERE i.category = :c AND i.visibility = 'public' AND i.moderation_status <> 'hidden'
           AND i.status IN ('new', 'triaged', 'dispatched', 'in_progress')
           AND ST_DWithin(i.geom, p.g, :r)
         ORDER BY ST_Distance(i.geom, p.g), i.id LIMIT 10"""),
        {"x": lon, "y": lat, "c": category, "r": radius_m}).mappings()
    return [{"id": r["id"], "status": r["status"], "category": r["category"],
             "title": redact(r["title"]), "description": redact(_short(r["description"])),
             "reported_at": r["reported_at"].isoformat(), "distance_m": float(r["distance_m"])}
            for r in rows]


def _short(v: str | None, n: int = 160) -> str | None:
    return v if v is None or len(v) <= n else v[: n - 1] + "…"


def rate_key(client_address: str) -> str:
    """The rate-limit key of a client address (hashed: the counter table holds no addresses)."""
    return "report:" + hashlib.sha256(client_address.encode()).hexdigest()[:32]


def _count(conn: Connection, key: str, limit: int) -> None:
    n = conn.execute(text(
        "INSERT INTO open311_rate (key, minute, n) VALUES (:k, date_trunc('hour', now()), 1)"
        " ON CONFLICT (key, minute) DO UPDATE SET n = open311_rate.n + 1 RETURNING n"),
        {"k": key}).scalar_one()
    if n > limit:
        raise RateLimited(f"at most {limit} reports per hour from one address; please try later")


def new_token() -> str:
    """An unguessable tracking token (128 bits)."""
    return secrets.token_urlsafe(16)


def submit(conn: Connection, data_dir: Path, rep: ReportInput, client_address: str,
           limit: int = REPORTS_PER_HOUR) -> dict[str, Any]:
    """Store a checked report as an incident with its photos and subscriptions.

    Runs in the caller's transaction: any refusal raises before commit, so nothing is stored.
    Returns ``{"token", "incident_id", "deadline", "possible_duplicate_of"}``."""
    _check_category(conn, rep.category)
    if not inside_city(conn, rep.lon, rep.lat):
        raise InvalidInput("the place is outside the city of Tashkent; move the pin",
                           field="location")
    cleaned = [photos.clean(b, name or f"photo {i + 1}") for i, (name, b) in
               enumerate(rep.photos)]
    _count(conn, rate_key(client_address), limit)
    title = (rep.description or rep.category).splitlines()[0][:120]
    row = incidents.create(conn, rep.category, rep.lon, rep.lat, source="portal", title=title,
                           description=rep.description, address=rep.address,
                           reporter_name=rep.contact.name, reporter_phone=rep.contact.phone,
                           reporter_email=rep.contact.email, full=False)
    incident_id = int(row["id"])
    token = new_token()
    conn.execute(text("INSERT INTO citizen_report (token, incident_id, account_id, lang)"
                      " VALUES (:t, :i, :a, :l)"),
                 {"t": token, "i": incident_id, "a": rep.account_id, "l": rep.lang})
    written: list[Path] = []
    try:
        for p in cleaned:
            rel = photos.store(data_dir, incident_id, p)
            written.append(data_dir / rel)
            conn.execute(text(
                "INSERT INTO incident_photo (incident_id, path, width, height, bytes, sha256)"
                " VALUES (:i, :p, :w, :h, :b, :s) ON CONFLICT (path) DO NOTHING"),
                {"i": incident_id, "p": rel, "w": p.width, "h": p.height, "b": len(p.data),
                 "s": p.sha256})
        if rep.consent:
            for channel, address in rep.contact.channels():
                _subscribe(conn, incident_id, channel, address, rep.lang, "reporter")
    except Exception:
        for f in written:
            f.unlink(missing_ok=True)
        raise
    return {"token": token, "incident_id": incident_id, "deadline": row.get("deadline"),
            "possible_duplicate_of": row.get("possible_duplicate_of")}


def _subscribe(conn: Connection, incident_id: int, channel: str, address: str, lang: str,
               role: str = "subscriber") -> None:
    conn.execute(text(
        "INSERT INTO incident_subscription (incident_id, channel, address, lang, role)"
        " VALUES (:i, :c, :a, :l, :r) ON CONFLICT (incident_id, channel, address)"
        " DO UPDATE SET lang = excluded.lang"),
        {"i": incident_id, "c": channel, "a": address, "l": lang, "r": role})
    # subscribing again is consent again
    conn.execute(text("DELETE FROM notification_optout WHERE channel = :c AND address = :a"),
                 {"c": channel, "a": address})


def token_for(conn: Connection, incident_id: int, lang: str = "uz") -> str:
    """The tracking token of an incident (made on first request, e.g. for a subscriber)."""
    tok = conn.execute(text("SELECT token FROM citizen_report WHERE incident_id = :i"),
                       {"i": incident_id}).scalar()
    if tok:
        return str(tok)
    tok = new_token()
    conn.execute(text("INSERT INTO citizen_report (token, incident_id, lang) VALUES (:t, :i, :l)"
                      " ON CONFLICT (incident_id) DO NOTHING"),
                 {"t": tok, "i": incident_id, "l": lang if lang in LANGS else "uz"})
    return str(conn.execute(text("SELECT token FROM citizen_report WHERE incident_id = :i"),
                            {"i": incident_id}).scalar_one())


def subscribe(conn: Connection, incident_id: int, contact: Contact, lang: str) -> str:
    """Follow an open public incident instead of reporting it again; returns its token."""
    if not contact.channels():
        raise InvalidInput("give an e-mail or a phone number to be told about progress",
                           field="email")
    ok = conn.execute(text(
        "SELECT 1 FROM incident i JOIN incident_category c ON c.code = i.category AND c.public"
        " WHERE i.id = :i AND i.visibility = 'public'"), {"i": incident_id}).first()
    if ok is None:
        raise NotFound(f"no public incident {incident_id}")
    for channel, address in contact.channels():
        _subscribe(conn, incident_id, channel, address, lang)
    return token_for(conn, incident_id, lang)


PUBLIC_KINDS = ("created", "status", "merged")


def tracking(conn: Connection, token: str, lang: str = "en") -> dict[str, Any]:
    """The public tracking view of a report: status, category, place, deadline, timeline with
    redacted notes, approved photos. No names, contacts, actors or private notes."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", token or ""):
        raise NotFound("no such report")
    lang = lang if lang in LANGS else "en"
    row = conn.execute(text(f"""
        SELECT i.id, i.status, i.category, c.name_{lang} AS category_name, i.title,
               i.public_description AS description, i.moderation_status, i.address,
               i.reported_at, i.deadline, i.resolved_at, i.closed_at, i.updated_at,
               i.duplicate_of,
               CASE WHEN :lang = 'ru' THEN coalesce(d.name_ru, d.name) ELSE d.name END AS district,
               CASE WHEN :lang = 'ru' THEN coalesce(s.name_ru, s.name) ELSE s.name END AS service,
               (i.deadline < cadastre_now()
                AND i.status IN ('new', 'triaged', 'dispatched', 'in_progress')) AS overdue,
               ST_X(ST_Transform(i.geom, 4326)) AS lon, ST_Y(ST_Transform(i.geom, 4326)) AS lat,
               (SELECT t.token FROM citizen_report t WHERE t.incident_id = i.duplicate_of)
                 AS duplicate_token
          FROM citizen_report r
          JOIN incident i ON i.id = r.incident_id
          JOIN incident_category c ON c.code = i.category
          LEFT JOIN district d ON d.id = i.district_id
          LEFT JOIN service s ON s.id = i.service_id
         WHERE r.token = :t"""), {"t": token, "lang": lang}).mappings().first()
    if row is None:
        raise NotFound("no such report")
    item = dict(row)
    if item.pop("moderation_status") == "hidden":
        # a moderator hid the text: status and timeline stay, the citizen's words do not
        item["description"] = item["title"] = None
    item["title"] = redact(item["title"])
    item["description"] = redact(item["description"])
    item["address"] = redact(item["address"])
    item["token"] = token
    item["timeline"] = [
        {"at": e["at"], "kind": e["kind"], "from_status": e["from_status"],
         "to_status": e["to_status"], "note": redact(e["note"])}
        for e in conn.execute(text(
            "SELECT at, kind, from_status, to_status, note FROM incident_event"
            " WHERE incident_id = :i AND kind = ANY(:k) ORDER BY id"),
            {"i": item["id"], "k": list(PUBLIC_KINDS)}).mappings()]
    item["photos"] = photo_list(conn, item["id"], public_only=True)
    return item


def photo_list(conn: Connection, incident_id: int, public_only: bool) -> list[dict[str, Any]]:
    """Photos of an incident (only approved ones when ``public_only``)."""
    rows = conn.execute(text(
        "SELECT id, width, height, approved, created_at FROM incident_photo"
        " WHERE incident_id = :i AND (approved OR NOT :pub) ORDER BY id"),
        {"i": incident_id, "pub": public_only}).mappings()
    return [dict(r) for r in rows]


def photo_file(conn: Connection, data_dir: Path, photo_id: int, public_only: bool) -> Path:
    """The stored file of a photo (404 when unknown, or unapproved for the public)."""
    row = conn.execute(text("SELECT path, approved FROM incident_photo WHERE id = :i"),
                       {"i": photo_id}).mappings().first()
    if row is None or (public_only and not row["approved"]):
        raise NotFound("no such photo")
    return photos.resolve(data_dir, row["path"])


def moderate_photo(conn: Connection, photo_id: int, approved: bool, actor: str) -> None:
    """Approve (make public) or withdraw a photo; operators only (checked by the caller)."""
    n = conn.execute(text(
        "UPDATE incident_photo SET approved = :a, approved_by = :u,"
        " approved_at = CASE WHEN :a THEN now() END WHERE id = :i"),
        {"a": approved, "u": actor, "i": photo_id}).rowcount
    if not n:
        raise NotFound("no such photo")


@dataclass(frozen=True)
class ReportFilter:
    """Which reports to list for a signed-in citizen."""

    account_id: int
    open_only: bool = False
    limit: int = 50


def of_account(conn: Connection, f: ReportFilter, lang: str = "en") -> list[dict[str, Any]]:
    """The reports a signed-in citizen made, newest first."""
    lang = lang if lang in LANGS else "en"
    rows = conn.execute(text(f"""
        SELECT r.token, i.id, i.status, c.name_{lang} AS category_name, i.title,
               i.reported_at, i.deadline, i.updated_at
          FROM citizen_report r JOIN incident i ON i.id = r.incident_id
          JOIN incident_category c ON c.code = i.category
         WHERE r.account_id = :a
           AND (NOT :open OR i.status IN ('new', 'triaged', 'dispatched', 'in_progress'))
         ORDER BY r.created_at DESC LIMIT :n"""),
        {"a": f.account_id, "open": f.open_only, "n": f.limit}).mappings()
    return [dict(r) for r in rows]


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v
