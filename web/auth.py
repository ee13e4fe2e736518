"""Sign in and out with a password (web sessions); API clients use bearer tokens."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from cadastre_gis import accounts
from cadastre_gis.errors import NotAuthenticated, RateLimited

from .db import conn, settings
from .security import csrf_token

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {"citizen": "/my", "notary": "/notary", "registrar": "/staff",
                "operator": "/situation", "admin": "/staff"}


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    """Password sign-in with rate limiting; sets a fresh session."""
    error = None
    status = 200
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or sent != session.get("csrf"):
            error, status = _("The form expired; please try again."), 400
        else:
            try:
                acc = accounts.authenticate(conn(), request.form.get("username", "").strip(),
                                            request.form.get("password", ""), request.remote_addr,
                                            max_failures=settings().login_rate)
                conn().commit()
                session.clear()
                session["account_id"] = acc["id"]
                session.permanent = True
                nxt = request.args.get("next", "")
                if not nxt.startswith("/") or nxt.startswith("//"):
                    nxt = HOME_BY_ROLE.get(acc["role"], "/")
                return redirect(nxt)
            except RateLimited as exc:
                conn().commit()
                error, status = exc.message, 429
            except NotAuthenticated:
                conn().commit()
                error, status = _("Wrong user name or password."), 401
    csrf_token()
    return render_template("login.html", error=error), status


@bp.route("/logout", methods=["POST", "GET"])
def logout():  # type: ignore[no-untyped-def]
    """End the session."""
    session.clear()
    return redirect(url_for("portal.index") if "portal.index" in _endpoints() else "/")


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)
