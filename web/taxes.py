"""Taxes: what the citizen owes per object and year, paying it (once per form), receipts."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from cadastre_gis import payments, tax
from cadastre_gis.errors import CadastreError, InvalidInput, NotAuthorized, NotFound
from cadastre_gis.holdings import party_name

from .db import conn, engine, write
from .security import current_actor, require

bp = Blueprint("taxes", __name__, url_prefix="/taxes")


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    from .portal_pdf import money

    return {"portal_money": money}


def _citizen() -> tuple[dict[str, Any], int]:
    acc = require("tax.pay")
    assert acc is not None
    if not acc.get("party_id"):
        raise NotFound("your account is not linked to a registry party (PINFL)")
    return acc, int(acc["party_id"])


def _year() -> int:
    raw = request.values.get("year")
    if raw is None or raw == "":
        years = tax.years_with_rates(conn())
        now = tax.current_year(conn())
        return now if now in years or not years else years[0]
    try:
        return tax.check_year(int(raw))
    except ValueError:
        raise InvalidInput("year must be a number") from None


@bp.before_request
def _signed_in():  # type: ignore[no-untyped-def]
    if g.get("account") is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def _page(year: int, error: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    acc, party_id = _citizen()
    with write() as c:
        rows = tax.assess(c, party_id, year)
    history = payments.history(conn(), party_id)
    return render_template(
        "portal/taxes.html", account=acc, year=year, years=tax.years_with_rates(conn()),
        rows=rows, totals=tax.summary(rows), history=history, error=error,
        new_key=lambda: secrets.token_urlsafe(24), test_card=payments.SandboxProvider.TEST_CARD,
        declined=payments.SandboxProvider.DECLINED, payee=payments.PAYEE,
    ), status


@bp.route("")
@bp.route("/")
def index():  # type: ignore[no-untyped-def]
    """Assessments of the year (computed from rates), with due, paid and debt."""
    return _page(_year())


@bp.route("/pay", methods=["POST"])
def pay():  # type: ignore[no-untyped-def]
    """Pay an assessment in two steps: ``step=check`` shows the "check your payment" summary
    (nothing charged, nothing stored); ``step=confirm`` charges once per idempotency key."""
    acc, party_id = _citizen()
    year = _year()
    try:
        assessment_id = int(request.form.get("assessment_id", ""))
    except ValueError:
        raise InvalidInput("assessment_id must be a number") from None
    key = request.form.get("idempotency_key", "")
    # A form already paid with this key (double submit, back button) shows that outcome.
    done = payments.by_key(conn(), key) if payments.KEY_RE.match(key) else None
    if request.form.get("step") != "confirm" and done is None:
        try:
            summary = payments.preview(
                conn(), assessment_id=assessment_id, party_id=party_id,
                amount=request.form.get("amount", ""),
                card_number=request.form.get("card_number", ""))
        except CadastreError as exc:
            if isinstance(exc, NotAuthorized):
                raise
            from cadastre_gis.errors import http_status

            return _page(year, exc.message, http_status(exc))
        return render_template("portal/pay_check.html", s=summary, year=year,
                               key=request.form.get("idempotency_key", ""))
    try:
        result = payments.pay(
            engine(), assessment_id=assessment_id, party_id=party_id, account_id=acc["id"],
            amount=request.form.get("amount", ""),
            idempotency_key=request.form.get("idempotency_key", ""),
            card_number=request.form.get("card_number", ""), actor=current_actor())
    except CadastreError as exc:
        if isinstance(exc, NotAuthorized):
            raise
        from cadastre_gis.errors import http_status

        return _page(year, exc.message, http_status(exc))
    if result["status"] == "succeeded":
        return redirect(url_for("taxes.receipt", number=result["receipt_number"]), code=303)
    if result["status"] == "pending":
        # A double submit while the first request is still at the provider: wait for it.
        result = _wait(result["idempotency_key"]) or result
        if result["status"] == "succeeded":
            return redirect(url_for("taxes.receipt", number=result["receipt_number"]), code=303)
    if result["status"] == "pending":
        return _page(year, _("Your payment is being processed; reload this page in a moment."), 202)
    reason = result.get("failure_reason") or result["status"]
    return _page(year, _("Payment failed: %(reason)s", reason=reason), 402)


def _wait(key: str, seconds: float = 5.0) -> dict[str, Any] | None:
    """Poll the payment with ``key`` until it leaves ``pending`` (or time runs out)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
        with engine().connect() as c:
            pay = payments.by_key(c, key)
        if pay is None or pay["status"] != "pending":
            return pay
    return None


def _receipt(number: str) -> dict[str, Any]:
    acc, party_id = _citizen()
    pay = payments.by_receipt(conn(), number)
    if pay["party_id"] != party_id:
        raise NotFound("no such receipt")
    return pay


@bp.route("/receipts/<number>")
def receipt(number: str):  # type: ignore[no-untyped-def]
    """Receipt page of a successful payment."""
    pay = _receipt(number)
    return render_template("portal/receipt.html", pay=pay, payee=payments.PAYEE,
                           qr_svg=receipt_qr(pay))


def receipt_text(pay: dict[str, Any]) -> str:
    """What the receipt's QR code holds: its public address and the facts a cashier checks."""
    from .urls import absolute

    when = pay["completed_at"].strftime("%Y-%m-%dT%H:%M:%S%z") if pay.get("completed_at") else ""
    return (f"{absolute(url_for('taxes.receipt', number=pay['receipt_number']))}\n"
            f"RECEIPT={pay['receipt_number']};PAYEE_INN={payments.PAYEE.inn};"
            f"ACCOUNT={payments.PAYEE.account};AMOUNT={int(pay['amount'])} UZS;"
            f"OBJECT={pay['cadastral_number']};DATE={when};REF={pay['provider_reference'] or ''}")


def receipt_qr(pay: dict[str, Any]) -> Markup:
    """The receipt's QR code as inline SVG (no script, no outside image)."""
    import io

    import qrcode
    import qrcode.image.svg

    img = qrcode.make(receipt_text(pay), image_factory=qrcode.image.svg.SvgPathImage,
                      box_size=8, border=2)
    buf = io.BytesIO()
    img.save(buf)
    svg = buf.getvalue().decode()
    return Markup(svg[svg.index("<svg"):])


@bp.route("/receipts/<number>.pdf")
def receipt_pdf(number: str) -> Response:
    """Receipt as PDF."""
    from .portal_pdf import receipt_pdf as make

    pay = _receipt(number)
    acc = g.account
    payer = acc.get("full_name") or acc["username"]
    if acc.get("party_id"):
        name = party_name(conn(), int(acc["party_id"]))
        payer = name or payer
    return Response(make(pay, payer, payments.PAYEE, receipt_text(pay)), mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="receipt-{number}.pdf"',
        "Cache-Control": "private, no-store"})
