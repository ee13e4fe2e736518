"""Read replicas (issue 13.5): `db replica` runs a streaming hot standby of the embedded
cluster; CADASTRE_REPLICA_URLS sends anonymous reads to it, the writer reads its own
writes, and a stopped replica costs no errors."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from cadastre_gis import db as core
from cadastre_gis.cluster import Cluster, ReplicaCluster
from cadastre_gis.settings import Settings


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Settings, Cluster, ReplicaCluster]]:
    """A primary with the schema and a small demo city, and its replica."""
    from cadastre_gis import demo, migrate

    d = Path(tempfile.mkdtemp(prefix="cadastre-replica-"))
    os.chmod(d, 0o755)
    s = Settings(data_dir=d / "data", secret_key="replica-test", wal_archive=False)
    primary = Cluster(s)
    primary.start()
    replica = ReplicaCluster(s)
    try:
        migrate.upgrade(primary.url())
        with core.scope(s):
            demo.generate(s, parcels=300, seed=7)
        env = {"CADASTRE_DATA_DIR": str(s.data_dir), "CADASTRE_WAL_ARCHIVE": "false"}
        from cadastre_gis.cli import cli

        r = CliRunner().invoke(cli, ["db", "replica", "up"], env=env)
        assert r.exit_code == 0, r.output
        assert replica.url() in r.output
        yield s, primary, replica
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(d, ignore_errors=True)


def _wait_replayed(replica: ReplicaCluster, sql: str, expected: object) -> None:
    eng = create_engine(replica.url())
    try:
        deadline = time.monotonic() + 30
        while True:
            with eng.connect() as c:
                if c.execute(text(sql)).scalar() == expected:
                    return
            assert time.monotonic() < deadline, "the replica did not replay the change"
            time.sleep(0.2)
    finally:
        eng.dispose()


def test_status_prints_url_and_lag(clusters) -> None:  # type: ignore[no-untyped-def]
    from cadastre_gis.cli import cli

    s, _primary, replica = clusters
    r = CliRunner().invoke(cli, ["db", "replica", "status"],
                           env={"CADASTRE_DATA_DIR": str(s.data_dir)})
    assert r.exit_code == 0, r.output
    assert "replica: running" in r.output and f"url: {replica.url()}" in r.output
    assert "standby: yes" in r.output and "replay lag:" in r.output


def test_reads_go_to_the_replica_writer_reads_primary_and_fallback(
        clusters, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from web import create_app
    from web.db import read_conn

    s, primary, replica = clusters
    monkeypatch.setattr(core, "RETRY_SECONDS", 0.5)
    app = create_app(replace(s, replica_urls=replica.url()), TESTING=True)
    client = app.test_client()
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok" and health["replicas"][0]["status"] == "ok"
    assert "lag_seconds" in health["replicas"][0] and "***" in health["replicas"][0]["url"]
    with app.test_request_context("/"):
        app.preprocess_request()
        assert read_conn().execute(text("SELECT pg_is_in_recovery()")).scalar() is True

    eng = create_engine(primary.url())
    with eng.begin() as c:
        pid, number = c.execute(text("SELECT id, cadastral_number FROM parcel"
                                     " WHERE status = 'active' ORDER BY id LIMIT 1")).one()
        c.execute(text("UPDATE parcel SET address = 'before' WHERE id = :i"), {"i": pid})
    _wait_replayed(replica, f"SELECT address FROM parcel WHERE id = {pid}", "before")
    rep = create_engine(replica.url(), isolation_level="AUTOCOMMIT")
    url = f"/ogc/collections/parcels/items/{pid}?f=json"
    try:
        with rep.connect() as c:
            c.execute(text("SELECT pg_wal_replay_pause()"))
        with eng.begin() as c:
            c.execute(text("UPDATE parcel SET address = 'after' WHERE id = :i"), {"i": pid})
        # anonymous reads come from the (paused) replica: OGC items and the portal's card
        assert client.get(url).get_json()["properties"]["address"] == "before"
        assert client.get(f"/api/parcels/{number}").get_json()["address"] == "before"
        # a client that has just written reads the primary: its own write
        writer = app.test_client()
        r = writer.post("/extracts/verify", data={}, content_type="multipart/form-data")
        assert "cadastre_rw" in r.headers.get("Set-Cookie", "") or r.status_code >= 400
        writer.set_cookie("cadastre_rw", "1")
        assert writer.get(url).get_json()["properties"]["address"] == "after"
        # token clients (QGIS, notaries' systems) always read the primary
        auth = {"Authorization": "Basic cmVnaXN0cmFyOnJlZ2lzdHJhci1kZW1vLTIwMjY="}
        assert client.get(url, headers=auth).get_json()["properties"]["address"] == "after"
    finally:
        with rep.connect() as c:
            c.execute(text("SELECT pg_wal_replay_resume()"))
        rep.dispose()
    _wait_replayed(replica, f"SELECT address FROM parcel WHERE id = {pid}", "after")

    # the replica stops: no errors, the primary answers, /healthz reports it
    replica.stop()
    try:
        for _ in range(3):
            r = client.get(url)
            assert r.status_code == 200 and r.get_json()["properties"]["address"] == "after"
        assert client.get("/ogc/collections/parcels/items?limit=5&f=json").status_code == 200
        health = client.get("/healthz")
        assert health.status_code == 200
        body = health.get_json()
        assert body["status"] == "degraded" and body["replicas"][0]["status"] == "unavailable"
    finally:
        replica.start()
    time.sleep(0.6)  # RETRY_SECONDS: the replica is tried again
    with app.test_request_context("/"):
        app.preprocess_request()
        assert read_conn().execute(text("SELECT pg_is_in_recovery()")).scalar() is True
    eng.dispose()
    app.extensions["cadastre_db"].dispose()
