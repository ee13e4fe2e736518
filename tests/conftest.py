"""Shared fixtures: a real PostGIS (the project's own embedded cluster), a throwaway database
with migrations and a small demo city, per-test rollback, the Flask app and a live server."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

from cadastre_gis.cluster import Cluster
from cadastre_gis.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
DEMO_PARCELS = int(os.environ.get("CADASTRE_TEST_PARCELS", "3000"))
DEMO_SEED = 7
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(ok: bool, what: str) -> None:
    """Skip loudly when a real client is missing; fail instead when running in CI."""
    if ok:
        return
    msg = f"MISSING TEST CLIENT: {what} (scripts/system-deps.sh test installs it)"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


def need_tool(name: str) -> str:
    """Path of a command-line tool, or skip/fail as :func:`need` does."""
    path = shutil.which(name)
    need(path is not None, name)
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data dir of the test cluster (separate from the one `make run` serves)."""
    d = os.environ.get("CADASTRE_TEST_DATA_DIR")
    return Path(d).resolve() if d else (ROOT / "var" / "test").resolve()


@pytest.fixture(scope="session")
def server_url(data_dir: Path) -> str:
    """URL of a PostgreSQL server with PostGIS: CADASTRE_TEST_DATABASE_URL or our own cluster."""
    explicit = os.environ.get("CADASTRE_TEST_DATABASE_URL")
    if explicit:
        return explicit
    # a throwaway cluster: no WAL archive (tests/test_backup.py makes its own cluster)
    cluster = Cluster(Settings(data_dir=data_dir, wal_archive=False))
    cluster.start()
    return cluster.url("postgres")


def _swap_db(url: str, name: str) -> str:
    base, _, _old = url.rpartition("/")
    return f"{base}/{name}"


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


def create_database(server_url: str, prefix: str = "cadastre_test") -> str:
    """Create an empty database and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(_dsn(server_url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return _swap_db(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Drop a database made by :func:`create_database`."""
    name = url.rpartition("/")[2]
    conn = psycopg2.connect(_dsn(server_url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(scope="session")
def database_url(server_url: str, data_dir: Path) -> Iterator[str]:
    """A throwaway database, migrated to head, with a small deterministic demo city."""
    from cadastre_gis import demo, migrate

    url = create_database(server_url)
    migrate.upgrade(url)
    settings = Settings(database_url=url, data_dir=data_dir)
    demo.generate(settings, parcels=DEMO_PARCELS, seed=DEMO_SEED)
    yield url
    if not os.environ.get("CADASTRE_KEEP_TEST_DB"):
        from cadastre_gis.db import _engine

        _engine.cache_clear()
        drop_database(server_url, url)


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    """Settings pointing at the session's test database."""
    return Settings(database_url=database_url, data_dir=data_dir,
                    base_url="http://127.0.0.1:5000", secret_key="test-secret-key")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Engine:
    """Engine on the session's test database."""
    return create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://"),
                         pool_size=5)


@pytest.fixture()
def db(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back after the test."""
    conn = engine.connect()
    tx = conn.begin()
    conn.execute(text("SELECT set_config('cadastre.actor', 'pytest', true)"))
    try:
        yield conn
    finally:
        tx.rollback()
        conn.close()


class Clock:
    """The registry clock (``cadastre_clock``) moved for every connection, the app's included."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.moved = False

    def set(self, offset: str) -> None:
        """Committed: ``cadastre_now()`` = now() + ``offset`` (e.g. '1 day', '1 year') everywhere."""
        with self.engine.begin() as c:
            c.execute(text("UPDATE cadastre_clock SET offset_by = CAST(:o AS interval),"
                           " fixed_at = NULL"), {"o": offset})
        self.moved = True

    def reset(self) -> None:
        """Back to the real time."""
        self.set("0")
        self.moved = False


@pytest.fixture()
def clock(engine: Engine) -> Iterator[Clock]:
    """Move the registry clock for all connections; reset after the test.

    Request it *before* ``db`` when both are used (teardown runs in reverse order, and the
    reset must not wait for the test's own open transaction).
    """
    c = Clock(engine)
    yield c
    if c.moved:
        c.reset()


@pytest.fixture(scope="session")
def app(settings: Settings):  # type: ignore[no-untyped-def]
    """The Flask app on the test database."""
    from web import create_app

    application = create_app(settings, TESTING=True)
    return application


@pytest.fixture()
def client(app):  # type: ignore[no-untyped-def]
    """Flask test client."""
    return app.test_client()


@pytest.fixture()
def runner(app):  # type: ignore[no-untyped-def]
    """Flask CLI runner."""
    return app.test_cli_runner()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[str]:
    """The app served over real HTTP on 127.0.0.1 (for GDAL, QGIS, OWSLib, Chromium)."""
    from dataclasses import replace

    from werkzeug.serving import make_server

    from web import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(replace(settings, base_url=base))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots and reports kept after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Headless Debian Chromium driven by Playwright (no downloaded browser)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    need(exe is not None, "chromium (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright (pip)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 390, "height": 844}, device_scale_factor=1)
        yield ctx
        ctx.close()


@pytest.fixture()
def page(browser):  # type: ignore[no-untyped-def]
    """A fresh page that records console errors and requests leaving localhost."""
    pg = browser.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.external_requests = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))

    def _req(r):  # type: ignore[no-untyped-def]
        from urllib.parse import urlparse

        host = urlparse(r.url).hostname
        if r.url.startswith(("data:", "blob:")):
            return
        if host not in ("127.0.0.1", "localhost", "::1"):
            pg.external_requests.append(r.url)

    pg.on("request", _req)
    yield pg
    pg.close()
