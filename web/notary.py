"""Notary pages (their extracts and charges), the fast bans check, and the owner's view of
who requested extracts of their property."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from cadastre_gis import extracts
from cadastre_gis.errors import NotAuthorized

from .db import conn
from .formats import prefers_html
from .security import require

bp = Blueprint("notary", __name__)


@bp.route("/notary")
@bp.route("/notary/extracts")
def notary_home() -> Any:
    """The caller's extracts with state duty and service fee, and the totals."""
    acc = require("extract.list")
    assert acc is not None
    data = extracts.extracts_of_account(conn(), acc["id"])
    if prefers_html():
        return render_template("notary/index.html", data=data)
    return jsonify(data)


@bp.route("/notary/extracts/<number>")
def notary_extract(number: str) -> Any:
    """One of the caller's issued extracts again: content plus detached signature (JSON)."""
    acc = require("extract.list")
    assert acc is not None
    owner = None if acc["role"] == "admin" else acc["id"]
    return jsonify(extracts.stored_document(conn(), number, owner))


@bp.route("/api/parcels/<number>/encumbrances")
def encumbrances(number: str) -> Any:
    """Arrests (bans) and mortgages in force now on a parcel: notary, registrar, admin."""
    require("bans.read")
    resp = jsonify(extracts.active_encumbrances(conn(), number))
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/my/extract-requests")
def my_extract_requests() -> Any:
    """Who requested extracts of the signed-in citizen's property (JSON or a small page)."""
    acc = require("property.own.read")
    assert acc is not None
    party_id = acc.get("party_id")
    if party_id is None:
        if acc["role"] != "citizen":
            raise NotAuthorized("only a citizen linked to a party has property")
        items: list[dict[str, Any]] = []
    else:
        items = extracts.requests_about_party(conn(), party_id)
    if prefers_html():
        return render_template("notary/my_requests.html", items=items)
    return jsonify({"requests": items})
