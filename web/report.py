"""Report a city problem (/report), follow it (/reports/<token>), its photos, the notification
outbox and opt-out. Parse the request, call :mod:`cadastre_gis.reports` / ``notify``, render."""

from __future__ import annotations

import hmac
import logging
import os
import threading
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _

from cadastre_gis import notify, reports
from cadastre_gis.errors import CadastreError, InvalidInput, http_status

from .db import conn, settings, write
from .formats import prefers_html
from .security import current_account, current_actor, require
from .urls import base_url
from .validation import body_limit

bp = Blueprint("report", __name__)
log = logging.getLogger(__name__)

UPLOAD_LIMIT = 64 * 1024 * 1024
"""Body limit of /report: three photos of 10 MB, and a bigger one still reaches the form's
own message ("larger than 10 MB") instead of a bare 413."""
FIELDS = ("category", "lon", "lat", "description", "address", "name", "email", "phone",
          "telegram", "consent")


def _lang() -> str:
    from .search import _lang as lang

    return lang()


def _check_csrf() -> None:
    """CSRF for every visitor, signed in or not (the report form works without an account)."""
    sent = request.form.get("csrf_token", "") or request.headers.get("X-CSRF-Token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, description=_("The form expired; reload the page and send it again."))


def messages() -> dict[str, str]:
    """Field-level refusals of the domain, in the page's language (domain messages are English)."""
    return {
        "category": _("Choose what kind of problem it is."),
        "location": _("Place a pin on the map, use your location or search an address."),
        "outside": _("This place is outside the city of Tashkent. Move the pin into the city."),
        "description": _("Describe the problem in plain text (no HTML or script), up to 2000 characters."),
        "photos": _("Photos must be JPEG, PNG or WebP images of at most 10 MB each, at most 3."),
        "email": _("Check the e-mail address."),
        "phone": _("Check the phone number, e.g. +998 90 123 45 67."),
        "telegram": _("Telegram: @username or a chat id."),
        "name": _("The name must be plain text, up to 120 characters."),
        "address": _("The address must be plain text, up to 200 characters."),
        "consent": _("To be told about progress, give an e-mail or a phone number."),
        "rate": _("Too many reports from your connection in the last hour. Please try later."),
    }


def _explain(exc: CadastreError) -> tuple[str, str | None]:
    """(message for the citizen, field name) of a refusal."""
    fld = exc.details.get("field") if isinstance(exc.details, dict) else None
    msgs = messages()
    if exc.code == "RateLimited":
        return msgs["rate"], None
    if fld == "location" and "outside" in exc.message:
        return msgs["outside"], "location"
    if isinstance(fld, str) and fld in msgs:
        detail = exc.message if fld == "photos" else ""
        return msgs[fld] + (f" ({detail})" if detail else ""), fld
    return exc.message, None


def _form_page(values: dict[str, Any] | None = None, error: str | None = None,
               error_field: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    from .portal import CITY_CENTRE, city_bounds

    return render_template(
        "portal/report.html", categories=reports.public_categories(conn(), _lang()),
        values=values or {}, error=error, error_field=error_field, centre=CITY_CENTRE,
        bounds=city_bounds(), max_photos=reports.photos.MAX_PHOTOS), status


@bp.route("/report", methods=["GET"])
def report_form():  # type: ignore[no-untyped-def]
    """The report form: map pin, category, description, photos, optional contact, consent."""
    require("incident.report")
    values = {k: request.args.get(k, "") for k in ("category", "lon", "lat")}
    acc = current_account()
    if acc and acc.get("email"):
        values["email"] = acc["email"]
    return _form_page(values)


@bp.route("/report", methods=["POST"])
@body_limit(UPLOAD_LIMIT)
def report_submit():  # type: ignore[no-untyped-def]
    """Store the report (all or nothing) and send the citizen to its tracking page."""
    require("incident.report")
    _check_csrf()
    form = {k: request.form.get(k, "") for k in FIELDS}
    files = [(f.filename or "photo", f.read(reports.photos.MAX_BYTES + 1))
             for f in request.files.getlist("photos") if f and f.filename]
    acc = current_account()
    try:
        rep = reports.ReportInput.parse(form, files, _lang(), acc["id"] if acc else None)
        with write(current_actor() if acc else "portal:citizen") as c:
            out = reports.submit(c, settings().data_path, rep, request.remote_addr or "-")
    except CadastreError as exc:
        msg, fld = _explain(exc)
        if not prefers_html() and request.accept_mimetypes.best == "application/json":
            return jsonify({"code": exc.code, "description": msg, "field": fld}), http_status(exc)
        return _form_page(form, msg, fld, http_status(exc))
    return redirect(url_for("report.track", token=out["token"], new=1), code=303)


@bp.route("/api/reports/nearby")
def nearby():  # type: ignore[no-untyped-def]
    """Open incidents of a category within 50 m of a point (before sending: "one of these?")."""
    lon, lat = reports.parse_point(request.args.get("lon"), request.args.get("lat"))
    category = request.args.get("category", "")
    if not category:
        raise InvalidInput("category is required")
    return jsonify({"radius_m": reports.NEARBY_M,
                    "incidents": reports.nearby_open(conn(), category, lon, lat, lang=_lang())})


@bp.route("/reports/subscribe", methods=["POST"])
def subscribe():  # type: ignore[no-untyped-def]
    """Follow an incident found nearby instead of reporting it again."""
    _check_csrf()
    form = {k: request.form.get(k, "") for k in FIELDS}
    try:
        incident_id = int(request.form.get("incident_id", ""))
    except ValueError:
        raise InvalidInput("incident_id must be a number") from None
    try:
        contact = reports.Contact.parse(form["name"], form["email"], form["phone"],
                                        form["telegram"])
        if form["consent"] not in ("1", "on", "yes", "true"):
            raise InvalidInput("tick the box to be told about progress", field="consent")
        with write(current_actor() if current_account() else "portal:citizen") as c:
            token = reports.subscribe(c, incident_id, contact, _lang())
    except CadastreError as exc:
        if exc.code == "NotFound":
            raise
        msg, fld = _explain(exc)
        return _form_page(form, msg, fld, http_status(exc))
    return redirect(url_for("report.track", token=token, following=1), code=303)


@bp.route("/reports/<token>")
def track(token: str):  # type: ignore[no-untyped-def]
    """Public tracking page: status, timeline, approved photos; no personal data."""
    item = reports.tracking(conn(), token, _lang())
    if request.args.get("f") == "json" or not prefers_html() and \
            request.accept_mimetypes.best == "application/json":
        return jsonify(_jsonable(item))
    resp = current_app.make_response(render_template(
        "portal/track.html", item=item, new=request.args.get("new") == "1",
        following=request.args.get("following") == "1"))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _jsonable(d: Any) -> Any:
    from datetime import datetime

    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_jsonable(v) for v in d]
    if isinstance(d, datetime):
        return d.isoformat()
    return d


def _operator() -> bool:
    from cadastre_gis import policy

    acc = current_account()
    return acc is not None and policy.allowed(acc["role"], "incident.manage")


@bp.route("/reports/photos/<int:photo_id>.jpg")
def photo(photo_id: int) -> Response:
    """A report photo: approved ones for everyone, all of them for operators."""
    op = _operator()
    path = reports.photo_file(conn(), settings().data_path, photo_id, public_only=not op)
    resp = send_file(path, mimetype="image/jpeg", max_age=0 if op else 3600)
    resp.headers["Cache-Control"] = "private, no-store" if op else "public, max-age=3600"
    return resp


@bp.route("/api/incidents/<int:incident_id>/photos")
def incident_photos(incident_id: int):  # type: ignore[no-untyped-def]
    """All photos of an incident for operators (to moderate), with their URLs."""
    require("incident.manage")
    items = reports.photo_list(conn(), incident_id, public_only=False)
    return jsonify([{**_jsonable(p), "url": url_for("report.photo", photo_id=p["id"])}
                    for p in items])


@bp.route("/reports/photos/<int:photo_id>/moderate", methods=["POST"])
def moderate(photo_id: int):  # type: ignore[no-untyped-def]
    """Approve (publish) or withdraw a photo: operators only."""
    require("incident.manage")
    approved = request.values.get("approved") in ("1", "true", "on", "yes")
    with write() as c:
        reports.moderate_photo(c, photo_id, approved, current_actor())
    return jsonify({"id": photo_id, "approved": approved})


@bp.route("/notifications/outbox")
def outbox():  # type: ignore[no-untyped-def]
    """The sandbox outbox: what was (or would have been) sent. Operators and admins only."""
    require("incident.manage")
    deliver_now()
    inc = request.args.get("incident")
    f = notify.OutboxFilter(incident_id=int(inc) if inc and inc.isdigit() else None,
                            address=request.args.get("address") or None)
    rows = notify.outbox(conn(), f)
    if not prefers_html():
        return jsonify(_jsonable(rows))
    return render_template("portal/outbox.html", rows=rows, filt=f)


@bp.route("/notifications/optout/<token>", methods=["GET", "POST"])
def optout(token: str):  # type: ignore[no-untyped-def]
    """The opt-out link of every message: confirm (GET shows a button), then stop (POST)."""
    channel, address = notify.read_optout_token(settings().resolved_secret_key(), token)
    done = False
    if request.method == "POST":
        _check_csrf()
        with write("portal:optout") as c:
            notify.opt_out(c, channel, address)
        done = True
    masked = address[:2] + "…" + address[-4:] if len(address) > 6 else "…"
    return render_template("portal/optout.html", channel=channel, masked=masked, done=done,
                           token=token)


# --- delivery --------------------------------------------------------------------------------

_started: dict[int, bool] = {}


def deliver_now() -> int:
    """Deliver queued notifications in this request (used by the outbox page and tests)."""
    with write("notify") as c:
        return notify.deliver_pending(c, settings(), base_url())


def _loop(app: Flask) -> None:
    """Deliver queued notifications: on pg_notify('notifications') or every 15 s."""
    import select

    with app.app_context():
        root = base_url()
        while True:
            raw = None
            try:
                from .db import engine

                raw = engine().raw_connection()
                dbapi: Any = raw.driver_connection
                dbapi.autocommit = True
                with dbapi.cursor() as cur:
                    cur.execute("LISTEN notifications")
                while True:
                    with write("notify") as c:
                        notify.deliver_pending(c, settings(), root)
                    select.select([dbapi], [], [], 15)
                    dbapi.poll()
                    dbapi.notifies.clear()
            except Exception:  # noqa: BLE001 - keep delivering after a lost connection
                log.exception("notification deliverer: retrying in 15 s")
                threading.Event().wait(15)
            finally:
                if raw is not None:
                    try:
                        raw.close()
                    except Exception:  # noqa: BLE001
                        pass


def init_app(app: Flask) -> None:
    """Register the blueprint; start one deliverer thread per worker on its first request."""
    app.register_blueprint(bp)

    @app.before_request
    def _start_deliverer() -> None:
        if app.testing or _started.get(os.getpid()):
            return
        _started[os.getpid()] = True
        threading.Thread(target=_loop, args=(app,), name="notify-deliverer", daemon=True).start()

