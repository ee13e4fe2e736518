"""Who is calling: session cookie, bearer token or HTTP Basic; CSRF for cookie sessions."""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, g, request, session

from cadastre_gis import accounts, policy
from cadastre_gis.errors import CadastreError, NotAuthenticated

F = TypeVar("F", bound=Callable[..., Any])
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def init_app(app: Flask) -> None:
    """Resolve the caller before each request and guard cookie sessions against CSRF."""
    from . import validation

    validation.init_app(app)  # first: the edge checks run before anything reads the input

    @app.before_request
    def _identify() -> None:
        g.account = None
        g.auth_via = None
        header = request.headers.get("Authorization", "")
        from .db import conn

        if header.lower().startswith("bearer "):
            g.account = accounts.account_for_token(conn(), header[7:].strip())
            conn().commit()
            g.auth_via = "token"
        elif header.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise NotAuthenticated("malformed Basic credentials") from exc
            # QGIS's Basic auth method: accept an API token as the password too.
            try:
                if pw.startswith(accounts.TOKEN_PREFIX):
                    g.account = accounts.account_for_token(conn(), pw)
                else:
                    g.account = accounts.authenticate(conn(), user, pw, request.remote_addr)
            finally:
                conn().commit()
            g.auth_via = "basic"
        elif "account_id" in session:
            g.account = accounts.account_by_id(conn(), int(session["account_id"]))
            g.auth_via = "session" if g.account else None
            if g.account is None:
                session.clear()
        if g.auth_via == "session" and request.method in UNSAFE and not _csrf_exempt():
            sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
            if not sent or not hmac.compare_digest(sent, csrf_token()):
                abort(400, description="missing or wrong CSRF token; reload the page")

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"current_account": g.get("account"), "csrf_token": csrf_token}


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
           "require", "requires", "CadastreError"]
