"""The registry's one clock, read from the database (``cadastre_today()`` / ``cadastre_now()``).

Python's ``date.today()`` would be a second clock that tests cannot move and that a server in
another time zone reads differently; domain code asks these instead.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection


def today(conn: Connection) -> date:
    """Today on the registry's clock (Tashkent's calendar day)."""
    return conn.execute(text("SELECT cadastre_today()")).scalar_one()


def now(conn: Connection) -> datetime:
    """Now on the registry's clock."""
    return conn.execute(text("SELECT cadastre_now()")).scalar_one()
