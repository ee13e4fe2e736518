"""Signed parcel extracts: content as of an instant, issue, log, verification, bans, requests.

The extract content is assembled from the current tables and the history tables
(``parcel_history``, ``building_history``, ``right_history``): a row counts at instant ``t``
when ``valid_from <= t < valid_to`` (or ``valid_to`` is NULL). The content is signed in its
canonical JSON form (sorted keys, no whitespace, UTF-8) with the current Ed25519 key.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import click
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient
from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import clock, signing
from .cadastral import PARCEL_NUMBER
from .errors import InvalidCadastralNumber, InvalidInput, NotFound
from .schema import SRID
from .settings import Settings

EXTRACT_NUMBER = re.compile(r"^EX-[0-9]{4}-[0-9]{7}-[0-9A-Z]{4}$")
CASE_NUMBER = re.compile(r"^[\w./:#№ -]{1,64}$", re.UNICODE)
TASHKENT = ZoneInfo("Asia/Tashkent")
FORMATS = ("json", "pdf")
DOC_TYPE = "cadastre-gis/parcel-extract"
ENCUMBRANCE_KINDS = ("mortgage", "arrest", "lease", "servitude", "permanent_use")
BAN_KINDS = ("arrest", "mortgage")
NEIGHBOUR_DISTANCE_M = 5.0
_ALNUM = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


# ---- input ------------------------------------------------------------------------------
def check_number(number: Any) -> str:
    """Return a valid parcel cadastral number or raise InvalidCadastralNumber."""
    if not isinstance(number, str) or not PARCEL_NUMBER.match(number.strip()):
        raise InvalidCadastralNumber(
            f"cadastral number {number!r} is not in the form 10:09:03:01:01:0045")
    return number.strip()


def parse_as_of(value: Any, now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 instant or date (a date means the end of that day in Tashkent)."""
    now = now or datetime.now(UTC)
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        raise InvalidInput("as_of must be an ISO 8601 date or date-time string")
    raw = value.strip()
    is_date = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw))
    try:
        if is_date:
            d = date.fromisoformat(raw)
            t = datetime.combine(d + timedelta(days=1), time(0), TASHKENT) - timedelta(microseconds=1)
        else:
            t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=TASHKENT)
    except ValueError as exc:
        raise InvalidInput(f"as_of {value!r} is not an ISO 8601 date or date-time") from exc
    t = t.astimezone(UTC)
    if t > now:
        # today's date (or a clock a little ahead) means "now"; a later instant is refused
        today = now.astimezone(TASHKENT).date()
        if (is_date and d > today) or (not is_date and t > now + timedelta(seconds=60)):
            raise InvalidInput("as_of lies in the future")
        t = now
    if t.year < 1900:
        raise InvalidInput("as_of is before 1900")
    return t


def check_case_number(value: Any) -> str:
    """The notarial case number: required, 1-64 printable characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("case_number (the notarial case number) is required")
    v = value.strip()
    if not CASE_NUMBER.match(v):
        raise InvalidInput("case_number: 1-64 letters, digits, spaces or . / : # № -")
    return v


def check_purpose(value: Any) -> str | None:
    """Optional purpose of the request (sale, gift, mortgage...), at most 200 characters."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInput("purpose must be text of at most 200 characters")
    return value.strip() or None


def check_format(value: Any) -> str:
    """``json`` (default) or ``pdf``."""
    v = (value or "json")
    if not isinstance(v, str) or v.lower() not in FORMATS:
        raise InvalidInput("format must be json or pdf")
    return v.lower()


