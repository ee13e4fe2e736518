"""Engines, sessions and the actor that triggers record in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from .settings import Settings


def normalize_url(url: str) -> str:
    """Make a libpq-style URL usable by SQLAlchemy with psycopg2."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


@lru_cache(maxsize=8)
def _engine(url: str, pool_size: int) -> Engine:
    return create_engine(normalize_url(url), pool_size=pool_size, max_overflow=pool_size * 2,
                         pool_pre_ping=True, future=True)


def get_engine(settings: Settings, pool_size: int = 5) -> Engine:
    """Return the (cached) engine for the settings' database."""
    return _engine(settings.url(), pool_size)


def copy_text(v: Any) -> str:
    """One value in PostgreSQL's COPY text format (NULL as \\N, control characters escaped)."""
    if v is None:
        return "\\N"
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def set_actor(conn: Connection | Session, actor: str | None) -> None:
    """Name the person or system that makes the changes in this transaction (for the audit)."""
    if actor:
        conn.execute(text("SELECT set_config('cadastre.actor', :a, true)"), {"a": actor})


@contextmanager
def transaction(settings: Settings, actor: str | None = None) -> Iterator[Connection]:
    """One database transaction as ``actor``: committed on success, rolled back on error."""
    with get_engine(settings).begin() as conn:
        set_actor(conn, actor)
        yield conn


@contextmanager
def session(settings: Settings, actor: str | None = None) -> Iterator[Session]:
    """An ORM session in one transaction as ``actor``."""
    maker = sessionmaker(bind=get_engine(settings), future=True)
    with maker() as s, s.begin():
        set_actor(s, actor)
        yield s
