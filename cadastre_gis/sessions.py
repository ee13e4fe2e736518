"""Server-side web sessions that end: sign-out, password change, revocation, timeouts.

The browser's signed cookie carries only a random session id; ``web_session`` keeps its
SHA-256 with the account, the sign-in time and the last use. A request is signed in only
while its row is open, younger than ``CADASTRE_SESSION_MAX_HOURS`` and used within
``CADASTRE_SESSION_IDLE_MINUTES``, so ending a row ends every copy of the cookie. Live
streams call :func:`session_valid` with :func:`session_key` of the request that opened them.
The rows live on the primary database (they are written on every sign-in and sign-out).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .db import transaction
from .errors import NotFound
from .settings import Settings


def sid_hash(sid: str) -> str:
    """SHA-256 of a session id (the id is 256 random bits, so no salt is needed)."""
    return hashlib.sha256(sid.encode()).hexdigest()


def create(conn: Connection, account_id: int, remote_addr: str | None = None,
           user_agent: str | None = None, *, enrol_2fa: bool = False) -> str:
    """Open a session for ``account_id``; returns the id to put in the cookie."""
    sid = secrets.token_urlsafe(32)
    conn.execute(text(
        "INSERT INTO web_session (sid_hash, account_id, remote_addr, user_agent, enrol_2fa)"
        " VALUES (:h, :a, :r, :u, :e)"),
        {"h": sid_hash(sid), "a": account_id, "r": remote_addr, "u": (user_agent or "")[:300],
         "e": enrol_2fa})
    return sid


_LIVE = """
  FROM web_session s JOIN account a ON a.id = s.account_id AND a.active
 WHERE s.sid_hash = :h AND s.ended_at IS NULL
   AND s.created_at > now() - make_interval(hours => :max_h)
   AND s.last_seen_at > now() - make_interval(mins => :idle_m)
"""


def lookup(conn: Connection, settings: Settings, sid: str, *, touch: bool = True
           ) -> dict[str, Any] | None:
    """The open session for cookie id ``sid`` (``account_id``, ``enrol_2fa``, ``key``) or None.

    ``touch`` records the use (at most once a minute, to keep writes rare).
    """
    h = sid_hash(sid)
    row = conn.execute(text("SELECT s.id, s.account_id, s.enrol_2fa" + _LIVE),
                       {"h": h, "max_h": settings.session_max_hours,
                        "idle_m": settings.session_idle_minutes}).first()
    if row is None:
        return None
    if touch:
        conn.execute(text("UPDATE web_session SET last_seen_at = now() WHERE id = :i"
                          " AND last_seen_at < now() - interval '1 minute'"), {"i": row[0]})
    return {"id": row[0], "account_id": row[1], "enrol_2fa": row[2], "key": h}


def session_valid(conn: Connection, settings: Settings, key: str) -> bool:
    """Whether the session with key ``key`` (see :func:`session_key`) is still open.

    For long-lived responses (the situation center's live stream): call it every few
    seconds and close the stream when it turns False. Watching counts as use.
    """
    row = conn.execute(text("SELECT s.id" + _LIVE),
                       {"h": key, "max_h": settings.session_max_hours,
                        "idle_m": settings.session_idle_minutes}).first()
    if row is None:
        return False
    conn.execute(text("UPDATE web_session SET last_seen_at = now() WHERE id = :i"
                      " AND last_seen_at < now() - interval '1 minute'"), {"i": row[0]})
    return True


def sessions_valid(conn: Connection, settings: Settings, keys: list[str]) -> set[str]:
    """The keys among ``keys`` whose sessions are still open: :func:`session_valid` for many
    live streams in one query (watching counts as use)."""
    if not keys:
        return set()
    rows = conn.execute(text("SELECT s.id, s.sid_hash" + _LIVE.replace(
        "s.sid_hash = :h", "s.sid_hash = ANY(:hs)")),
        {"hs": list(keys), "max_h": settings.session_max_hours,
         "idle_m": settings.session_idle_minutes}).all()
    if rows:
        conn.execute(text("UPDATE web_session SET last_seen_at = now() WHERE id = ANY(:ids)"
                          " AND last_seen_at < now() - interval '1 minute'"),
                     {"ids": [r[0] for r in rows]})
    return {r[1] for r in rows}


def session_key(sid: str) -> str:
    """The key :func:`session_valid` takes for a cookie session id."""
    return sid_hash(sid)


def end(conn: Connection, sid: str, reason: str = "sign-out") -> None:
    """End one session (sign-out)."""
    conn.execute(text("UPDATE web_session SET ended_at = now(), ended_reason = :r"
                      " WHERE sid_hash = :h AND ended_at IS NULL"),
                 {"h": sid_hash(sid), "r": reason})


def end_all(conn: Connection, account_id: int, reason: str, *, keep_sid: str | None = None) -> int:
    """End every open session of an account (but ``keep_sid``); returns how many."""
    res = conn.execute(text(
        "UPDATE web_session SET ended_at = now(), ended_reason = :r"
        " WHERE account_id = :a AND ended_at IS NULL AND sid_hash <> :keep"),
        {"a": account_id, "r": reason, "keep": sid_hash(keep_sid) if keep_sid else ""})
    return res.rowcount or 0


def clear_enrolment(conn: Connection, sid: str) -> None:
    """Mark a session as no longer waiting for two-factor enrolment."""
    conn.execute(text("UPDATE web_session SET enrol_2fa = false WHERE sid_hash = :h"),
                 {"h": sid_hash(sid)})


def revoke(settings: Settings, username: str, reason: str = "revoked by admin") -> int:
    """End every session of ``username`` (``cadastre-gis users revoke-sessions NAME``)."""
    with transaction(settings, actor="cli") as c:
        acc = c.execute(text("SELECT id FROM account WHERE username = :u"),
                        {"u": username}).scalar()
        if acc is None:
            raise NotFound(f"no account {username}")
        return end_all(c, int(acc), reason)


def open_sessions(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """The open sessions of an account, newest first (for the account page)."""
    rows = conn.execute(text(
        "SELECT id, created_at, last_seen_at, remote_addr, user_agent FROM web_session"
        " WHERE account_id = :a AND ended_at IS NULL ORDER BY created_at DESC LIMIT 50"),
        {"a": account_id}).mappings()
    return [dict(r) for r in rows]
