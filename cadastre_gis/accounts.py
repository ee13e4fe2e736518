"""Accounts, argon2 password hashes and hashed bearer tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import clock
from .db import get_engine, transaction
from .errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from .pinfl import check_pinfl
from .policy import ROLES
from .settings import Settings

_hasher = PasswordHasher()
TOKEN_PREFIX = "cgt_"


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Check ``password`` against an argon2 hash."""
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token (tokens are long random strings, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def resolve_districts(conn: Connection, districts: list[str]) -> list[int]:
    """Map district codes or names to ids, failing on an unknown one."""
    ids = []
    for d in districts:
        row = conn.execute(
            text("SELECT id FROM district WHERE code = :d OR lower(name) = lower(:d)"
                 " OR lower(name_ru) = lower(:d)"), {"d": d.strip()}).first()
        if row is None:
            raise InvalidInput(f"unknown district {d!r}")
        ids.append(int(row[0]))
    return ids


def add_user(settings: Settings, username: str, role: str, password: str, *,
             districts: list[str] | None = None, pinfl: str | None = None,
             full_name: str | None = None, conn: Connection | None = None,
             all_districts: bool = False) -> dict[str, Any]:
    """Create an account; citizens are linked to their party by PINFL.

    Fails closed: a registrar names their districts (``districts``) or is explicitly made
    city-wide (``all_districts``); a registrar with neither is refused.
    """
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{3,64}", username):
        raise InvalidInput("user name: 3-64 letters, digits or _ . @ -")
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
    if role == "citizen" and not pinfl:
        raise InvalidInput("a citizen account needs --pinfl")
    if role == "registrar" and not districts and not all_districts:
        raise InvalidInput("a registrar account needs --district (one or more) or, for the"
                           " whole city, --all-districts")
    if districts and all_districts:
        raise InvalidInput("give --district or --all-districts, not both")
    if (districts or all_districts) and role != "registrar":
        raise InvalidInput("--district and --all-districts are for registrar accounts")

    def _do(c: Connection) -> dict[str, Any]:
        p = check_pinfl(pinfl, clock.today(c)) if pinfl is not None else None
        if c.execute(text("SELECT 1 FROM account WHERE username = :u"), {"u": username}).first():
            raise Conflict(f"account {username} already exists")
        district_ids = resolve_districts(c, districts or [])
        if all_districts:
            district_ids = list(c.execute(text("SELECT id FROM district ORDER BY id")).scalars())
        party_id = None
        if p:
            party_id = c.execute(text("SELECT id FROM party WHERE pinfl = :p"),
                                 {"p": p}).scalar()
        row = c.execute(text(
            "INSERT INTO account (username, password_hash, role, full_name, pinfl, party_id,"
            " district_ids) VALUES (:u, :h, :r, :f, :p, :party, :d) RETURNING id"),
            {"u": username, "h": hash_password(password), "r": role, "f": full_name,
             "p": p, "party": party_id, "d": district_ids}).scalar_one()
        notes = []
        if p and party_id is None:
            notes.append(f"note: no party with PINFL {p} yet; the account will see no property")
        return {"id": row, "username": username, "role": role, "districts": district_ids,
                "party_id": party_id, "notes": notes}

    if conn is not None:
        return _do(conn)
    with transaction(settings, actor="cli") as c:
        result = _do(c)
    hook = _role_hook()
    if hook is not None:
        result["notes"].extend(hook(settings, username, role, password, result["districts"]))
    return result


def _role_hook():  # type: ignore[no-untyped-def]
    """Database login roles for QGIS (added by the registry module when present)."""
    try:
        from .dbroles import create_login_role
    except ImportError:
        return None
    return create_login_role


def list_users(settings: Settings) -> list[dict[str, Any]]:
    """All accounts, without secrets."""
    with get_engine(settings).connect() as c:
        rows = c.execute(text("SELECT id, username, role, district_ids FROM account ORDER BY id"))
        return [{"id": r[0], "username": r[1], "role": r[2], "districts": r[3]} for r in rows]


def create_token(settings: Settings, username: str, *, label: str = "cli", days: int | None = None,
                 conn: Connection | None = None) -> str:
    """Create a bearer token for ``username``; returns the token (stored only as a hash)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = days if days is not None else settings.token_days
    expires = datetime.now(UTC) + timedelta(days=lifetime)

    def _do(c: Connection) -> None:
        acc = c.execute(text("SELECT id FROM account WHERE username = :u AND active"),
                        {"u": username}).scalar()
        if acc is None:
            raise NotFound(f"no active account {username}")
        c.execute(text("INSERT INTO api_token (account_id, name, prefix, token_hash, expires_at)"
                       " VALUES (:a, :n, :p, :h, :e)"),
                  {"a": acc, "n": label, "p": token[:10], "h": token_hash(token), "e": expires})

    if conn is not None:
        _do(conn)
    else:
        with transaction(settings, actor="cli") as c:
            _do(c)
    return token


def revoke_token(settings: Settings, prefix: str) -> int:
    """Revoke tokens starting with ``prefix``; returns how many."""
    if len(prefix) < 8:
        raise InvalidInput("give at least 8 characters of the token")
    with transaction(settings, actor="cli") as c:
        res = c.execute(text("UPDATE api_token SET revoked_at = now() WHERE revoked_at IS NULL"
                             " AND prefix = left(:p, 10)"), {"p": prefix})
        return res.rowcount or 0


def account_for_token(conn: Connection, token: str) -> dict[str, Any]:
    """Return the account behind a valid bearer token or raise NotAuthenticated."""
    row = conn.execute(text(
        "SELECT a.id, a.username, a.role, a.district_ids, a.party_id, a.pinfl, a.full_name, t.id"
        "  FROM api_token t JOIN account a ON a.id = t.account_id"
        " WHERE t.token_hash = :h AND t.revoked_at IS NULL AND a.active"
        "   AND (t.expires_at IS NULL OR t.expires_at > now())"), {"h": token_hash(token)}).first()
    if row is None:
        raise NotAuthenticated("invalid, expired or revoked token")
    conn.execute(text("UPDATE api_token SET last_used_at = now() WHERE id = :i"
                      " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"),
                 {"i": row[7]})
    return _account_dict(row)


def _account_dict(row: Any) -> dict[str, Any]:
    return {"id": row[0], "username": row[1], "role": row[2], "district_ids": list(row[3] or []),
            "party_id": row[4], "pinfl": row[5], "full_name": row[6]}


def authenticate(conn: Connection, username: str, password: str, remote_addr: str | None,
                 max_failures: int = 10, *, stage: str = "password",
                 user_agent: str | None = None) -> dict[str, Any]:
    """Check a password with backoff per account and address; every attempt is audited.

    The returned account carries ``totp`` (two-factor on): the web sign-in then asks for
    the code before it opens a session (see :mod:`cadastre_gis.signin`).
    """
    from . import signin

    signin.check_backoff(conn, username, remote_addr, max_failures, stage, user_agent)
    row = conn.execute(text(
        "SELECT id, username, role, district_ids, party_id, pinfl, full_name, password_hash,"
        "       totp_enabled_at IS NOT NULL"
        "  FROM account WHERE username = :u AND active"), {"u": username}).first()
    ok = row is not None and verify_password(row[7], password)
    signin.audit(conn, username, remote_addr, ok, stage, None if ok else "wrong password",
                 user_agent)
    if not ok or row is None:
        raise NotAuthenticated("wrong user name or password")
    conn.execute(text("UPDATE account SET last_login_at = now() WHERE id = :i"), {"i": row[0]})
    return _account_dict(row) | {"totp": bool(row[8])}


def account_by_id(conn: Connection, account_id: int) -> dict[str, Any] | None:
    """The active account with this id, or None."""
    row = conn.execute(text(
        "SELECT id, username, role, district_ids, party_id, pinfl, full_name FROM account"
        " WHERE id = :i AND active"), {"i": account_id}).first()
    return _account_dict(row) if row else None
