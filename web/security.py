"""Who is calling: session cookie, bearer token or HTTP Basic; CSRF; security headers.

Cookie sessions are server-side records (:mod:`cadastre_gis.sessions`): the signed cookie
holds a random id (``sid``) and the request is signed in only while that record is open and
within the idle and absolute timeouts. Every response carries the security headers of
:func:`security_headers` (a CSP without inline script, nosniff, no framing, a referrer
policy, HSTS over HTTPS); the cookie is ``Secure`` whenever the request came over HTTPS
(``request.is_secure``, which honours the trusted proxy's ``X-Forwarded-Proto``).
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, abort, g, jsonify, redirect, request, session
from flask.sessions import SecureCookieSessionInterface

from cadastre_gis import accounts, policy, sessions
from cadastre_gis.errors import CadastreError, NotAuthenticated

F = TypeVar("F", bound=Callable[..., Any])
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    # Inline style attributes stay allowed (MapLibre and our templates set them).
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    # MapLibre GL runs its tile workers from a blob: URL.
    "worker-src 'self' blob:",
    "child-src 'self' blob:",
    "media-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HSTS = "max-age=31536000; includeSubDomains"

# Pages a session waiting for two-factor enrolment may still open.
_ENROL_OPEN = {"auth.account_2fa", "auth.logout", "auth.login", "static", "_favicon"}


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked ``Secure`` on HTTPS requests."""

    def get_cookie_secure(self, app: Flask) -> bool:  # type: ignore[override]
        """Secure when configured so, or when this request came over HTTPS."""
        try:
            return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure
        except RuntimeError:
            return bool(app.config["SESSION_COOKIE_SECURE"])


def init_app(app: Flask) -> None:
    """Resolve the caller before each request and guard cookie sessions against CSRF."""
    from . import validation

    validation.init_app(app)  # first: the edge checks run before anything reads the input
    app.session_interface = _SessionInterface()
    s = app.extensions["cadastre_settings"]
    from datetime import timedelta

    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=s.session_max_hours)
    app.config.setdefault("SESSION_COOKIE_NAME", "session")

    @app.before_request
    def _identify() -> Any:
        g.account = None
        g.auth_via = None
        g.session_key = None
        header = request.headers.get("Authorization", "")
        has_cookie = app.config["SESSION_COOKIE_NAME"] in request.cookies
        from .db import conn

        if header.lower().startswith("bearer "):
            g.account = accounts.account_for_token(conn(), header[7:].strip())
            conn().commit()
            g.auth_via = "token"
        elif header.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(header[6:], validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise NotAuthenticated("malformed Basic credentials") from exc
            # QGIS's Basic auth method: accept an API token as the password too.
            try:
                if pw.startswith(accounts.TOKEN_PREFIX):
                    g.account = accounts.account_for_token(conn(), pw)
                else:
                    acc = accounts.authenticate(conn(), user, pw, request.remote_addr,
                                                s.login_rate, stage="basic",
                                                user_agent=request.user_agent.string)
                    if acc.get("totp"):
                        raise NotAuthenticated(
                            "two-factor sign-in is on for this account: use an API token"
                            " (cadastre-gis tokens create NAME) as the password")
                    g.account = acc
            finally:
                conn().commit()
            g.auth_via = "basic"
        elif not has_cookie:
            pass  # anonymous, and the session untouched: no "Vary: Cookie" on public answers
        elif "sid" in session:
            rec = sessions.lookup(conn(), s, str(session["sid"]))
            acc = accounts.account_by_id(conn(), rec["account_id"]) if rec else None
            conn().commit()
            if acc is None:
                session.clear()
            else:
                g.account = acc
                g.auth_via = "session"
                g.session_key = rec["key"]  # type: ignore[index]
                g.enrol_2fa = rec["enrol_2fa"]  # type: ignore[index]
        elif "account_id" in session:
            session.clear()  # a cookie from before server-side sessions: sign in again
        if g.auth_via == "session" and request.method in UNSAFE and not _csrf_exempt():
            sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
            if not sent or not hmac.compare_digest(sent, csrf_token()):
                abort(400, description="missing or wrong CSRF token; reload the page")
        if g.auth_via == "session" and g.get("enrol_2fa") and request.endpoint not in _ENROL_OPEN:
            if request.accept_mimetypes.best == "text/html" or request.method == "GET":
                return redirect("/account/2fa")
            return jsonify({"code": "EnrolmentRequired",
                            "description": "set up two-factor sign-in at /account/2fa"}), 403
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        return security_headers(resp)

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"current_account": g.get("account"), "csrf_token": csrf_token}


def security_headers(resp: Response) -> Response:
    """Add the security headers to one response (kept when a view set its own CSP)."""
    h = resp.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)")
    if request.is_secure:
        h.setdefault("Strict-Transport-Security", HSTS)
    h.pop("Server", None)
    if g.get("auth_via") == "session":  # (g, not the session: no Vary: Cookie for everyone)
        # Pages of a signed-in person are not for shared caches or the back button after
        # sign-out.
        h.setdefault("Cache-Control", "no-store")
    return resp


def _csrf_exempt() -> bool:
    view = request.endpoint and request.url_rule and request.url_rule.endpoint
    return bool(view) and view in _EXEMPT


_EXEMPT: set[str] = {"auth.login"}


def csrf_token() -> str:
    """The CSRF token of this cookie session (created on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def current_account() -> dict[str, Any] | None:
    """The signed-in account (dict) or None for anonymous callers."""
    return g.get("account")


def current_session_key() -> str | None:
    """Key of the caller's cookie session, for :func:`session_valid` (None: not a session).

    A long-lived response (the live stream) takes it while the request context exists and
    re-checks it with :func:`session_valid` as it goes.
    """
    return g.get("session_key")


def session_valid(key: str | None) -> bool:
    """Whether the cookie session ``key`` is still open (sign-out, revocation, timeouts).

    Needs an app context (it uses the app's database engine); ``None`` (bearer or Basic
    callers, who re-authenticate on every request) is always valid.
    """
    if key is None:
        return True
    from .db import engine, settings

    with engine().begin() as c:
        return sessions.session_valid(c, settings(), key)


def current_role() -> str | None:
    """Role of the caller, None when anonymous."""
    acc = current_account()
    return acc["role"] if acc else None


def current_actor() -> str:
    """The name recorded in the audit log for this request."""
    acc = current_account()
    if acc:
        return f"{acc['role']}:{acc['username']}"
    return f"anonymous@{request.remote_addr}"


def require(action: str) -> dict[str, Any] | None:
    """Check the policy for the current caller; raise 401/403 on failure."""
    policy.require(current_role(), action)
    return current_account()


def requires(action: str) -> Callable[[F], F]:
    """Decorator form of :func:`require`."""

    def deco(fn: F) -> F:
        @wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            require(action)
            return fn(*a, **kw)

        return wrapper  # type: ignore[return-value]

    return deco


__all__ = ["init_app", "csrf_token", "current_account", "current_role", "current_actor",
           "current_session_key", "session_valid", "security_headers", "require", "requires",
           "CadastreError"]