# ---- helpers ----------------------------------------------------------------------------
def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _day(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _money(v: Decimal | int | None) -> str | None:
    return None if v is None else f"{Decimal(v):.2f}"


def _area(v: Decimal | float | None) -> float | None:
    return None if v is None else round(float(v), 2)


@lru_cache(maxsize=4)
def _transformer(target: int) -> Transformer:
    return Transformer.from_crs(f"EPSG:{SRID}", f"EPSG:{target}", always_xy=True)


def _sk42(x: float, y: float) -> tuple[float, float]:
    """SK-42 GK zone 12 (EPSG:28412) as surveyors write it: X north, Y east (metres)."""
    east, north = _transformer(28412).transform(x, y)
    return round(north, 2), round(east, 2)


def _wgs84(x: float, y: float) -> tuple[float, float]:
    lon, lat = _transformer(4326).transform(x, y)
    return round(lat, 7), round(lon, 7)


def _polygons(geom: Any) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return []


def _ring_sk42(coords: Any) -> list[list[float]]:
    pts = [list(_sk42(x, y)) for x, y in list(coords)[:-1]]
    return pts


def boundary_points(geom: Any) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """Numbered boundary points (clockwise from the north-west corner) and rings of numbers."""
    points: list[dict[str, Any]] = []
    rings: list[list[int]] = []
    for poly in _polygons(geom):
        poly = orient(poly, sign=-1.0)  # exterior clockwise, as on survey plans
        for ring in [poly.exterior, *poly.interiors]:
            coords = list(ring.coords)[:-1]
            if not coords:
                continue
            start = max(range(len(coords)), key=lambda i: (round(coords[i][1], 1), -coords[i][0]))
            coords = coords[start:] + coords[:start]
            nums = []
            for x, y in coords:
                n = len(points) + 1
                gx, gy = _sk42(x, y)
                lat, lon = _wgs84(x, y)
                points.append({"n": n, "x": gx, "y": gy, "lat": lat, "lon": lon})
                nums.append(n)
            rings.append(nums)
    return points, rings


def _doc(row: Any, prefix: str = "doc_") -> dict[str, Any] | None:
    m = row._mapping
    if m.get(prefix + "id") is None:
        return None
    return {"kind": m[prefix + "kind"], "number": m[prefix + "number"],
            "issued_on": _day(m[prefix + "issued_on"]), "issuer": m[prefix + "issuer"],
            "title": m[prefix + "title"]}


def _identifier(kind: str | None, pinfl: str | None, inn: str | None) -> dict[str, str] | None:
    if kind == "person" and pinfl:
        return {"type": "PINFL", "value": pinfl}
    if inn:
        return {"type": "INN", "value": inn}
    return None


# ---- content ----------------------------------------------------------------------------
_VERSION_COLS = ("id, version, cadastral_number, district_id, address, land_category, permitted_use,"
                 " declared_area_m2, area_m2, cadastral_value, status, valid_from, valid_to, geom")


def parcel_version(conn: Connection, number: str, as_of: datetime) -> dict[str, Any]:
    """The parcel row (current or historic) in force at ``as_of``, or NotFound."""
    row = conn.execute(text(f"""
        SELECT v.*, ST_AsBinary(v.geom) AS wkb FROM (
          SELECT {_VERSION_COLS} FROM parcel WHERE cadastral_number = :n
          UNION ALL
          SELECT {_VERSION_COLS} FROM parcel_history WHERE cadastral_number = :n
        ) v
        WHERE v.valid_from <= :t AND (v.valid_to IS NULL OR v.valid_to > :t)
        ORDER BY (v.status = 'active') DESC, v.version DESC LIMIT 1"""),
        {"n": number, "t": as_of}).first()
    if row is None:
        known = conn.execute(text("SELECT min(valid_from), max(coalesce(valid_to, 'infinity'))"
                                  " FROM parcel WHERE cadastral_number = :n"), {"n": number}).first()
        if known is None or known[0] is None:
            raise NotFound(f"no parcel {number}")
        raise NotFound(f"parcel {number} was not registered on {_iso(as_of)}")
    return dict(row._mapping)


def assemble(conn: Connection, number: str, as_of: datetime) -> dict[str, Any]:
    """Extract content (without issue data) for parcel ``number`` as of ``as_of``."""
    number = check_number(number)
    p = parcel_version(conn, number, as_of)
    pid = p["id"]
    geom = shapely.from_wkb(bytes(p["wkb"]))
    t = {"t": as_of, "pid": pid}

    ref = conn.execute(text("""
        SELECT d.code AS d_code, d.name AS d_name, d.name_ru AS d_name_ru,
               lc.name_en AS lc_en, lc.name_ru AS lc_ru, lc.name_uz AS lc_uz,
               pu.name_en AS pu_en, pu.name_ru AS pu_ru, pu.name_uz AS pu_uz
          FROM (SELECT 1) x
          LEFT JOIN district d ON d.id = :d
          LEFT JOIN land_category lc ON lc.code = :lc
          LEFT JOIN permitted_use pu ON pu.code = :pu"""),
        {"d": p["district_id"], "lc": p["land_category"], "pu": p["permitted_use"]}).one()._mapping

    bcols = ("id, cadastral_number, parcel_id, building_use, floors, year_built, floor_area_m2,"
             " footprint_m2, cadastral_value, status, valid_from, valid_to, version, geom")
    brows = conn.execute(text(f"""
        SELECT b.*, ST_AsBinary(b.geom) AS wkb FROM (
          SELECT {bcols} FROM building WHERE parcel_id = :pid
          UNION ALL
          SELECT {bcols} FROM building_history WHERE parcel_id = :pid
        ) b WHERE b.valid_from <= :t AND (b.valid_to IS NULL OR b.valid_to > :t)
        ORDER BY b.cadastral_number, b.version DESC"""), t).all()
    buildings: list[dict[str, Any]] = []
    bgeoms: dict[int, Any] = {}
    seen_b: set[int] = set()
    for b in brows:
        if b.id in seen_b:
            continue
        seen_b.add(b.id)
        bgeoms[b.id] = shapely.from_wkb(bytes(b.wkb))
        buildings.append({"cadastral_number": b.cadastral_number, "use": b.building_use,
                          "floors": b.floors, "year_built": b.year_built,
                          "floor_area_m2": _area(b.floor_area_m2),
                          "footprint_m2": _area(b.footprint_m2),
                          "cadastral_value_uzs": _money(b.cadastral_value), "owners": [],
                          "_id": b.id})
    bids = list(seen_b)
    bnum = {b["_id"]: b["cadastral_number"] for b in buildings}

    rcols = ("id, kind, party_id, parcel_id, building_id, share_num, share_den, holder, amount_uzs,"
             " registration_number, starts_on, ends_on, status, note, source_document_id,"
             " valid_from, valid_to, version")
    rrows = conn.execute(text(f"""
        SELECT r.*, pa.kind AS party_kind, pa.full_name, pa.pinfl, pa.inn,
               sd.id AS doc_id, sd.kind AS doc_kind, sd.number AS doc_number,
               sd.issued_on AS doc_issued_on, sd.issuer AS doc_issuer, sd.title AS doc_title
          FROM (
            SELECT {rcols} FROM "right" WHERE parcel_id = :pid OR building_id = ANY(:bids)
            UNION ALL
            SELECT {rcols} FROM right_history WHERE parcel_id = :pid OR building_id = ANY(:bids)
          ) r
          LEFT JOIN party pa ON pa.id = r.party_id
          LEFT JOIN source_document sd ON sd.id = r.source_document_id
         WHERE r.valid_from <= :t AND (r.valid_to IS NULL OR r.valid_to > :t)
           -- in force on that day: a lease or mortgage past its end date no longer binds
           AND (r.ends_on IS NULL
                OR r.ends_on >= (CAST(:t AS timestamptz) AT TIME ZONE 'Asia/Tashkent')::date)
         ORDER BY r.kind, r.starts_on NULLS LAST, r.id, r.version DESC"""),
        {**t, "bids": bids}).all()
    owners: list[dict[str, Any]] = []
    encumbrances: list[dict[str, Any]] = []
    seen_r: set[int] = set()
    total = Fraction(0)
    for r in rrows:
        if r.id in seen_r:
            continue
        seen_r.add(r.id)
        obj = number if r.parcel_id == pid else bnum.get(r.building_id)
        party = None
        if r.party_id is not None:
            party = {"name": r.full_name, "kind": r.party_kind,
                     "identifier": _identifier(r.party_kind, r.pinfl, r.inn)}
        common = {"registration_number": r.registration_number, "starts_on": _day(r.starts_on),
                  "ends_on": _day(r.ends_on), "document": _doc(r), "right_id": r.id}
        if r.kind == "ownership":
            share = Fraction(r.share_num, r.share_den)
            entry = {**party, "share": f"{share.numerator}/{share.denominator}",
                     "share_num": share.numerator, "share_den": share.denominator,
                     **common} if party else {**common}
            if r.parcel_id == pid:
                owners.append(entry)
                total += share
            else:
                for bd in buildings:
                    if bd["_id"] == r.building_id:
                        bd["owners"].append(entry)
        else:
            encumbrances.append({"kind": r.kind, "object": obj, "holder": r.holder or
                                 (party["name"] if party else None), "party": party,
                                 "amount_uzs": _money(r.amount_uzs), "note": r.note,
                                 "status_at_as_of": "in force", **common})
    for bd in buildings:
        bd.pop("_id")

    lineage = conn.execute(text("""
        WITH RECURSIVE up(id, depth) AS (
            SELECT CAST(:pid AS bigint), 0
          UNION
            SELECT l.parent_id, up.depth + 1 FROM parcel_lineage l JOIN up ON l.child_id = up.id
             WHERE up.depth < 20)
        SELECT p.cadastral_number, l.kind, l.created_at, up.depth
          FROM up JOIN parcel_lineage l ON l.parent_id = up.id
          JOIN parcel p ON p.id = up.id
         WHERE up.depth > 0
         ORDER BY up.depth, p.cadastral_number"""), {"pid": pid}).all()
    previous = []
    seen_n: set[str] = set()
    for row in lineage:
        if row.cadastral_number in seen_n:
            continue
        seen_n.add(row.cadastral_number)
        previous.append({"cadastral_number": row.cadastral_number, "event": row.kind,
                         "date": _day(row.created_at.date()), "generation": row.depth})
    successors = [{"cadastral_number": r.cadastral_number, "event": r.kind,
                   "date": _day(r.created_at.date())} for r in conn.execute(text("""
        SELECT c.cadastral_number, l.kind, l.created_at FROM parcel_lineage l
          JOIN parcel c ON c.id = l.child_id WHERE l.parent_id = :pid
         ORDER BY c.cadastral_number"""), {"pid": pid})]

    nrows = conn.execute(text("""
        SELECT n.cadastral_number, ST_AsBinary(n.geom) AS wkb FROM parcel n
         WHERE n.id <> :pid AND n.geom && ST_Expand(ST_GeomFromWKB(:g, :srid), :d)
           AND ST_DWithin(n.geom, ST_GeomFromWKB(:g, :srid), :d)
           AND n.valid_from <= :t AND (n.valid_to IS NULL OR n.valid_to > :t)
         ORDER BY n.cadastral_number LIMIT 40"""),
        {"pid": pid, "g": bytes(p["wkb"]), "srid": SRID, "d": NEIGHBOUR_DISTANCE_M,
         "t": as_of}).all()
    neighbours = []
    for n in nrows:
        polys = _polygons(shapely.from_wkb(bytes(n.wkb)))
        if polys:
            neighbours.append({"cadastral_number": n.cadastral_number,
                               "outline": _ring_sk42(polys[0].exterior.coords)})

    points, rings = boundary_points(geom)
    plan = {
        "crs": "EPSG:28412",
        "crs_name": "SK-42 (Pulkovo 1942) Gauss-Krüger zone 12",
        "axis_order": "x north, y east (metres); lat/lon WGS 84 (EPSG:4326, degrees)",
        "boundary_points": points,
        "parcel_rings": rings,
        "buildings": [{"cadastral_number": bnum[bid], "outline": _ring_sk42(poly.exterior.coords)}
                      for bid, g in bgeoms.items() for poly in _polygons(g)],
        "neighbours": neighbours,
    }
    return {
        "parcel": {
            # a retired parcel was active during its lifespan, which contains as_of
            "cadastral_number": number,
            "status": "active" if p["status"] == "retired" else p["status"],
            "retired_at": _iso(p["valid_to"]) if p["status"] == "retired" else None,
            "version": p["version"],
            "registered_version_since": _iso(p["valid_from"]),
            "address": p["address"],
            "district": {"code": ref["d_code"], "name": ref["d_name"], "name_ru": ref["d_name_ru"]},
            "area_m2": _area(p["area_m2"] if p["area_m2"] is not None else geom.area),
            "declared_area_m2": _area(p["declared_area_m2"]),
            "land_category": {"code": p["land_category"], "en": ref["lc_en"], "ru": ref["lc_ru"],
                              "uz": ref["lc_uz"]},
            "permitted_use": {"code": p["permitted_use"], "en": ref["pu_en"], "ru": ref["pu_ru"],
                              "uz": ref["pu_uz"]},
            "cadastral_value_uzs": _money(p["cadastral_value"]),
        },
        "buildings": buildings,
        "owners": owners,
        "shares_total": f"{total.numerator}/{total.denominator}" if total != 1 else "1",
        "encumbrances": encumbrances,
        "lineage": {"previous_numbers": previous, "successor_numbers": successors},
        "plan": plan,
    }


# ---- issue ------------------------------------------------------------------------------
@dataclass
class Issued:
    """An issued extract: the signed content and, for PDF, the document and its signature."""

    number: str
    content: dict[str, Any]
    canonical: bytes
    signature: dict[str, str]
    format: str
    pdf: bytes | None = None
    pdf_signature: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The JSON a client receives: content plus detached signature."""
        return {"extract": self.content, "signature": self.signature,
                "content_sha256": self.signature["sha256"],
                "verification_url": self.content["verification_url"]}


def verification_url(settings: Settings, number: str) -> str:
    """Public verification page of an extract.

    ``CADASTRE_BASE_URL`` when set, else the current request's checked public address
    (``context.base_url()``, set by the web layer), else ``http://CADASTRE_HOST:PORT``.
    """
    from . import context

    base = settings.base_url or context.base_url() or f"http://{settings.host}:{settings.port}"
    return f"{base.rstrip('/')}/extracts/{number}"


def _new_number(conn: Connection, year: int) -> str:
    seq = conn.execute(text("SELECT nextval('extract_number_seq')")).scalar_one()
    suffix = "".join(secrets.choice(_ALNUM) for _ in range(4))
    return f"EX-{year:04d}-{seq:07d}-{suffix}"


def issue(conn: Connection, settings: Settings, *, account: dict[str, Any], cadastral_number: Any,
          as_of: Any = None, case_number: Any = None, purpose: Any = None, fmt: Any = "json",
          remote_addr: str | None = None) -> Issued:
    """Validate, assemble, sign, record and log one extract in the caller's transaction."""
    number = check_number(cadastral_number)
    case = check_case_number(case_number)
    why = check_purpose(purpose)
    out = check_format(fmt)
    # the registry clock: an extract "as of now" sees the state the registry holds now
    issued_at = clock.now(conn).astimezone(UTC).replace(microsecond=0)
    t = parse_as_of(as_of, now=issued_at)
    body = assemble(conn, number, t)
    ext_no = _new_number(conn, issued_at.year)
    content = {
        "type": DOC_TYPE, "schema_version": 1,
        "extract_number": ext_no, "issued_at": _iso(issued_at), "as_of": _iso(t),
        "issuer": "Toshkent shahar kadastr xizmati / Tashkent city cadastre",
        "verification_url": verification_url(settings, ext_no),
        "request": {"requested_by": {"username": account["username"],
                                     "full_name": account.get("full_name"),
                                     "role": account["role"]},
                    "case_number": case, "purpose": why, "format": out},
        "fees": {"currency": "UZS", "state_duty": _money(settings.state_duty_uzs),
                 "service_fee": _money(settings.service_fee_uzs),
                 "total": _money(settings.state_duty_uzs + settings.service_fee_uzs)},
        **body,
    }
    data, sig = signing.sign(settings, content)
    issued = Issued(ext_no, content, data, sig, out)
    pdf_sha = pdf_sig_value = None
    if out == "pdf":
        from .extract_pdf import render

        issued.pdf = render(content, sig, settings)
        issued.pdf_signature = signing.sign_bytes(settings, issued.pdf)
        pdf_sha, pdf_sig_value = issued.pdf_signature["sha256"], issued.pdf_signature["value"]
    pid = conn.execute(text(
        "SELECT id FROM parcel WHERE cadastral_number = :n ORDER BY (status = 'active') DESC,"
        " valid_from DESC LIMIT 1"), {"n": number}).scalar_one()
    conn.execute(text("""
        INSERT INTO extract (number, parcel_id, cadastral_number, as_of, issued_at, account_id,
          requested_by, case_number, purpose, format, content, content_sha256, signature, key_id,
          pdf_sha256, pdf_signature, state_duty_uzs, service_fee_uzs)
        VALUES (:no, :pid, :cn, :as_of, :at, :acc, :by, :case, :purpose, :fmt, :content, :sha,
          :sig, :kid, :pdf_sha, :pdf_sig, :duty, :fee)"""),
        {"no": ext_no, "pid": pid, "cn": number, "as_of": t, "at": issued_at,
         "acc": account.get("id"), "by": account["username"], "case": case, "purpose": why,
         "fmt": out, "content": data.decode("utf-8"), "sha": sig["sha256"], "sig": sig["value"],
         "kid": sig["key_id"], "pdf_sha": pdf_sha, "pdf_sig": pdf_sig_value,
         "duty": settings.state_duty_uzs, "fee": settings.service_fee_uzs})
    log_request(conn, account=account, cadastral_number=number, parcel_id=pid, case_number=case,
                purpose=why, as_of=t, fmt=out, outcome="issued", extract_number=ext_no,
                remote_addr=remote_addr)
    return issued


def log_request(conn: Connection, *, account: dict[str, Any] | None, cadastral_number: Any,
                outcome: str, parcel_id: int | None = None, case_number: Any = None,
                purpose: Any = None, as_of: datetime | None = None, fmt: Any = None,
                detail: str | None = None, extract_number: str | None = None,
                remote_addr: str | None = None) -> None:
    """Write one row of the extract request log."""
    cn = cadastral_number if isinstance(cadastral_number, str) else None
    if parcel_id is None and cn and PARCEL_NUMBER.match(cn.strip()):
        parcel_id = conn.execute(text(
            "SELECT id FROM parcel WHERE cadastral_number = :n ORDER BY (status = 'active') DESC,"
            " valid_from DESC LIMIT 1"), {"n": cn.strip()}).scalar()

    def _short(v: Any, n: int) -> str | None:
        return None if v is None else str(v)[:n]

    conn.execute(text("""
        INSERT INTO extract_request_log (account_id, username, role, cadastral_number, parcel_id,
          case_number, purpose, as_of, format, outcome, detail, extract_number, remote_addr)
        VALUES (:acc, :user, :role, :cn, :pid, :case, :purpose, :as_of, :fmt, :outcome, :detail,
          :ext, :addr)"""),
        {"acc": account.get("id") if account else None,
         "user": account.get("username") if account else None,
         "role": account.get("role") if account else None, "cn": _short(cn, 40), "pid": parcel_id,
         "case": _short(case_number, 64), "purpose": _short(purpose, 200), "as_of": as_of,
         "fmt": _short(fmt, 8), "outcome": outcome, "detail": _short(detail, 300),
         "ext": extract_number, "addr": remote_addr})


# ---- verification -----------------------------------------------------------------------
def _record(conn: Connection, number: str) -> Any:
    return conn.execute(text(
        "SELECT number, cadastral_number, as_of, issued_at, format, content, content_sha256,"
        " signature, key_id, pdf_sha256, pdf_signature, revoked_at, revoked_reason"
        " FROM extract WHERE number = :n"), {"n": number}).first()


def public_status(conn: Connection, settings: Settings, number: str) -> dict[str, Any]:
    """What anyone may know about an extract: validity, times, parcel number, hashes."""
    if not isinstance(number, str) or not EXTRACT_NUMBER.match(number):
        raise NotFound("no such extract")
    rec = _record(conn, number)
    if rec is None:
        raise NotFound("no such extract")
    data = rec.content.encode("utf-8")
    intact = signing.sha256(data) == rec.content_sha256 and signing.verify_bytes(
        settings, data, rec.signature, rec.key_id)
    status = "revoked" if rec.revoked_at else ("valid" if intact else "invalid")
    return {"extract_number": rec.number, "valid": status == "valid", "status": status,
            "issued_at": _iso(rec.issued_at), "as_of": _iso(rec.as_of),
            "cadastral_number": rec.cadastral_number, "format": rec.format,
            "content_sha256": rec.content_sha256, "pdf_sha256": rec.pdf_sha256,
            "key_id": rec.key_id, "signature_algorithm": signing.ALG,
            "revoked_at": _iso(rec.revoked_at), "revoked_reason": rec.revoked_reason}


def _result(result: str, reason: str, number: str | None = None,
            status: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"result": result, "reason": reason, "extract_number": number}
    if status:
        out.update({k: status[k] for k in ("issued_at", "cadastral_number", "content_sha256",
                                           "key_id", "status")})
    return out


def verify_document(conn: Connection, settings: Settings, content: Any,
                    signature: Any) -> dict[str, Any]:
    """Check extract content plus its detached signature: authentic, tampered or unknown."""
    if not isinstance(content, dict):
        return _result("unknown", "not an extract document")
    number = content.get("extract_number")
    if not isinstance(number, str) or not EXTRACT_NUMBER.match(number):
        return _result("unknown", "no extract number in the document")
    rec = _record(conn, number)
    if rec is None:
        return _result("unknown", "no extract with this number was issued here", number)
    status = public_status(conn, settings, number)
    data = signing.canonical(content)
    if isinstance(signature, str):
        signature = {"alg": signing.ALG, "key_id": rec.key_id, "value": signature}
    if not isinstance(signature, dict):
        return _result("tampered", "the signature is missing or malformed", number, status)
    if signing.sha256(data) != rec.content_sha256:
        return _result("tampered", "the content differs from the issued extract", number, status)
    if not signing.verify_bytes(settings, data, signature):
        return _result("tampered", "the signature does not match the content", number, status)
    if rec.revoked_at:
        return _result("tampered", "the extract was revoked", number, status)
    return _result("authentic", "signature valid and content identical to the issued extract",
                   number, status)


def verify_pdf(conn: Connection, settings: Settings, pdf: bytes) -> dict[str, Any]:
    """Check an extract PDF: byte-identical to the issued one, or what changed."""
    from .extract_pdf import embedded

    sha = signing.sha256(pdf)
    rec = conn.execute(text("SELECT number, pdf_signature, key_id FROM extract"
                            " WHERE pdf_sha256 = :s"), {"s": sha}).first()
    if rec is not None:
        status = public_status(conn, settings, rec.number)
        if not signing.verify_bytes(settings, pdf, rec.pdf_signature, rec.key_id):
            return _result("tampered", "the PDF signature does not verify", rec.number, status)
        if not status["valid"]:
            return _result("tampered", f"the extract is {status['status']}", rec.number, status)
        return _result("authentic", "PDF identical to the issued, signed extract", rec.number,
                       status)
    found = embedded(pdf)
    if found is None:
        return _result("unknown", "not an extract PDF issued here (no signed content inside)")
    content, signature = found
    res = verify_document(conn, settings, content, signature)
    if res["result"] == "authentic":
        return _result("tampered", "the signed content inside is intact, but the PDF itself was"
                       " changed after issue", res["extract_number"], res)
    return res


# ---- listings -----------------------------------------------------------------------------
def extracts_of_account(conn: Connection, account_id: int, limit: int = 200) -> dict[str, Any]:
    """A notary's extracts with fees, newest first, and the totals."""
    rows = conn.execute(text("""
        SELECT number, cadastral_number, issued_at, as_of, case_number, purpose, format,
               state_duty_uzs, service_fee_uzs, revoked_at
          FROM extract WHERE account_id = :a ORDER BY issued_at DESC, id DESC LIMIT :l"""),
        {"a": account_id, "l": limit}).all()
    tot = conn.execute(text("SELECT count(*), coalesce(sum(state_duty_uzs), 0),"
                            " coalesce(sum(service_fee_uzs), 0) FROM extract WHERE account_id = :a"),
                       {"a": account_id}).one()
    items = [{"extract_number": r.number, "cadastral_number": r.cadastral_number,
              "issued_at": _iso(r.issued_at), "as_of": _iso(r.as_of),
              "case_number": r.case_number, "purpose": r.purpose, "format": r.format,
              "state_duty_uzs": _money(r.state_duty_uzs), "service_fee_uzs": _money(r.service_fee_uzs),
              "total_uzs": _money(r.state_duty_uzs + r.service_fee_uzs),
              "revoked": r.revoked_at is not None} for r in rows]
    return {"extracts": items, "count": tot[0], "state_duty_uzs": _money(tot[1]),
            "service_fee_uzs": _money(tot[2]), "total_uzs": _money(tot[1] + tot[2])}


def stored_document(conn: Connection, number: str, account_id: int | None) -> dict[str, Any]:
    """The issued JSON document (content + signature) of an extract; ``account_id`` must own it."""
    import json

    row = conn.execute(text("SELECT content, content_sha256, signature, key_id, account_id"
                            " FROM extract WHERE number = :n"), {"n": number}).first()
    if row is None or (account_id is not None and row.account_id != account_id):
        raise NotFound("no such extract among yours")
    content = json.loads(row.content)
    return {"extract": content,
            "signature": {"alg": signing.ALG, "key_id": row.key_id, "value": row.signature,
                          "sha256": row.content_sha256},
            "content_sha256": row.content_sha256, "verification_url": content["verification_url"]}


def active_encumbrances(conn: Connection, number: str) -> dict[str, Any]:
    """Arrests (bans) and mortgages in force now on a parcel and its buildings."""
    number = check_number(number)
    pid = conn.execute(text("SELECT id FROM parcel WHERE cadastral_number = :n AND status = 'active'"),
                       {"n": number}).scalar()
    if pid is None:
        raise NotFound(f"no active parcel {number}")
    rows = conn.execute(text("""
        SELECT r.kind, r.holder, pa.full_name, r.registration_number, r.amount_uzs, r.starts_on,
               r.ends_on, coalesce(p.cadastral_number, b.cadastral_number) AS object,
               sd.kind AS doc_kind, sd.number AS doc_number, sd.issued_on AS doc_issued_on
          FROM "right" r
          LEFT JOIN parcel p ON p.id = r.parcel_id
          LEFT JOIN building b ON b.id = r.building_id
          LEFT JOIN party pa ON pa.id = r.party_id
          LEFT JOIN source_document sd ON sd.id = r.source_document_id
         WHERE r.status = 'active' AND r.kind IN ('arrest', 'mortgage')
           AND (r.parcel_id = :pid OR r.building_id IN (SELECT id FROM building WHERE parcel_id = :pid
                                                        AND status = 'active'))
           AND (r.starts_on IS NULL OR r.starts_on <= cadastre_today())
           AND (r.ends_on IS NULL OR r.ends_on >= cadastre_today())
         ORDER BY r.kind, r.starts_on"""), {"pid": pid}).all()
    items = [{"kind": r.kind, "object": r.object, "holder": r.holder or r.full_name,
              "registration_number": r.registration_number, "amount_uzs": _money(r.amount_uzs),
              "starts_on": _day(r.starts_on), "ends_on": _day(r.ends_on),
              "document": {"kind": r.doc_kind, "number": r.doc_number,
                           "issued_on": _day(r.doc_issued_on)} if r.doc_kind else None}
             for r in rows]
    checked_at = clock.now(conn).astimezone(UTC)
    return {"cadastral_number": number, "checked_at": _iso(checked_at),
            "arrested": any(i["kind"] == "arrest" for i in items),
            "mortgaged": any(i["kind"] == "mortgage" for i in items),
            "encumbrances": items}


def requests_about_party(conn: Connection, party_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """Who asked for extracts of property the party owned at the time of the request."""
    rows = conn.execute(text("""
        SELECT DISTINCT ON (l.id) l.at, l.cadastral_number, l.username, a.full_name, l.role,
               l.case_number, l.purpose, l.outcome, l.extract_number
          FROM extract_request_log l
          LEFT JOIN account a ON a.id = l.account_id
          JOIN "right" r ON r.kind = 'ownership' AND r.party_id = :party
           AND (r.parcel_id = l.parcel_id
                OR r.building_id IN (SELECT id FROM building WHERE parcel_id = l.parcel_id))
          LEFT JOIN right_history h ON h.id = r.id
         WHERE l.parcel_id IS NOT NULL
           AND ((r.valid_from <= l.at AND (r.valid_to IS NULL OR r.valid_to > l.at))
                OR (h.valid_from <= l.at AND h.valid_to > l.at))
         ORDER BY l.id DESC
         LIMIT :lim"""), {"party": party_id, "lim": limit}).all()
    out = [{"at": _iso(r.at), "cadastral_number": r.cadastral_number,
            "requested_by": r.full_name or r.username, "username": r.username, "role": r.role,
            "case_number": r.case_number, "purpose": r.purpose, "outcome": r.outcome,
            "extract_number": r.extract_number} for r in rows]
    out.sort(key=lambda x: x["at"] or "", reverse=True)
    return out


def revoke(conn: Connection, number: str, reason: str) -> dict[str, Any]:
    """Revoke an issued extract (its public page then says so); the content stays as signed."""
    if not reason or not reason.strip():
        raise InvalidInput("give the reason for the revocation")
    row = conn.execute(text(
        "UPDATE extract SET revoked_at = now(), revoked_reason = :r"
        " WHERE number = :n AND revoked_at IS NULL RETURNING number, revoked_at"),
        {"n": number, "r": reason.strip()[:300]}).first()
    if row is None:
        exists = conn.execute(text("SELECT 1 FROM extract WHERE number = :n"), {"n": number}).first()
        raise NotFound("no such extract") if exists is None else InvalidInput("already revoked")
    return {"extract_number": row.number, "revoked_at": _iso(row.revoked_at)}


# ---- CLI: cadastre-gis extracts revoke | show ---------------------------------------------
@click.group("extracts")
def extracts_cli() -> None:
    """Inspect and revoke issued parcel extracts."""


@extracts_cli.command("revoke")
@click.argument("number")
@click.option("--reason", required=True, help="why the extract is no longer valid")
def revoke_cmd(number: str, reason: str) -> None:
    """Revoke extract NUMBER (its verification page then shows it as revoked)."""
    from .cli import _settings
    from .db import transaction

    with transaction(_settings(), actor="cli") as c:
        out = revoke(c, number, reason)
    click.echo(f"revoked {out['extract_number']} at {out['revoked_at']}")


@extracts_cli.command("show")
@click.argument("number")
def show_cmd(number: str) -> None:
    """Print the public status of extract NUMBER as JSON."""
    import json

    from .cli import _settings
    from .db import get_engine

    s = _settings()
    with get_engine(s).connect() as c:
        click.echo(json.dumps(public_status(c, s, number), ensure_ascii=False, indent=2))


# ---- the notary's web form ----------------------------------------------------------------
REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def fees(settings: Settings) -> dict[str, Any]:
    """State duty, service fee and total charged per extract (UZS)."""
    return {"currency": "UZS", "state_duty": settings.state_duty_uzs,
            "service_fee": settings.service_fee_uzs,
            "total": settings.state_duty_uzs + settings.service_fee_uzs}


def new_request_key() -> str:
    """A fresh idempotency key for one extract request form."""
    return secrets.token_urlsafe(24)


def issue_once(conn: Connection, settings: Settings, *, account: dict[str, Any],
               request_key: Any, **request: Any) -> tuple[str, Issued | None]:
    """Issue at most one extract per (account, request key).

    A repeated submission of the same form returns the number of the extract issued first
    (and None instead of a new :class:`Issued`): one request, one extract, one charge, whatever
    format is downloaded afterwards. The same key for another parcel is refused.
    """
    from .errors import Conflict

    if not isinstance(request_key, str) or not REQUEST_KEY.match(request_key):
        raise InvalidInput("the form has expired; reload the page and submit again")
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('extract-request'),"
                      " hashtext(:a || ':' || :k))"),
                 {"a": str(account["id"]), "k": request_key})
    row = conn.execute(text(
        "SELECT e.number, e.cadastral_number FROM extract_request_key k"
        " JOIN extract e ON e.number = k.extract_number"
        " WHERE k.account_id = :a AND k.key = :k"),
        {"a": account["id"], "k": request_key}).first()
    if row is not None:
        if row.cadastral_number != check_number(request.get("cadastral_number")):
            raise Conflict(f"this form already issued extract {row.number} for"
                           f" {row.cadastral_number}; reload the page for a new request")
        return row.number, None
    issued = issue(conn, settings, account=account, **request)
    conn.execute(text("INSERT INTO extract_request_key (account_id, key, extract_number)"
                      " VALUES (:a, :k, :n)"),
                 {"a": account["id"], "k": request_key, "n": issued.number})
    return issued.number, issued


