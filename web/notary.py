"""Notary pages (their extracts and charges), the fast bans check, and the owner's view of
who requested extracts of their property."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from cadastre_gis import extracts
from cadastre_gis.errors import (
    CadastreError,
    InvalidInput,
    NotAuthorized,
    NotFound,
    from_db_error,
    http_status,
)

from .db import conn, settings, write
from .formats import prefers_html
from .security import current_role, require

bp = Blueprint("notary", __name__)

FORM_FIELDS = ("cadastral_number", "case_number", "purpose", "as_of", "format")


@bp.app_template_filter("tashkent_time")
def tashkent_time(value: Any) -> str:
    """An ISO instant as local Tashkent date and time in the page's language."""
    from datetime import datetime

    from flask_babel import format_datetime

    if not value:
        return ""
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return format_datetime(t, "short", rebase=False) if t.tzinfo is None else format_datetime(
        t.astimezone(extracts.TASHKENT).replace(tzinfo=None), "short", rebase=False)


def _form_page(acc: dict[str, Any], values: dict[str, Any] | None = None,
               error: str | None = None, status: int = 200) -> Any:
    data = extracts.extracts_of_account(conn(), acc["id"])
    values = dict(values or {})
    values.setdefault("request_key", extracts.new_request_key())
    return render_template("notary/index.html", data=data, values=values, error=error,
                           fees=extracts.fees(settings()),
                           can_issue=current_role() in ("notary", "registrar", "admin")), status


@bp.route("/notary")
@bp.route("/notary/extracts")
def notary_home() -> Any:
    """The extract request form, the fees, and the caller's extracts with their charges."""
    acc = require("extract.list")
    assert acc is not None
    if prefers_html():
        return _form_page(acc, {"format": "pdf"})
    return jsonify(extracts.extracts_of_account(conn(), acc["id"]))


@bp.route("/notary", methods=["POST"])
def notary_request() -> Any:
    """Issue an extract from the form (one per form: the request key makes it idempotent)."""
    acc = require("extract.issue")
    assert acc is not None
    f = request.form
    values = {k: (f.get(k) or "").strip() for k in FORM_FIELDS}
    values["request_key"] = f.get("request_key") or ""
    log: dict[str, Any] = {"cadastral_number": values["cadastral_number"] or None,
           "case_number": values["case_number"] or None, "purpose": values["purpose"] or None,
           "fmt": values["format"] or None, "remote_addr": request.remote_addr}
    try:
        if not values["case_number"]:
            from flask_babel import gettext

            raise InvalidInput(gettext("the notarial case number is required"))
        with write() as c:
            # The PDF edition is issued whatever is downloaded first: it embeds the signed
            # JSON content, so JSON and PDF are one extract and one charge.
            number, issued = extracts.issue_once(
                c, settings(), account=acc, request_key=values["request_key"],
                cadastral_number=values["cadastral_number"], as_of=values["as_of"] or None,
                case_number=values["case_number"], purpose=values["purpose"] or None,
                fmt="pdf", remote_addr=request.remote_addr)
            if issued is not None:
                extracts.keep_pdf(settings(), issued)
    except (CadastreError, SQLAlchemyError) as exc:
        err = exc if isinstance(exc, CadastreError) else from_db_error(exc)
        outcome = "not_found" if isinstance(err, NotFound) else (
            "invalid" if isinstance(err, InvalidInput) else "error")
        with write() as c:
            extracts.log_request(c, account=acc, outcome=outcome, detail=err.message, **log)
        return _form_page(acc, values, error=err.message, status=http_status(err))
    want = "json" if values["format"] == "json" else "pdf"
    return redirect(url_for("notary.notary_issued", number=number, format=want), code=303)


@bp.route("/notary/issued/<number>")
def notary_issued(number: str) -> Any:
    """The result of a request: downloads, verification link, fees."""
    acc = require("extract.list")
    assert acc is not None
    owner = None if acc["role"] == "admin" else acc["id"]
    doc = extracts.stored_document(conn(), number, owner)
    return render_template("notary/issued.html", doc=doc, number=number,
                           fmt=request.args.get("format", "pdf"), verify=f"/extracts/{number}",
                           fees=extracts.fees(settings()))


@bp.route("/notary/api/parcels")
def parcel_search() -> Any:
    """Cadastral number search for the form (number prefix or address words)."""
    require("extract.issue")
    resp = jsonify({"parcels": extracts.search_parcels(conn(), request.args.get("q"))})
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/notary/extracts/<number>.pdf")
def notary_extract_pdf(number: str) -> Any:
    """The signed PDF of one of the caller's extracts, byte for byte as issued."""
    acc = require("extract.list")
    assert acc is not None
    owner = None if acc["role"] == "admin" else acc["id"]
    data = extracts.owned_pdf(conn(), settings(), number, owner)
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{number}.pdf"',
        "Cache-Control": "private, no-store"})


@bp.route("/notary/extracts/<number>")
def notary_extract(number: str) -> Any:
    """One of the caller's issued extracts again: content plus detached signature (JSON)."""
    acc = require("extract.list")
    assert acc is not None
    owner = None if acc["role"] == "admin" else acc["id"]
    resp = jsonify(extracts.stored_document(conn(), number, owner))
    if request.args.get("download"):
        resp.headers["Content-Disposition"] = f'attachment; filename="{number}.json"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


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
