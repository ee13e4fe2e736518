"""My property: what the signed-in citizen holds (linked to their party by PINFL), the
encumbrances on it, their cadastral passport as PDF, and who requested extracts about it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from sqlalchemy.engine import Connection

from cadastre_gis import reports
from cadastre_gis.errors import NotFound
from cadastre_gis.holdings import (
    ENCUMBRANCES,
    HoldingFilter,
    holding,
    holdings,
    parcel_geometry,
    party_name,
)

from .db import conn
from .security import require
from .urls import base_url

bp = Blueprint("my", __name__, url_prefix="/my")

__all__ = ["bp", "ENCUMBRANCES", "holdings", "holding"]


@bp.app_context_processor
def _names() -> dict[str, Any]:
    from flask_babel import lazy_gettext as _l

    return {"right_names": {
        "ownership": _l("ownership"), "lease": _l("lease"), "permanent_use": _l("permanent use"),
        "servitude": _l("servitude"), "mortgage": _l("mortgage"), "arrest": _l("arrest (ban)")}}

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
    items = holdings(conn(), HoldingFilter(party_id, _lang())) if party_id else []
    log = extract_requests(conn(), party_id) if party_id else None
    mine = reports.of_account(conn(), reports.ReportFilter(int(acc["id"])), _lang())
    return render_template("portal/my.html", account=acc, items=items, party_id=party_id,
                           extract_log=log, reports=mine)


@bp.route("/passport/<path:number>.pdf")
def passport(number: str) -> Response:
    """The cadastral passport of one of the citizen's parcels, as PDF."""
    from .portal_pdf import passport_pdf

    acc, party_id = _party()
    if not party_id:
        raise NotFound("your account is not linked to a registry party")
    item = holding(conn(), HoldingFilter(party_id, _lang(), number))
    geom = parcel_geometry(conn(), item["id"])
    holder = party_name(conn(), party_id)
    pdf = passport_pdf(item, geom, acc, base_url(), holder)
    name = item["cadastral_number"].replace(":", "-")
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="passport-{name}.pdf"',
        "Cache-Control": "private, no-store"})
