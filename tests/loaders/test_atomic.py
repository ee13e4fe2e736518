"""All or nothing: a killed or interrupted load leaves the database unchanged; upsert keeps
history and the previous state stays exportable with --as-of."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fiona
import pytest
from sqlalchemy import text

from .conftest import counts, env_for, number, parcel_rows, report_of
from .files import square, write


def _start(load_settings, shp: Path, *extra: str) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = {**os.environ, **env_for(load_settings), "CADASTRE_LOADER_PAUSE_BEFORE_COMMIT": "60"}
    return subprocess.Popen([sys.executable, "-m", "cadastre_gis.cli", "load", "parcels",
                             str(shp), "--no-progress", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_paused(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "PAUSED BEFORE COMMIT" in line:
            return
        seen.append(line)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"the load never reached its commit: {proc.stdout.read() if proc.stdout else ''}"
                f"{''.join(seen)[-2000:]}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_load_leaves_database_unchanged(sig, load_settings, load_engine, spot,
                                               tmp_path: Path) -> None:
    """Kill (or Ctrl-C, or SIGTERM) a load after every row is written but before COMMIT."""
    x, y, z = spot
    shp = write(tmp_path / "big.shp", [{"geometry": square(x + 25 * (k % 40), y + 25 * (k // 40)),
                                        "KAD_NOMER": number(z, k + 1)} for k in range(400)])
    before = counts(load_engine)
    proc = _start(load_settings, shp)
    _wait_paused(proc)
    with load_engine.connect() as c:  # the rows exist, but only inside the open transaction
        assert c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                              "'idle in transaction%'")).scalar_one() >= 1
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    assert code != 0
    time.sleep(0.5)
    assert counts(load_engine) == before
    assert parcel_rows(load_engine, z) == {}
    if sig != signal.SIGKILL:
        assert code == 130
        reports = sorted((load_settings.data_path / "reports").glob("*-big.shp.json"))
        rep = json.loads(reports[-1].read_text(encoding="utf-8"))
        assert rep["status"] == "interrupted" and "unchanged" in rep["error"]


def test_upsert_keeps_history_and_as_of_export(cli, spot, tmp_path: Path, load_engine) -> None:
    """Upsert updates the active parcel in place; the old version is in parcel_history and an
    export --as-of a moment before the upsert returns it."""
    x, y, z = spot
    v1 = write(tmp_path / "v1.shp", [
        {"geometry": square(x, y), "KAD_NOMER": number(z, 1), "ADRES": "старый адрес"},
        {"geometry": square(x + 40, y), "KAD_NOMER": number(z, 2), "ADRES": "другой"}])
    assert cli("load", "parcels", str(v1)).exit_code == 0
    with load_engine.connect() as c:
        between = c.execute(text("SELECT now()::text")).scalar_one()
    time.sleep(0.05)
    v2 = write(tmp_path / "v2.shp", [
        {"geometry": square(x, y, 25), "KAD_NOMER": number(z, 1), "ADRES": "новый адрес"},
        {"geometry": square(x + 80, y), "KAD_NOMER": number(z, 3), "ADRES": "третий"}])
    res = cli("load", "parcels", str(v2), "--mode", "upsert")
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert (rep["counts"]["updated"], rep["counts"]["inserted"]) == (1, 1)
    rows = parcel_rows(load_engine, z)
    assert rows[number(z, 1)]["address"] == "новый адрес" and rows[number(z, 1)]["version"] == 2
    assert rows[number(z, 1)]["geom"].area > 600
    with load_engine.connect() as c:
        hist = c.execute(text("SELECT address, version, operation FROM parcel_history "
                              "WHERE cadastral_number = :n"), {"n": number(z, 1)}).all()
    assert [tuple(h) for h in hist] == [("старый адрес", 1, "U")]

    out = tmp_path / "then.gpkg"
    res = cli("export", "parcels", str(out), "--as-of", between)
    assert res.exit_code == 0, res.output
    with fiona.open(out) as src:
        then = {f.properties["cadastral_number"]: f.properties for f in src}
    assert then[number(z, 1)]["address"] == "старый адрес"
    assert number(z, 3) not in then and number(z, 2) in then
    now = tmp_path / "now.gpkg"
    assert cli("export", "parcels", str(now)).exit_code == 0
    with fiona.open(now) as src:
        cur = {f.properties["cadastral_number"]: f.properties for f in src}
    assert cur[number(z, 1)]["address"] == "новый адрес" and number(z, 3) in cur
