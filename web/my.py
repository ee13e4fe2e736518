"""My property: what the signed-in citizen holds (linked to their party by PINFL), the
encumbrances on it, their cadastral passport as PDF, and who requested extracts about it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from cadastre_gis.cadastral import PARCEL_NUMBER
from cadastre_gis.errors import NotFound

from .db import conn
from .search import normalize_number
from .security import require
from .urls import base_url

bp = Blueprint("my", __name__, url_prefix="/my")

ENCUMBRANCES = ("mortgage", "arrest", "lease", "servitude", "permanent_use")


@bp.app_context_processor
def _names() -> dict[str, Any]:
    from flask_babel import lazy_gettext as _l

    return {"right_names": {
        "ownership": _l("ownership"), "lease": _l("lease"), "permanent_use": _l("permanent use"),
        "servitude": _l("servitude"), "mortgage": _l("mortgage"), "arrest": _l("arrest (ban)")}}


def holdings(c: Connection, party_id: int, lang: str = "en") -> list[dict[str, Any]]:
    """Parcels where the party holds an active right (directly or through a building on it),
    each with the party's rights and shares, its buildings and the encumbrances on it.

    Co-owners are counted, never named: their identity is someone else's personal data.
    """
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
         ORDER BY p.cadastral_number"""), {"party": party_id}).mappings().all()
    out = []
    for p in parcels:
        item = dict(p)
        item["rights"] = [dict(r) for r in c.execute(text("""
            SELECT r.kind, r.share_num, r.share_den, r.starts_on, r.registration_number,
                   coalesce(b.cadastral_number, :num) AS object_number,
                   CASE WHEN r.building_id IS NULL THEN 'parcel' ELSE 'building' END AS object
              FROM "right" r LEFT JOIN building b ON b.id = r.building_id
             WHERE r.party_id = :party AND r.status = 'active'
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
               AND (r.parcel_id = :pid OR b.parcel_id = :pid)
             ORDER BY r.starts_on""").bindparams(
                 bindparam("kinds", expanding=True)),
            {"pid": p["id"], "num": p["cadastral_number"], "kinds": list(ENCUMBRANCES)}).mappings()]
        out.append(item)
    return out


def holding(c: Connection, party_id: int, number: str, lang: str = "en") -> dict[str, Any]:
    """One parcel of the party's holdings (404 when they hold no right on it)."""
    num = normalize_number(number)
    if PARCEL_NUMBER.match(num):
        for h in holdings(c, party_id, lang):
            if h["cadastral_number"] == num:
                return h
    raise NotFound("you hold no right on this parcel")


def extract_requests(c: Connection, party_id: int) -> list[dict[str, Any]] | None:
    """Extracts others requested about the party's property (None: not available yet)."""
    try:
        from cadastre_gis.extracts import requests_about_party  # type: ignore[attr-defined]
    except ImportError:
        return None
    return list(requests_about_party(c, party_id))


def _party() -> tuple[dict[str, Any], int | None]:
    acc = require("property.own.read")
    assert acc is not None
    return acc, acc.get("party_id")


def _lang() -> str:
    from .search import _lang as lang

    return lang()


@bp.before_request
def _signed_in():  # type: ignore[no-untyped-def]
    if g.get("account") is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


@bp.route("")
@bp.route("/")
def index():  # type: ignore[no-untyped-def]
    """The citizen's parcels, buildings, shares, encumbrances and extract log."""
    acc, party_id = _party()
    items = holdings(conn(), party_id, _lang()) if party_id else []
    log = extract_requests(conn(), party_id) if party_id else None
    return render_template("portal/my.html", account=acc, items=items, party_id=party_id,
                           extract_log=log)


@bp.route("/passport/<path:number>.pdf")
def passport(number: str) -> Response:
    """The cadastral passport of one of the citizen's parcels, as PDF."""
    from .portal_pdf import passport_pdf

    acc, party_id = _party()
    if not party_id:
        raise NotFound("your account is not linked to a registry party")
    item = holding(conn(), party_id, number, _lang())
    geom = conn().execute(text(
        "SELECT ST_AsGeoJSON(geom, 2)::json FROM parcel WHERE id = :i"), {"i": item["id"]}).scalar()
    holder = conn().execute(text("SELECT full_name FROM party WHERE id = :p"),
                            {"p": party_id}).scalar()
    pdf = passport_pdf(item, geom, acc, base_url(), holder)
    name = item["cadastral_number"].replace(":", "-")
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="passport-{name}.pdf"',
        "Cache-Control": "private, no-store"})
