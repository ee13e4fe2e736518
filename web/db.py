"""Per-request database access for the web layer.

The app owns its engines: ``init_app`` puts a :class:`cadastre_gis.db.Database` in
``app.extensions['cadastre_db']`` and disposes it when the process exits; the domain helpers
(``get_engine``, ``transaction``, ``session``) find it through a resolver.

- ``conn()``: the request's connection to the **primary** (sign-in, sessions, anything that
  may be followed by a write or must see the latest state).
- ``read_conn()``: for read-only pages (portal, search, public pages, OGC reads): a **replica**
  when ``CADASTRE_REPLICA_URLS`` lists one that answers and this client has not written in
  the last ``CADASTRE_REPLICA_STICKINESS`` seconds, else the primary.
- ``write()``: one transaction on the primary, as the signed-in actor; it marks the client
  (cookie ``cadastre_rw``) so its next reads see its own writes.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy.engine import Connection, Engine

from cadastre_gis import db as core
from cadastre_gis.db import Database, set_actor
from cadastre_gis.settings import Settings

RW_COOKIE = "cadastre_rw"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _resolve() -> Database | None:
    if has_app_context():
        return current_app.extensions.get("cadastre_db")
    return None


core.add_resolver(_resolve)


def init_app(app: Flask) -> None:
    """Create the app's Database (engines are opened lazily) and its read-your-writes marker."""
    database = Database(app.extensions["cadastre_settings"])
    app.extensions["cadastre_db"] = database
    atexit.register(database.dispose)

    @app.before_request
    def _route_reads() -> None:
        core.allow_replica(replica_ok())

    @app.after_request
    def _mark_writer(response):  # type: ignore[no-untyped-def]
        # A client that has just changed something reads from the primary for a moment.
        if (database.replicas and (g.get("db_wrote") or request.method not in SAFE_METHODS)
                and response.status_code < 400):
            seconds = max(1, int(settings().replica_stickiness))
            response.set_cookie(RW_COOKIE, "1", max_age=seconds, httponly=True,
                                samesite="Lax", secure=request.is_secure)
        return response

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        for key in ("db_conn", "db_read_conn"):
            c = g.pop(key, None)
            if c is not None:
                c.close()


def settings() -> Settings:
    """The app's settings."""
    return current_app.extensions["cadastre_settings"]


def database() -> Database:
    """The app's Database (primary and replicas)."""
    return current_app.extensions["cadastre_db"]


def engine() -> Engine:
    """The app's primary engine."""
    return database().primary


def conn() -> Connection:
    """A connection to the primary for this request (closed at teardown)."""
    if "db_conn" not in g:
        g.db_conn = engine().connect()
    return g.db_conn


def replica_ok() -> bool:
    """May this request read from a replica? Safe method, no recent write, no bearer token.

    Bearer-token clients (QGIS, notaries' systems) carry no cookie, so their reads stay on
    the primary: they read their own writes without a marker.
    """
    if not has_request_context() or not database().replicas:
        return False
    return (request.method in ("GET", "HEAD") and RW_COOKIE not in request.cookies
            and "Authorization" not in request.headers and not g.get("db_wrote"))


def read_conn() -> Connection:
    """A read-only connection for this request: a replica when allowed and answering."""
    if "db_read_conn" not in g:
        g.db_read_conn = database().read_connect(use_replica=replica_ok())
    return g.db_read_conn


@contextmanager
def write(actor: str | None = None) -> Iterator[Connection]:
    """One write transaction as ``actor`` (defaults to the signed-in account)."""
    from .security import current_actor

    if has_request_context():
        g.db_wrote = True
        core.allow_replica(False)
    with engine().begin() as c:
        set_actor(c, actor or current_actor())
        yield c
