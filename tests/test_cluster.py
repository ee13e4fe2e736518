"""``cadastre-gis db up | down | status`` on a second, private data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from cadastre_gis.cluster import Cluster
from cadastre_gis.settings import Settings

CLI = [sys.executable, "-m", "cadastre_gis.cli"]


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CADASTRE_DATA_DIR": str(data_dir)}
    env.pop("CADASTRE_DATABASE_URL", None)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=180)


@pytest.fixture(scope="module")
def second_dir() -> Path:
    # Not under pytest's tmp root: pytest resets that to mode 700 at every session start,
    # which would lock the cluster's unprivileged OS user out of its own data dir.
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="cadastre-cluster2-"))
    os.chmod(d, 0o755)
    yield d
    Cluster(Settings(data_dir=d)).stop()
    shutil.rmtree(d, ignore_errors=True)


def test_up_twice_status_and_down(second_dir: Path, server_url: str) -> None:
    first = run(second_dir, "db", "up")
    assert first.returncode == 0, first.stderr
    again = run(second_dir, "db", "up")
    assert again.returncode == 0, again.stderr
    st = run(second_dir, "db", "status")
    assert st.returncode == 0 and "running" in st.stdout
    url = next(line.split("url: ", 1)[1] for line in st.stdout.splitlines() if line.startswith("url: "))
    # runs side by side with the session's own test cluster, on another port
    assert url.rsplit(":", 1)[1].split("/")[0] != server_url.rsplit(":", 1)[1].split("/")[0]
    conn = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        cur.execute("SELECT postgis_lib_version()")
        assert cur.fetchone()[0].startswith("3")
    conn.close()
    if os.geteuid() == 0:
        owner = (second_dir / "pg").stat().st_uid
        assert owner != 0, "the cluster must not run as root"
    down = run(second_dir, "db", "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    st = run(second_dir, "db", "status")
    assert st.returncode == 3 and "stopped" in st.stdout


def test_stale_pid_recovered(second_dir: Path) -> None:
    cluster = Cluster(Settings(data_dir=second_dir))
    cluster.start()
    pid = cluster.status().pid
    assert pid
    os.kill(pid, 9)  # crash: postmaster.pid stays behind
    import time

    for _ in range(50):
        try:
            os.kill(pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            break
    assert (second_dir / "pg" / "postmaster.pid").exists()
    up = run(second_dir, "db", "up")
    assert up.returncode == 0, up.stderr + up.stdout
    assert cluster.running()
    cluster.stop()


def test_database_url_overrides(second_dir: Path) -> None:
    env = {**os.environ, "CADASTRE_DATA_DIR": str(second_dir),
           "CADASTRE_DATABASE_URL": "postgresql://u:p@db.example:5432/x"}
    out = subprocess.run([*CLI, "db", "status"], capture_output=True, text=True, env=env)
    assert "external database" in out.stdout and "u:***@" in out.stdout


def test_bad_setting_is_a_clear_error(second_dir: Path) -> None:
    env = {**os.environ, "CADASTRE_DATA_DIR": str(second_dir), "CADASTRE_MAX_LIMIT": "lots"}
    out = subprocess.run([*CLI, "db", "status"], capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "CADASTRE_MAX_LIMIT" in out.stderr
