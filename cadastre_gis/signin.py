"""Sign-in: audit of every attempt, backoff instead of lock-out, TOTP two-factor, recovery codes.

Backoff, all counted in ``login_attempt`` over the last 15 minutes:

* per account *and* address: after ``CADASTRE_LOGIN_RATE // 2`` failures (at least 3) each
  further try waits twice as long as the last (1 s, 2 s, 4 s … up to 15 minutes). Someone
  guessing from elsewhere never slows down the owner's own address.
* per address (password spraying over many accounts): the same after five times the rate.
* per account from any address (a botnet): after ten times the rate, only addresses that
  never signed in to this account successfully (30 days) are slowed down.

A refused attempt is not checked at all (no password oracle) and is audited as ``throttled``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

import pyotp
from sqlalchemy import text
from sqlalchemy.engine import Connection

from .db import transaction
from .errors import InvalidInput, NotAuthenticated, NotFound, RateLimited
from .settings import Settings

WINDOW = "15 minutes"
MAX_WAIT = 15 * 60
FIRST_WAIT = 5.0
ISSUER = "Tashkent cadastre"
RECOVERY_CODES = 10


def _wait(failures: int, free: int, last_age: float) -> float:
    if failures < free:
        return 0.0
    wait = min(FIRST_WAIT * 2.0 ** (failures - free), MAX_WAIT)
    return max(0.0, wait - last_age)


def backoff(conn: Connection, username: str, remote_addr: str | None, rate: int = 10) -> float:
    """Seconds this account+address must still wait before the next try (0: go ahead)."""
    row = conn.execute(text(f"""
        SELECT count(*) FILTER (WHERE username = :u AND remote_addr IS NOT DISTINCT FROM :r),
               extract(epoch FROM now() - max(at) FILTER (
                 WHERE username = :u AND remote_addr IS NOT DISTINCT FROM :r)),
               count(*) FILTER (WHERE remote_addr IS NOT DISTINCT FROM :r),
               extract(epoch FROM now() - max(at) FILTER (
                 WHERE remote_addr IS NOT DISTINCT FROM :r)),
               count(*) FILTER (WHERE username = :u),
               extract(epoch FROM now() - max(at) FILTER (WHERE username = :u))
          FROM login_attempt
         WHERE NOT ok AND coalesce(reason, '') <> 'throttled'
           AND at > now() - interval '{WINDOW}'
           AND (username = :u OR remote_addr IS NOT DISTINCT FROM :r)"""),
        {"u": username, "r": remote_addr}).one()
    pair_n, pair_age, addr_n, addr_age, acc_n, acc_age = row
    free = max(3, rate // 2)
    wait = max(_wait(pair_n, free, float(pair_age or 0)),
               _wait(addr_n, 5 * rate, float(addr_age or 0)))
    if acc_n >= 10 * rate:
        known = conn.execute(text(
            "SELECT 1 FROM login_attempt WHERE username = :u AND ok AND stage <> 'basic'"
            " AND remote_addr IS NOT DISTINCT FROM :r AND at > now() - interval '30 days'"
            " LIMIT 1"), {"u": username, "r": remote_addr}).first()
        if known is None:
            wait = max(wait, _wait(acc_n, 10 * rate, float(acc_age or 0)))
    return wait


def audit(conn: Connection, username: str, remote_addr: str | None, ok: bool,
          stage: str = "password", reason: str | None = None, user_agent: str | None = None) -> None:
    """Record one sign-in attempt (success or failure) in ``login_attempt``."""
    conn.execute(text(
        "INSERT INTO login_attempt (username, remote_addr, ok, stage, reason, user_agent)"
        " VALUES (:u, :r, :o, :s, :why, :ua)"),
        {"u": username[:64], "r": remote_addr, "o": ok, "s": stage, "why": reason,
         "ua": (user_agent or "")[:300] or None})


def check_backoff(conn: Connection, username: str, remote_addr: str | None, rate: int,
                  stage: str = "password", user_agent: str | None = None) -> None:
    """Raise RateLimited (and audit the refusal) while this account+address must wait."""
    wait = backoff(conn, username, remote_addr, rate)
    if wait > 0:
        audit(conn, username, remote_addr, False, stage, "throttled", user_agent)
        raise RateLimited(f"too many failed sign-ins; try again in {int(wait) + 1} s",
                          retry_after=int(wait) + 1)


# --------------------------------------------------------------------------------------
# Two-factor: TOTP (RFC 6238, 30 s steps, 6 digits) and one-time recovery codes
# --------------------------------------------------------------------------------------

def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").replace(" ", "").lower().encode()).hexdigest()


def new_recovery_codes(conn: Connection, account_id: int) -> list[str]:
    """Replace the account's recovery codes with fresh ones; returns them (shown once)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:12]}")
    conn.execute(text("DELETE FROM account_recovery_code WHERE account_id = :a"),
                 {"a": account_id})
    for code in codes:
        conn.execute(text("INSERT INTO account_recovery_code (account_id, code_hash)"
                          " VALUES (:a, :h)"), {"a": account_id, "h": _code_hash(code)})
    return codes


