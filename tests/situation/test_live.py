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


# --- the evented server `cadastre-gis serve` starts -------------------------------------------

STREAMS = 200


@pytest.fixture(scope="module")
def served(settings, tmp_path_factory):  # type: ignore[no-untyped-def]
    """`cadastre-gis serve` (gunicorn + gevent, one worker) on the test database."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.conftest import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("served")
    env = dict(os.environ, CADASTRE_DATABASE_URL=settings.url(), CADASTRE_DATA_DIR=str(data),
               CADASTRE_SECRET_KEY="test-secret-key", CADASTRE_LOG_LEVEL="WARNING")
    cli = str(Path(sys.executable).parent / "cadastre-gis")
    log = open(data / "serve.log", "w")  # noqa: SIM115 - open while the server runs
    proc = subprocess.Popen([cli, "serve", "--port", str(port), "--workers", "1"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail("cadastre-gis serve exited: " + (data / "serve.log").read_text())
            try:
                if requests.get(base + "/ogc/collections?f=json", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.25)
        else:
            pytest.fail("cadastre-gis serve did not start")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


async def sign_in(http, base: str, user: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the form (one cookie session shared by the client's streams)."""
    import re

    async with http.get(base + "/login") as r:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)
    async with http.post(base + "/login", allow_redirects=False,
                         data={"username": user, "password": password,
                               "csrf_token": token}) as r:
        assert r.status in (302, 303), await r.text()


def test_hundreds_of_streams_get_the_insert_while_ogc_answers(served, database_url) -> None:  # type: ignore[no-untyped-def]
    """Hundreds of open streams in one gevent worker: each gets a plain-SQL insert, and an
    OGC request is answered while they are all open."""
    import asyncio

    import aiohttp

    async def run() -> tuple[list[bool], int]:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=120, sock_read=60),
                connector=aiohttp.TCPConnector(limit=0),
                cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies for 127.0.0.1
            await sign_in(http, served, *AUTH)
            ready = asyncio.Event()
            opened: list[int] = []
            target: list[int] = []

            async def one() -> bool:
                async with http.get(served + "/situation/stream?max_seconds=90") as resp:
                    assert resp.status == 200
                    buf = b""
                    while True:
                        line = await resp.content.readline()
                        if not line:
                            return False
                        buf += line
                        if line == b"\n":
                            chunk, buf = buf.decode(), b""
                            if "event: hello" in chunk:
                                opened.append(1)
                                if len(opened) == STREAMS:
                                    ready.set()
                            elif "event: incident" in chunk and target:
                                data = json.loads(chunk.split("data: ", 1)[1])
                                if data["id"] == target[0]:
                                    return True

            tasks = [asyncio.create_task(one()) for _ in range(STREAMS)]
            await asyncio.wait_for(ready.wait(), 90)
            async with http.get(served + "/ogc/collections/parcels/items?limit=5&f=json") as r:
                ogc_status = r.status
                assert len((await r.json())["features"]) == 5
            target.append(await asyncio.to_thread(_sql_insert, database_url, "lighting"))
            got = await asyncio.wait_for(asyncio.gather(*tasks), 90)
            return got, ogc_status

    got, ogc_status = asyncio.run(run())
    assert ogc_status == 200
    assert sum(got) == STREAMS


def test_stream_ends_when_the_account_may_no_longer_watch(served, settings, database_url) -> None:  # type: ignore[no-untyped-def]
    from cadastre_gis import accounts

    name = "live-op-revoked"
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM account WHERE username = %s", (name,))
        accounts.add_user(settings, name, "operator", "revoked-pass-2026")
        with requests.get(served + "/situation/stream?max_seconds=60",
                          auth=(name, "revoked-pass-2026"), stream=True,
                          timeout=(5, 60)) as resp:
            events = _events(resp)
            assert next(events)["event"] == "hello"
            with conn, conn.cursor() as cur:  # an admin disables the account
                cur.execute("UPDATE account SET active = false WHERE username = %s", (name,))
            ends = [ev for ev in events if ev["event"] == "end"]
        assert ends and ends[0]["data"]["reason"]
        again = requests.get(served + "/situation/stream", auth=(name, "revoked-pass-2026"),
                             timeout=10)
        assert again.status_code == 401
    finally:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM account WHERE username = %s", (name,))
        conn.close()


def test_stream_ends_when_its_session_signs_out(served) -> None:  # type: ignore[no-untyped-def]
    import re

    browser = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      browser.get(served + "/login", timeout=10).text).group(1)
    r = browser.post(served + "/login", data={"username": AUTH[0], "password": AUTH[1],
                                              "csrf_token": token},
                     allow_redirects=False, timeout=20)
    assert r.status_code in (302, 303)
    copy = requests.Session()  # a copied cookie: the same server-side session
    copy.cookies.update(browser.cookies)
    with copy.get(served + "/situation/stream?max_seconds=60", stream=True,
                  timeout=(5, 60)) as resp:
        assert resp.status_code == 200
        events = _events(resp)
        assert next(events)["event"] == "hello"
        out = browser.get(served + "/logout", allow_redirects=False, timeout=10)
        assert out.status_code in (200, 302, 303)
        ends = [ev for ev in events if ev["event"] == "end"]
    assert ends
    assert copy.get(served + "/situation/stream", timeout=10,
                    allow_redirects=False).status_code in (401, 302, 303)
