"""Backup and point-in-time restore of the embedded cluster (issue 13.6), on a cluster of
its own: restore to an instant between two edits and compare checksums."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from click.testing import CliRunner

from cadastre_gis import backup as b
from cadastre_gis.cluster import Cluster
from cadastre_gis.errors import InvalidInput
from cadastre_gis.settings import Settings


def _connect(c: Cluster):  # type: ignore[no-untyped-def]
    conn = psycopg2.connect(host="127.0.0.1", port=c.port(), user="cadastre",
                            password=c.password(), dbname="cadastre")
    conn.autocommit = True
    return conn


def _sql(c: Cluster, sql: str) -> object:
    conn = _connect(c)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0] if cur.description else None
    finally:
        conn.close()


CHECKSUM = "SELECT md5(coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')) FROM edits"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """Not under pytest's tmp root: concurrent pytest sessions reset it to mode 700, which
    would lock the cluster's unprivileged OS user out (as in tests/test_cluster.py)."""
    import os
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="cadastre-pitr-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def primary(workdir: Path) -> Iterator[Cluster]:
    """A fresh embedded cluster that archives its WAL."""
    c = Cluster(Settings(data_dir=workdir / "data"))
    c.start()
    yield c
    c.stop()


def test_restore_to_an_instant_between_two_edits(primary: Cluster, workdir: Path) -> None:
    tmp_path = workdir
    s = primary.settings
    (primary.root / "keys").mkdir(exist_ok=True)
    (primary.root / "keys" / "current").write_text("k1")
    s.resolved_secret_key()
    _sql(primary, "CREATE TABLE edits (id int PRIMARY KEY, v text)")
    _sql(primary, "INSERT INTO edits VALUES (1, 'before the backup')")
    bk = tmp_path / "backups"
    base1 = b.backup(s, bk, progress=lambda _m: None)
    assert (base1 / "secrets" / "keys" / "current").read_text() == "k1"
    assert (base1 / "secrets" / "secret_key").exists()
    _sql(primary, "INSERT INTO edits VALUES (2, 'first edit')")
    at_mid = _sql(primary, CHECKSUM)
    time.sleep(0.5)
    mid = str(_sql(primary, "SELECT now()"))
    time.sleep(0.5)
    _sql(primary, "UPDATE edits SET v = 'second edit' WHERE id = 1")
    _sql(primary, "INSERT INTO edits VALUES (3, 'second edit')")
    at_end = _sql(primary, CHECKSUM)
    assert at_mid != at_end
    b.backup(s, bk, progress=lambda _m: None)  # a newer base; copies the archive up to now

    restored = []
    try:
        for name, to, expected in (("r-mid", mid, at_mid), ("r-end", None, at_end)):
            new = tmp_path / name
            b.restore(s, bk, new, to=to, progress=lambda _m: None)
            assert (new / "keys" / "current").read_text() == "k1"
            c = Cluster(Settings(data_dir=new))
            restored.append(c)
            c.start()  # what `CADASTRE_DATA_DIR=NEW cadastre-gis db up` does
            assert c.port() != primary.port()
            deadline = time.monotonic() + 60
            while _sql(c, "SELECT pg_is_in_recovery()") and time.monotonic() < deadline:
                time.sleep(0.3)  # replaying, then promoted
            assert _sql(c, CHECKSUM) == expected, name
            _sql(c, "INSERT INTO edits VALUES (9, 'the restored cluster takes writes')")
        # never over an existing or the running data dir
        with pytest.raises(InvalidInput):
            b.restore(s, bk, tmp_path / "r-mid", progress=lambda _m: None)
        with pytest.raises(InvalidInput):
            b.restore(s, bk, primary.root, progress=lambda _m: None)
    finally:
        for c in restored:
            c.stop()
    # --keep 1: the older base and the WAL only it needed are gone; its instant is no more
    wal_before = sorted(p.name for p in (bk / "wal").iterdir())
    b.backup(s, bk, keep=1, progress=lambda _m: None)
    assert len(b.bases(bk)) == 1
    wal_after = sorted(p.name for p in (bk / "wal").iterdir())
    assert wal_after and wal_after[0] > wal_before[0]
    with pytest.raises(InvalidInput, match="no base backup finished before"):
        b.restore(s, bk, tmp_path / "r-gone", to=mid, progress=lambda _m: None)


def test_external_database_refuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cadastre_gis.cli import cli

    monkeypatch.setenv("CADASTRE_DATABASE_URL", "postgresql://u:p@db.example/cadastre")
    monkeypatch.setenv("CADASTRE_DATA_DIR", str(tmp_path))
    r = CliRunner().invoke(cli, ["backup", str(tmp_path / "bk")])
    assert r.exit_code != 0 and "pg_dump" in r.output
    r = CliRunner().invoke(cli, ["db", "replica", "up"])
    assert "managed service" in r.output and "CADASTRE_REPLICA_URLS" in r.output
