"""Engines, sessions and the actor that triggers record in the audit log.

Connections belong to a lifetime, not to the module: a :class:`Database` holds the engines
(the primary and any read replicas) of one Flask app or one CLI command and is disposed with
it (TiPG keeps its pools on ``app.state`` the same way). The helpers ``get_engine``,
``transaction`` and ``session`` find the current one:

1. the running web app's, inside its app context (``web.db`` registers a resolver for it);
2. else the innermost :func:`scope` (a CLI command, a loader run, a script);
3. else a per-process default for that URL, disposed at exit (tests, ad-hoc scripts).

Read replicas (``CADASTRE_REPLICA_URLS``) are used only through :meth:`Database.read_connect`
(and ``web.db.read_conn``) for work that is read-only by nature; a replica that does not
answer is skipped for a while and the read goes to the primary.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from .settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
"""How long a replica that failed is left alone before it is tried again."""

# Small reads: parallel workers cost more than they save (see ogc_api/sql.py).
_READ_OPTIONS = {"options": "-c max_parallel_workers_per_gather=0"}


def normalize_url(url: str) -> str:
    """Make a libpq-style URL usable by SQLAlchemy with psycopg2."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def mask(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs, status and /healthz)."""
    import re

    return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)


@dataclass
class Replica:
    """One read replica: its engine (made on first use) and when it may be tried again."""

    url: str
    engine: Engine | None = None
    down_until: float = 0.0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get_engine(self, pool_size: int) -> Engine:
        """The replica's read-only autocommit engine."""
        with self.lock:
            if self.engine is None:
                self.engine = create_engine(
                    normalize_url(self.url), pool_size=pool_size, max_overflow=pool_size,
                    pool_pre_ping=True, pool_recycle=600, isolation_level="AUTOCOMMIT",
                    connect_args={**_READ_OPTIONS, "connect_timeout": 2}, future=True)
            return self.engine


class Database:
    """The engines of one lifetime: the primary (reads and writes) and read replicas."""

    def __init__(self, settings: Settings, pool_size: int | None = None,
                 url: str | None = None) -> None:
        self.settings = settings
        self._url = url
        self.pool_size = pool_size or getattr(settings, "pool_size", 5)
        self.replicas = [Replica(u) for u in settings.replicas()]
        self._primary: Engine | None = None
        self._lock = threading.Lock()
        self._next = 0
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        # A forked process (gunicorn worker) must not share the parent's sockets: forget the
        # inherited pools without closing them (SQLAlchemy's documented pattern).
        if self._pid != os.getpid():
            self._pid = os.getpid()
            if self._primary is not None:
                self._primary.dispose(close=False)
                self._primary = None
            for r in self.replicas:
                if r.engine is not None:
                    r.engine.dispose(close=False)
                    r.engine = None

    @property
    def url(self) -> str:
        """The primary's URL (resolved on first use: the embedded cluster may start later)."""
        if self._url is None:
            self._url = self.settings.url()
        return self._url

    @property
    def primary(self) -> Engine:
        """The primary's engine (created on first use)."""
        self._after_fork()
        with self._lock:
            if self._primary is None:
                self._primary = create_engine(
                    normalize_url(self.url), pool_size=self.pool_size,
                    max_overflow=self.pool_size * 2, pool_pre_ping=True, future=True)
            return self._primary

    def _candidates(self) -> list[Replica]:
        self._after_fork()
        now = time.monotonic()
        live = [r for r in self.replicas if r.down_until <= now]
        if not live:
            return []
        with self._lock:
            self._next = (self._next + 1) % len(live)
            start = self._next
        return live[start:] + live[:start]

    def read_connect(self, use_replica: bool = True) -> Connection:
        """A connection for read-only work: a replica when one answers, else the primary.

        A replica that refuses the connection (stopped, restarting, unreachable) is marked
        down for ``RETRY_SECONDS`` and the next one, finally the primary, is used: a stopped
        replica costs no errors.
        """
        if use_replica:
            for r in self._candidates():
                try:
                    c = r.get_engine(self.pool_size).connect()
                    c.info["cadastre_replica"] = r.url
                    return c
                except (OperationalError, DBAPIError) as exc:
                    r.down_until = time.monotonic() + RETRY_SECONDS
                    r.last_error = str(exc.orig if hasattr(exc, "orig") else exc).strip()[:200]
                    log.warning("replica %s unavailable, reading from the primary for %ss: %s",
                                mask(r.url), RETRY_SECONDS, r.last_error)
        return self.primary.connect()

    def replica_status(self) -> list[dict[str, Any]]:
        """Each replica's state and replay lag in seconds (for /healthz and status)."""
        out = []
        for r in self.replicas:
            item: dict[str, Any] = {"url": mask(r.url)}
            try:
                with r.get_engine(self.pool_size).connect() as c:
                    row = c.execute(text(
                        "SELECT pg_is_in_recovery(), "
                        "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
                        "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
                    )).one()
                item.update(status="ok" if row[0] else "not a standby",
                            lag_seconds=round(float(row[1] or 0), 3))
                r.down_until = 0.0
            except (OperationalError, DBAPIError) as exc:
                r.down_until = time.monotonic() + RETRY_SECONDS
                item.update(status="unavailable",
                            error=str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200])
            out.append(item)
        return out

    def dispose(self) -> None:
        """Close every pooled connection of this lifetime."""
        with self._lock:
            if self._primary is not None:
                self._primary.dispose()
                self._primary = None
        for r in self.replicas:
            with r.lock:
                if r.engine is not None:
                    r.engine.dispose()
                    r.engine = None


