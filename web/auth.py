"""Sign in (password, then a two-factor code when on), sign out, the account page.

API clients use bearer tokens and are not affected by anything here. Sessions are server-side
records (:mod:`cadastre_gis.sessions`): signing out, changing the password or an admin's
``cadastre-gis users revoke-sessions NAME`` ends every copy of the cookie.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, g, redirect, render_template, request, session
from flask_babel import gettext as _

from cadastre_gis import accounts, sessions, signin
from cadastre_gis.errors import InvalidInput, NotAuthenticated, RateLimited

from .db import conn, settings
from .security import csrf_token, current_account
from .validation import text_field

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {"citizen": "/my", "notary": "/notary", "registrar": "/staff",
                "operator": "/situation", "admin": "/staff"}
PENDING_SECONDS = 300
"""How long the code step waits after a correct password."""


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirect).

    Refused: absolute and scheme-relative URLs (``https://x``, ``//x``), backslashes
    (``/\\x`` is ``//x`` to browsers), and any whitespace or control character (browsers drop
    a tab, so ``/<TAB>/x`` would become ``//x``).
    """
    if not target or len(target) > 2000 or not target.startswith("/"):
        return default
    if target.startswith("//") or "\\" in target:
        return default
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def _login_form(step: str = "password", error: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    csrf_token()
    return render_template("login.html", error=error, step=step,
                           next=request.args.get("next", "")), status


def _open_session(acc: dict[str, Any], *, enrol: bool = False) -> None:
    """A fresh session (new id: no fixation) recorded on the primary."""
    old = session.get("sid")
    with _write() as c:
        if old:
            sessions.end(c, str(old), "replaced by a new sign-in")
        sid = sessions.create(c, acc["id"], request.remote_addr, request.user_agent.string,
                              enrol_2fa=enrol)
    session.clear()
    session["sid"] = sid
    session.permanent = True
    csrf_token()


def _write():  # type: ignore[no-untyped-def]
    from .db import write

    return write("auth")


def _destination(acc: dict[str, Any], nxt: str | None) -> str:
    return safe_next(nxt, HOME_BY_ROLE.get(acc["role"], "/"))


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    """Step 1: user name and password; step 2 (two-factor on): the 6-digit ``code``."""
    pending = _pending()
    if request.method == "GET":
        return _login_form("code" if pending else "password")
    sent = request.form.get("csrf_token", "")
    if not sent or sent != session.get("csrf"):
        return _login_form(error=_("The form expired; please try again."), status=400)
    s = settings()
    ua = request.user_agent.string
    if "code" in request.form and "password" not in request.form:
        if not pending:
            return _login_form(error=_("The sign-in took too long; please start again."),
                               status=400)
        try:
            code = text_field(request.form.get("code"), "code", 32, multiline=False) or ""
            signin.check_backoff(conn(), pending["u"], request.remote_addr, s.login_rate,
                                 "code", ua)
            kind = signin.verify_second_factor(conn(), pending["a"], code)
            signin.audit(conn(), pending["u"], request.remote_addr, kind is not None,
                         kind or "code", None if kind else "wrong code", ua)
            conn().commit()
        except RateLimited as exc:
            conn().commit()
            return _login_form("code", exc.message, 429)
        if kind is None:
            return _login_form("code", _("Wrong code; try the current one from your app."), 401)
        acc = accounts.account_by_id(conn(), pending["a"])
        if acc is None:
            session.pop("pending", None)
            return _login_form(error=_("Wrong user name or password."), status=401)
        _open_session(acc)
        return redirect(_destination(acc, pending.get("n")))
    try:
        username = text_field(request.form.get("username"), "username", 64,
                              multiline=False) or ""
        password = text_field(request.form.get("password"), "password", 1024,
                              multiline=False, strip=False) or ""
        acc = accounts.authenticate(conn(), username, password, request.remote_addr,
                                    max_failures=s.login_rate, user_agent=ua)
        conn().commit()
    except RateLimited as exc:
        conn().commit()
        return _login_form(error=exc.message, status=429)
    except NotAuthenticated:
        conn().commit()
        return _login_form(error=_("Wrong user name or password."), status=401)
    except InvalidInput:
        conn().rollback()
        return _login_form(error=_("Wrong user name or password."), status=400)
    nxt = request.args.get("next") or request.form.get("next")
    if acc.get("totp"):
        session.pop("sid", None)
        session["pending"] = {"a": acc["id"], "u": acc["username"], "t": int(time.time()),
                              "n": safe_next(nxt, "")}
        return _login_form("code")
    if acc["role"] in s.roles_requiring_2fa:
        _open_session(acc, enrol=True)
        return redirect("/account/2fa")
    _open_session(acc)
    return redirect(_destination(acc, nxt))


def _pending() -> dict[str, Any] | None:
    p = session.get("pending")
    if not isinstance(p, dict) or time.time() - float(p.get("t", 0)) > PENDING_SECONDS:
        session.pop("pending", None)
        return None
    return p


@bp.route("/logout", methods=["POST", "GET"])
def logout():  # type: ignore[no-untyped-def]
    """End the session: its server record too, so a copied cookie stops working."""
    sid = session.get("sid")
    if sid:
        with _write() as c:
            sessions.end(c, str(sid), "sign-out")
    session.clear()
    return redirect("/")


# --------------------------------------------------------------------------------------
# The account page: password, two-factor, open sessions
# --------------------------------------------------------------------------------------

def _signed_in() -> dict[str, Any]:
    acc = current_account()
    if acc is None or g.get("auth_via") != "session":
        raise NotAuthenticated("sign in first")
    return acc


@bp.route("/account", methods=["GET"])
def account():  # type: ignore[no-untyped-def]
    """The signed-in person's account: two-factor status, password, sessions."""
    if current_account() is None or g.get("auth_via") != "session":
        return redirect("/login?next=/account")
    acc = current_account()
    assert acc is not None
    return _account_page(acc)


def _account_page(acc: dict[str, Any], message: str | None = None, error: str | None = None,
                  status: int = 200):  # type: ignore[no-untyped-def]
    return render_template(
        "account/index.html", acc=acc, totp=signin.totp_enabled(conn(), acc["id"]),
        sessions=sessions.open_sessions(conn(), acc["id"]), message=message, error=error,
        current_key=g.get("session_key")), status


@bp.route("/account/password", methods=["POST"])
def change_password():  # type: ignore[no-untyped-def]
    """Change the password; every other session of the account ends."""
    acc = _signed_in()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password2", new):
        return _account_page(acc, error=_("The new passwords differ."), status=400)
    try:
        text_field(new, "new password", 1024, multiline=False, strip=False, required=True)
        signin.check_new_password(new)
        with _write() as c:
            from sqlalchemy import text

            stored = c.execute(text("SELECT password_hash FROM account WHERE id = :i"),
                               {"i": acc["id"]}).scalar()
            if not accounts.verify_password(stored, current):
                raise NotAuthenticated("the current password is wrong")
            c.execute(text("UPDATE account SET password_hash = :h WHERE id = :i"),
                      {"h": accounts.hash_password(new), "i": acc["id"]})
            sessions.end_all(c, acc["id"], "password changed")
    except (InvalidInput, NotAuthenticated) as exc:
        return _account_page(acc, error=exc.message, status=400)
    _open_session(acc)
    return _account_page(acc, message=_("Password changed; you were signed out everywhere else."))


@bp.route("/account/sessions/end", methods=["POST"])
def end_sessions():  # type: ignore[no-untyped-def]
    """Sign out every other browser."""
    acc = _signed_in()
    with _write() as c:
        n = sessions.end_all(c, acc["id"], "signed out elsewhere", keep_sid=session.get("sid"))
    return _account_page(acc, message=_("%(n)s other session(s) ended.", n=n))


@bp.route("/account/2fa", methods=["GET", "POST"])
def account_2fa():  # type: ignore[no-untyped-def]
    """Enrol in two-factor sign-in: scan the QR code, confirm with a code, keep the recovery codes."""
    acc = _signed_in()
    enabled = signin.totp_enabled(conn(), acc["id"])
    required = acc["role"] in settings().roles_requiring_2fa
    if request.method == "POST" and request.form.get("action") == "off":
        if required:
            return _account_page(acc, error=_("Two-factor sign-in is required for your role."),
                                 status=400)
        code = request.form.get("code", "")
        with _write() as c:
            ok = signin.verify_second_factor(c, acc["id"], code) is not None
            if ok:
                signin.disable(c, acc["id"])
        if not ok:
            return _account_page(acc, error=_("Wrong code."), status=400)
        return _account_page(acc, message=_("Two-factor sign-in is off."))
    if enabled and not g.get("enrol_2fa"):
        return _account_page(acc)
    secret = session.get("enrol_secret")
    if not secret or request.method == "GET":
        secret = signin.new_secret()
        session["enrol_secret"] = secret
    if request.method == "POST":
        code = request.form.get("code", "")
        if signin.check_totp(secret, code, None) is None:
            return _enrol_page(acc, secret, _("Wrong code; scan the QR code again and retry."),
                               400)
        with _write() as c:
            codes = signin.enable(c, acc["id"], secret)
            signin.audit(c, acc["username"], request.remote_addr, True, "enrol", None,
                         request.user_agent.string)
            if session.get("sid"):
                sessions.clear_enrolment(c, str(session["sid"]))
        session.pop("enrol_secret", None)
        return render_template("account/recovery.html", codes=codes)
    return _enrol_page(acc, secret)


def _enrol_page(acc: dict[str, Any], secret: str, error: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    import qrcode
    import qrcode.image.svg

    uri = signin.provisioning_uri(secret, acc["username"])
    img = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = img.to_string()
    data = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    return render_template("account/enrol.html", acc=acc, secret=secret, uri=uri, qr=data,
                           error=error, required=bool(g.get("enrol_2fa"))), status