def totp_enabled(conn: Connection, account_id: int) -> bool:
    """Whether two-factor sign-in is on for this account."""
    return bool(conn.execute(text("SELECT totp_enabled_at IS NOT NULL FROM account WHERE id = :i"),
                             {"i": account_id}).scalar())


def enable(conn: Connection, account_id: int, secret: str) -> list[str]:
    """Turn two-factor on with ``secret``; returns new recovery codes."""
    conn.execute(text("UPDATE account SET totp_secret = :s, totp_enabled_at = now(),"
                      " totp_last_step = NULL WHERE id = :i"), {"s": secret, "i": account_id})
    return new_recovery_codes(conn, account_id)


def disable(conn: Connection, account_id: int) -> None:
    """Turn two-factor off and drop the recovery codes."""
    conn.execute(text("UPDATE account SET totp_secret = NULL, totp_enabled_at = NULL,"
                      " totp_last_step = NULL WHERE id = :i"), {"i": account_id})
    conn.execute(text("DELETE FROM account_recovery_code WHERE account_id = :a"),
                 {"a": account_id})


def check_totp(secret: str, code: str, last_step: int | None, at: float | None = None
               ) -> int | None:
    """The time step ``code`` is valid for (±1 step of drift), None when wrong or replayed."""
    code = code.replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    step = int(now // totp.interval)
    for s in (step, step - 1, step + 1):
        if last_step is not None and s <= last_step:
            continue
        if secrets.compare_digest(totp.at(s * totp.interval), code):
            return s
    return None


def verify_second_factor(conn: Connection, account_id: int, code: str) -> str | None:
    """Check a TOTP code or a recovery code; returns the kind used or None (nothing used up)."""
    code = (code or "").strip()
    if not code or len(code) > 32:
        return None
    row = conn.execute(text("SELECT totp_secret, totp_last_step FROM account WHERE id = :i"
                            " FOR UPDATE"), {"i": account_id}).first()
    if row is None or row[0] is None:
        return None
    step = check_totp(row[0], code, row[1])
    if step is not None:
        conn.execute(text("UPDATE account SET totp_last_step = :s WHERE id = :i"),
                     {"s": step, "i": account_id})
        return "code"
    used = conn.execute(text(
        "UPDATE account_recovery_code SET used_at = now() WHERE account_id = :a"
        " AND code_hash = :h AND used_at IS NULL RETURNING id"),
        {"a": account_id, "h": _code_hash(code)}).first()
    return "recovery" if used else None


def cli_enable(settings: Settings, username: str) -> dict[str, Any]:
    """``cadastre-gis users 2fa NAME``: new secret, URI and recovery codes."""
    with transaction(settings, actor="cli") as c:
        acc = c.execute(text("SELECT id FROM account WHERE username = :u AND active"),
                        {"u": username}).scalar()
        if acc is None:
            raise NotFound(f"no active account {username}")
        secret = new_secret()
        codes = enable(c, int(acc), secret)
    return {"secret": secret, "uri": provisioning_uri(secret, username), "recovery_codes": codes}


def cli_disable(settings: Settings, username: str) -> None:
    """``cadastre-gis users 2fa NAME --off``: reset two-factor (lost phone)."""
    with transaction(settings, actor="cli") as c:
        acc = c.execute(text("SELECT id FROM account WHERE username = :u"),
                        {"u": username}).scalar()
        if acc is None:
            raise NotFound(f"no account {username}")
        disable(c, int(acc))


def check_new_password(password: str) -> None:
    """The rules for a new password (as ``users add``)."""
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
    if len(password) > 1024:
        raise InvalidInput("password is longer than 1024 characters")


__all__ = ["backoff", "check_backoff", "audit", "new_secret", "provisioning_uri", "enable",
           "disable", "verify_second_factor", "check_totp", "totp_enabled", "cli_enable",
           "cli_disable", "NotAuthenticated"]