# -- which Database is current ------------------------------------------------------------
_scoped: ContextVar[Database | None] = ContextVar("cadastre_database", default=None)
_resolvers: list[Callable[[], Database | None]] = []
_defaults: dict[str, Database] = {}
_defaults_lock = threading.Lock()


def add_resolver(fn: Callable[[], Database | None]) -> None:
    """Let a framework (the web app) say which Database is current (``web.db`` does)."""
    if fn not in _resolvers:
        _resolvers.append(fn)


@contextmanager
def scope(settings: Settings, pool_size: int | None = None) -> Iterator[Database]:
    """A Database for the duration of a block (a CLI command, a load): disposed at its end."""
    database = Database(settings, pool_size=pool_size)
    token = _scoped.set(database)
    try:
        yield database
    finally:
        _scoped.reset(token)
        database.dispose()


def current(settings: Settings) -> Database:
    """The Database of the current lifetime for ``settings``' database URL."""
    url = settings.url()
    for fn in _resolvers:
        found = fn()
        if found is not None and found.url == url:
            return found
    scoped = _scoped.get()
    if scoped is not None and scoped.url == url:
        return scoped
    with _defaults_lock:
        database = _defaults.get(url)
        if database is None:
            database = _defaults[url] = Database(settings, url=url)
        return database


def dispose_defaults() -> None:
    """Close the per-process default engines (at exit, or before dropping a database)."""
    with _defaults_lock:
        items = list(_defaults.values())
        _defaults.clear()
    for database in items:
        database.dispose()


atexit.register(dispose_defaults)


class _CompatCache:
    """``_engine.cache_clear()`` of the former lru_cache, kept for existing callers."""

    @staticmethod
    def cache_clear() -> None:
        dispose_defaults()


_engine = _CompatCache()


def get_engine(settings: Settings, pool_size: int = 5) -> Engine:
    """The primary's engine of the current lifetime (see the module docstring)."""
    return current(settings).primary


def read_connect(settings: Settings, use_replica: bool = True) -> Connection:
    """A read-only connection of the current lifetime: a replica when one answers."""
    return current(settings).read_connect(use_replica)


_replica_allowed: ContextVar[bool] = ContextVar("cadastre_replica_allowed", default=False)


def allow_replica(allowed: bool) -> None:
    """Say whether the current request's reads may go to a replica (set by the web layer)."""
    _replica_allowed.set(allowed)


def replica_connect(url: str) -> Connection | None:
    """For code that holds only a database URL (pygeoapi providers): a replica connection
    when the current request allows one and the current lifetime has a replica that
    answers; None means "use your own connection to the primary"."""
    if not _replica_allowed.get():
        return None
    for fn in _resolvers:
        found = fn()
        if found is not None and found.replicas and found.url == url:
            c = found.read_connect(use_replica=True)
            if c.info.get("cadastre_replica"):
                return c
            c.close()
            return None
    return None


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


def copy_column(values: Sequence[Any]) -> list[str]:
    """A whole column in COPY text format, as :func:`copy_text` writes each value.

    Text is escaped in one pass over the joined column (C speed, not one Python call per
    value), integers and floats are converted by ``str``/``repr``; anything else, or text
    holding a NUL (which PostgreSQL cannot store anyway), falls back to :func:`copy_text`.
    """
    kinds = {type(v) for v in values} - {type(None)}
    if kinds <= {str}:
        joined = "\0".join("" if v is None else v for v in values)
        if joined.count("\0") == len(values) - 1:
            out = (joined.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                   .replace("\r", "\\r").split("\0"))
            for i in [i for i, v in enumerate(values) if v is None]:
                out[i] = "\\N"
            return out
    elif kinds <= {int, float}:
        return ["\\N" if v is None else repr(v) for v in values]
    return [copy_text(v) for v in values]


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
    from sqlalchemy.orm import sessionmaker  # the ORM is only imported by those who use it

    maker = sessionmaker(bind=get_engine(settings), future=True)
    with maker() as s, s.begin():
        set_actor(s, actor)
        yield s
