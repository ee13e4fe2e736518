"""Serve the app with gunicorn and evented (gevent) workers.

Why gevent: an open Server-Sent Events stream (``/situation/stream``) would hold a thread of a
threaded worker for as long as an operator keeps the dashboard open, so a few dozen operators
exhausted the server. gunicorn's gevent worker runs every request in a greenlet: an idle stream
is a socket and a queue, and one process serves thousands of them while it keeps answering OGC
and portal requests. psycopg2 is a C library that would block the whole process while it waits
for PostgreSQL; ``psycogreen`` installs psycopg2's wait callback so every query yields to the
other greenlets instead. The standard library is monkey-patched by the gevent worker before the
app is imported, so threads (the LISTEN hubs, the tile-cache listener) become greenlets too.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from cadastre_gis.settings import Settings

WORKER_CONNECTIONS = 4000
"""Simultaneous connections per worker process (open streams included)."""


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for k, v in self.options.items():
            self.cfg.set(k, v)

    def load(self):  # type: ignore[no-untyped-def]
        # runs in the worker, after the gevent worker monkey-patched the standard library
        green()
        from . import create_app

        return create_app(self.settings)


def green() -> None:
    """Make psycopg2 cooperative under gevent (idempotent; nothing to do without gevent)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return
    if monkey.is_module_patched("socket"):
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def options(settings: Settings, host: str, port: int, workers: int) -> dict[str, Any]:
    """gunicorn settings for ``cadastre-gis serve``."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gevent",
        "worker_connections": WORKER_CONNECTIONS,
        "backlog": 4096,
        # a streaming response is not a stuck worker: the gevent worker's heartbeat runs in
        # its own greenlet, so this only catches a process that stopped scheduling
        "timeout": 120,
        "graceful_timeout": 5,
        # Idle keep-alive connections cost a greenlet each, not a thread; keeping them longer
        # than clients and proxies do (60 s is the common idle timeout) means the client
        # closes first, so a pooled connection is never reused just as the server drops it
        # ("connection closed without response" under a mixed load with think times).
        "keepalive": 75,
        # one shared $HOME/.gunicorn/gunicorn.ctl would be fought over by several servers
        # on one machine (tests, benchmarks, data dirs side by side); nothing here uses it
        "control_socket_disable": True,
        "accesslog": "-" if settings.log_level == "DEBUG" else None,
        "loglevel": settings.log_level.lower(),
    }


def run(settings: Settings, host: str, port: int, workers: int = 2) -> None:
    """Block serving http://host:port with ``workers`` evented processes."""
    print(f"serving on http://{host}:{port}  (workers: {workers}, gevent; Ctrl-C stops)",
          flush=True)
    _Gunicorn(settings, options(settings, host, port, workers)).run()
