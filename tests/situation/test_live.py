"""Live feed: an INSERT made with plain SQL reaches an SSE client; reconnect replays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
import requests

AUTH = ("operator", "operator-demo-2026")


def _events(resp: requests.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into dicts with id, event and data."""
    ev: dict[str, Any] = {}
    for line in resp.iter_lines(decode_unicode=True):
        if line is None:
            continue
        if line == "":
            if "data" in ev:
                ev["data"] = json.loads(ev["data"])
                yield ev
            ev = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            ev[field] = value[1:] if value.startswith(" ") else value


def _sql_insert(database_url: str, category: str = "power") -> int:
    """Insert an incident the way psql would: plain SQL, own connection, commit."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""
                INSERT INTO incident (category, title, geom)
                SELECT %s, 'from psql', ST_PointOnSurface(geom) FROM building
                 WHERE status = 'active' ORDER BY id DESC LIMIT 1 RETURNING id""", (category,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_stream_requires_operator(live_server) -> None:  # type: ignore[no-untyped-def]
    assert requests.get(live_server + "/situation/stream", timeout=10).status_code == 401
    r = requests.get(live_server + "/situation/stream", auth=("citizen", "citizen-demo-2026"),
                     timeout=10)
    assert r.status_code == 403


def test_sse_receives_plain_sql_insert(live_server, database_url) -> None:  # type: ignore[no-untyped-def]
    with requests.get(live_server + "/situation/stream?max_seconds=20", auth=AUTH, stream=True,
                      timeout=(5, 20)) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = _events(resp)
        hello = next(events)
        assert hello["event"] == "hello"
        new_id = _sql_insert(database_url)
        for ev in events:
            if ev["event"] == "incident" and ev["data"]["id"] == new_id:
                break
        else:
            pytest.fail("the stream ended without the new incident")
    assert ev["data"]["op"] == "created"
    assert int(ev["id"]) == ev["data"]["event"] > int(hello["id"])
    props = ev["data"]["feature"]["properties"]
    assert props["category"] == "power" and props["status"] == "new" and props["priority"] == 1
    assert ev["data"]["feature"]["geometry"]["type"] == "Point"


def test_sse_receives_plain_sql_status_change(live_server, database_url) -> None:  # type: ignore[no-untyped-def]
    new_id = _sql_insert(database_url, "waste")
    with requests.get(live_server + "/situation/stream?max_seconds=20", auth=AUTH, stream=True,
                      timeout=(5, 20)) as resp:
        events = _events(resp)
        assert next(events)["event"] == "hello"
        conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
        try:
            with conn, conn.cursor() as cur:
                cur.execute("UPDATE incident SET status = 'triaged', priority = 1 WHERE id = %s",
                            (new_id,))
        finally:
            conn.close()
        ops = []
        for ev in events:
            if ev["event"] == "incident" and ev["data"]["id"] == new_id:
                ops.append(ev["data"]["op"])
                if len(ops) == 2:
                    break
    assert sorted(ops) == ["priority", "status"]
    assert ev["data"]["feature"]["properties"]["status"] == "triaged"


def test_reconnect_replays_missed_events(live_server, database_url) -> None:  # type: ignore[no-untyped-def]
    with requests.get(live_server + "/situation/stream?max_seconds=1", auth=AUTH, stream=True,
                      timeout=(5, 20)) as resp:
        last = next(_events(resp))["id"]
    missed = [_sql_insert(database_url, "road"), _sql_insert(database_url, "gas")]
    with requests.get(live_server + "/situation/stream?max_seconds=2", auth=AUTH, stream=True,
                      headers={"Last-Event-ID": last}, timeout=(5, 20)) as resp:
        got = [ev for ev in _events(resp) if ev["event"] == "incident"]
    ids = [int(ev["id"]) for ev in got]
    assert ids == sorted(ids) and all(i > int(last) for i in ids)
    assert {ev["data"]["id"] for ev in got if ev["data"]["op"] == "created"} >= set(missed)