def pdf_path(settings: Settings, number: str) -> Any:
    """Where the issued PDF of an extract is kept (``<data dir>/extracts/<number>.pdf``)."""
    if not EXTRACT_NUMBER.match(number or ""):
        raise NotFound("no such extract")
    return settings.data_path / "extracts" / f"{number}.pdf"


def keep_pdf(settings: Settings, issued: Issued) -> None:
    """Store an issued PDF, so the notary downloads the very bytes that were signed."""
    if issued.pdf is None:
        return
    path = pdf_path(settings, issued.number)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(issued.pdf)
    tmp.replace(path)


def owned_pdf(conn: Connection, settings: Settings, number: str, account_id: int | None) -> bytes:
    """The issued PDF of one of the caller's extracts (``account_id`` None: any, for admins)."""
    row = conn.execute(text("SELECT account_id, pdf_sha256 FROM extract WHERE number = :n"),
                       {"n": number}).first()
    if row is None or (account_id is not None and row.account_id != account_id):
        raise NotFound("no such extract among yours")
    path = pdf_path(settings, number)
    if row.pdf_sha256 is None or not path.is_file():
        raise NotFound("this extract was issued without a PDF kept here; use its JSON")
    data = path.read_bytes()
    if signing.sha256(data) != row.pdf_sha256:
        raise NotFound("the kept PDF does not match the issued one")
    return data


def search_parcels(conn: Connection, q: Any, limit: int = 10) -> list[dict[str, Any]]:
    """Active parcels whose cadastral number starts with ``q`` or whose address contains it."""
    if not isinstance(q, str) or len(q.strip()) < 2:
        return []
    q = q.strip()[:80]
    like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(text(
        "SELECT cadastral_number, address FROM parcel WHERE status = 'active'"
        " AND (cadastral_number LIKE :p OR address ILIKE :c)"
        " ORDER BY (cadastral_number LIKE :p) DESC, cadastral_number LIMIT :l"),
        {"p": like + "%", "c": "%" + like + "%", "l": max(1, min(int(limit), 25))}).all()
    return [{"cadastral_number": r.cadastral_number, "address": r.address} for r in rows]
