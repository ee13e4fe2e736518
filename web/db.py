"""Per-request database access for the web layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g
from sqlalchemy.engine import Connection, Engine

from cadastre_gis.db import get_engine, set_actor
from cadastre_gis.settings import Settings


def settings() -> Settings:
    """The app's settings."""
    return current_app.extensions["cadastre_settings"]


def engine() -> Engine:
    """The app's engine."""
    return get_engine(settings(), pool_size=5)


def conn() -> Connection:
    """A read connection for this request (closed at teardown)."""
    if "db_conn" not in g:
        g.db_conn = engine().connect()
    return g.db_conn


@contextmanager
def write(actor: str | None = None) -> Iterator[Connection]:
    """One write transaction as ``actor`` (defaults to the signed-in account)."""
    from .security import current_actor

    with engine().begin() as c:
        set_actor(c, actor or current_actor())
        yield c
