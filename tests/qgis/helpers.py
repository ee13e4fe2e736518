"""Run PyQGIS scripts headless in the system python3 (QGIS 3.40)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from ..conftest import need

SCRIPTS = Path(__file__).with_name("scripts")
QGIS_PYTHON = os.environ.get("CADASTRE_QGIS_PYTHON", "/usr/bin/python3")


def need_qgis() -> None:
    """Skip (fail in CI) without PyQGIS in the system python3."""
    ok = Path(QGIS_PYTHON).exists() and subprocess.run(
        [QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        check=False).returncode == 0
    need(ok, "PyQGIS (python3-qgis, qgis-providers from bookworm-backports)")


def run_script(name: str, spec: dict[str, Any], env: dict[str, str] | None = None,
               tmp: Path | None = None) -> dict[str, Any]:
    """Run tests/qgis/scripts/NAME with the JSON spec on stdin; returns its JSON output."""
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    e.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp or "/tmp"))
    if tmp is not None:
        e["HOME"] = str(tmp)  # a private QGIS profile and auth database
    e.update(env or {})
    out = subprocess.run([QGIS_PYTHON, str(SCRIPTS / name)], input=json.dumps(spec), env=e,
                         capture_output=True, text=True, timeout=600, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert out.returncode == 0 and lines, (f"{name} failed (exit {out.returncode}):\n"
                                           f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])
