"""Serve the app with gunicorn (a production WSGI server)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from cadastre_gis.settings import Settings


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for k, v in self.options.items():
            self.cfg.set(k, v)

    def load(self):  # type: ignore[no-untyped-def]
        from . import create_app

        return create_app(self.settings)


def run(settings: Settings, host: str, port: int, workers: int = 2) -> None:
    """Block serving http://host:port with ``workers`` processes."""
    print(f"serving on http://{host}:{port}  (workers: {workers}; Ctrl-C stops)", flush=True)
    _Gunicorn(settings, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 120,
        "graceful_timeout": 5,
        "accesslog": "-" if settings.log_level == "DEBUG" else None,
        "loglevel": settings.log_level.lower(),
    }).run()
