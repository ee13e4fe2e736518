"""A citizen's own property: the parcels where their party holds rights, the encumbrances on
them, co-owners counted (never named). Queries for /my, the passport PDF and receipts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from .cadastral import PARCEL_NUMBER
from .errors import NotFound
from .search import normalize_number

LANGS = ("en", "ru", "uz")
ENCUMBRANCES = ("mortgage", "arrest", "lease", "servitude", "permanent_use")


@dataclass(frozen=True)
class HoldingFilter:
    """Whose holdings, in which language, optionally one parcel only."""

    party_id: int
    lang: str = "en"
    number: str | None = None

    def __post_init__(self) -> None:
        """Fall back to English for an unknown language."""
        if self.lang not in LANGS:
            object.__setattr__(self, "lang", "en")

def holdings(c: Connection, f: HoldingFilter) -> list[dict[str, Any]]:
    """Parcels where the party holds an active right (directly or through a building on it),
    each with the party's rights and shares, its buildings and the encumbrances on it.

    Co-owners are counted, never named: their identity is someone else's personal data.
    """
    party_id, lang = f.party_id, f.lang
    num = normalize_number(f.number) if f.number else None
    parcels = c.execute(text(f"""
        SELECT DISTINCT p.id, p.cadastral_number, p.address, p.area_m2, p.cadastral_value,
               p.land_category, p.permitted_use, d.name AS district,
               lc.name_{lang} AS land_category_name, pu.name_{lang} AS permitted_use_name
          FROM "right" r
          LEFT JOIN building b ON b.id = r.building_id
          JOIN parcel p ON p.id = coalesce(r.parcel_id, b.parcel_id)
          LEFT JOIN district d ON d.id = p.district_id
          LEFT JOIN land_category lc ON lc.code = p.land_category
          LEFT JOIN permitted_use pu ON pu.code = p.permitted_use
         WHERE r.party_id = :party AND r.status = 'active' AND p.status = 'active'
           AND (r.ends_on IS NULL OR r.ends_on >= cadastre_today())
           AND (CAST(:num AS text) IS NULL OR p.cadastral_number = :num)
         ORDER BY p.cadastral_number"""), {"party": party_id, "num": num}).mappings().all()
    out = []
    for p in parcels:
        item = dict(p)
        item["rights"] = [dict(r) for r in c.execute(text("""
            SELECT r.kind, r.share_num, r.share_den, r.starts_on, r.registration_number,
                   coalesce(b.cadastral_number, :num) AS object_number,
                   CASE WHEN r.building_id IS NULL THEN 'parcel' ELSE 'building' END AS object
              FROM "right" r LEFT JOIN building b ON b.id = r.building_id
             WHERE r.party_id = :party AND r.status = 'active'
               AND (r.ends_on IS NULL OR r.ends_on >= cadastre_today())
               AND (r.parcel_id = :pid OR b.parcel_id = :pid)
             ORDER BY r.building_id NULLS FIRST, r.kind"""),
            {"party": party_id, "pid": p["id"], "num": p["cadastral_number"]}).mappings()]
        item["co_owners"] = c.execute(text("""
            SELECT count(DISTINCT party_id) FROM "right"
             WHERE parcel_id = :pid AND kind = 'ownership' AND status = 'active'
               AND party_id <> :party"""), {"pid": p["id"], "party": party_id}).scalar_one()
        item["buildings"] = [dict(b) for b in c.execute(text("""
            SELECT cadastral_number, building_use, floors, year_built, floor_area_m2,
                   cadastral_value
              FROM building WHERE parcel_id = :pid AND status = 'active'
             ORDER BY cadastral_number"""), {"pid": p["id"]}).mappings()]
        item["encumbrances"] = [dict(e) for e in c.execute(text("""
            SELECT r.kind, coalesce(r.holder, pt.full_name) AS holder, r.amount_uzs,
                   r.registration_number, r.starts_on, r.ends_on,
                   coalesce(b.cadastral_number, :num) AS object_number
              FROM "right" r
              LEFT JOIN building b ON b.id = r.building_id
              LEFT JOIN party pt ON pt.id = r.party_id AND pt.kind <> 'person'
             WHERE r.status = 'active' AND r.kind IN :kinds
               AND (r.ends_on IS NULL OR r.ends_on >= cadastre_today())
               AND (r.parcel_id = :pid OR b.parcel_id = :pid)
             ORDER BY r.starts_on""").bindparams(
                 bindparam("kinds", expanding=True)),
            {"pid": p["id"], "num": p["cadastral_number"], "kinds": list(ENCUMBRANCES)}).mappings()]
        out.append(item)
    return out


def holding(c: Connection, f: HoldingFilter) -> dict[str, Any]:
    """One parcel of the party's holdings (``f.number``; 404 when they hold no right on it)."""
    num = normalize_number(f.number or "")
    if PARCEL_NUMBER.match(num):
        for h in holdings(c, f):
            if h["cadastral_number"] == num:
                return h
    raise NotFound("you hold no right on this parcel")


def parcel_geometry(c: Connection, parcel_id: int) -> dict[str, Any] | None:
    """A parcel's outline as GeoJSON in the storage CRS (for the passport plan)."""
    return c.execute(text("SELECT ST_AsGeoJSON(geom, 2)::json FROM parcel WHERE id = :i"),
                     {"i": parcel_id}).scalar()


def party_name(c: Connection, party_id: int) -> str | None:
    """The full name of a registry party (shown only to that party)."""
    return c.execute(text("SELECT full_name FROM party WHERE id = :p"), {"p": party_id}).scalar()
