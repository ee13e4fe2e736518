"""Generate the registrars' QGIS project (``cadastre-gis qgis-project PATH``).

QGIS is driven through PyQGIS in the system ``python3`` (QGIS 3.40 from Debian 12's
bookworm-backports installs it there, not in our virtual environment), so the project is
written by QGIS itself. The project connects to the platform's PostGIS database; it stores
host, port, database and (optionally) the user name, never a password: QGIS asks for it, or
libpq takes it from ``PGPASSWORD`` / ``~/.pgpass`` / a ``service=`` entry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from .errors import ConfigurationError
from .settings import Settings

BUILD_SCRIPT = Path(__file__).with_name("qgis_build.py")


def qgis_python() -> str:
    """The interpreter that has PyQGIS (``CADASTRE_QGIS_PYTHON`` or /usr/bin/python3)."""
    exe = os.environ.get("CADASTRE_QGIS_PYTHON") or "/usr/bin/python3"
    if not Path(exe).exists():
        exe = shutil.which("python3") or exe
    return exe


def conninfo(url: str, host: str | None = None, port: int | None = None,
             dbname: str | None = None, password: bool = True) -> str:
    """A libpq conninfo string from a SQLAlchemy URL (overrides for the project's view)."""
    u = make_url(url)
    parts = [f"dbname='{dbname or u.database}'", f"host={host or u.host or 'localhost'}",
             f"port={port or u.port or 5432}", f"user='{u.username}'", "sslmode=prefer"]
    if password and u.password:
        parts.append(f"password='{u.password}'")
    return " ".join(parts)


def build_project(settings: Settings, path: str | Path, *, user: str | None = None,
                  host: str | None = None, port: int | None = None,
                  dbname: str | None = None) -> dict[str, Any]:
    """Write the QGIS project to ``path``; returns what QGIS reported."""
    import tempfile

    exe = qgis_python()
    # QGIS builds the project on the platform's own connection; host, port and database as
    # seen from the registrars' machines are written into the saved project afterwards.
    spec = {"path": str(Path(path).resolve()), "user": user, "strip_password": True,
            "conninfo": conninfo(settings.url()),
            "rewrite": {"host": host, "port": port, "dbname": dbname}}
    with tempfile.TemporaryDirectory(prefix="cadastre-qgis-") as runtime:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=runtime)
        for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(var, None)
        try:
            out = subprocess.run([exe, str(BUILD_SCRIPT)], input=json.dumps(spec), env=env,
                                 capture_output=True, text=True, timeout=300, check=False)
        except OSError as exc:
            raise ConfigurationError(f"cannot run {exe}: {exc}") from exc
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        if any("No module named 'qgis'" in line for line in tail):
            raise ConfigurationError(f"{exe} has no PyQGIS: install python3-qgis and"
                                     " qgis-providers (QGIS 3.40, bookworm-backports)")
        raise ConfigurationError("QGIS could not build the project: " + " | ".join(tail))
    return json.loads(out.stdout.strip().splitlines()[-1])


@click.command("qgis-project")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--user", default=None, help="database login stored in the project (no password)")
@click.option("--host", default=None, help="database host as seen from QGIS")
@click.option("--port", type=int, default=None, help="database port as seen from QGIS")
@click.option("--dbname", default=None, help="database name as seen from QGIS")
def command(path: str, user: str | None, host: str | None, port: int | None,
            dbname: str | None) -> None:
    """Write a QGIS project with the registry layers, styles, forms and relations."""
    from .cli import _settings, ensure_database

    s = _settings()
    ensure_database(s)
    try:
        res = build_project(s, path, user=user, host=host, port=port, dbname=dbname)
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"QGIS project written to {res['path']}: {', '.join(res['layers'])}")
