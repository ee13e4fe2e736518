"""Live incident feed: one PostgreSQL LISTEN connection per process, fanned out to SSE streams.

A daemon thread holds a dedicated psycopg2 connection that LISTENs on ``incidents`` (sent by
the triggers of migration 0007 for every timeline event). For each batch of notifications it
reads the affected incidents once and hands the same message to every subscriber queue.
Streams replay what a client missed from ``incident_event`` (ids are SSE event ids).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import threading
import time
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cadastre_gis import incidents

log = logging.getLogger(__name__)
CHANNEL = "incidents"


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


def features_for(engine: Engine, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Current map features of the incidents ``ids`` keyed by id."""
    if not ids:
        return {}
    with engine.connect() as c:
        fc = incidents.geojson(c, "i.id = ANY(:ids)", {"ids": ids}, limit=len(ids))
    return {f["id"]: f for f in fc["features"]}


def messages_since(engine: Engine, last_id: int, limit: int = 2000) -> list[dict[str, Any]]:
    """Replay messages for events after ``last_id`` (oldest first)."""
    with engine.connect() as c:
        rows = incidents.events_since(c, last_id, limit)
    feats = features_for(engine, sorted({r["id"] for r in rows}))
    return [{"event": r["event"], "id": r["id"], "op": r["op"], "feature": feats.get(r["id"])}
            for r in rows]


class Hub:
    """One LISTEN connection per process; subscribers get every message in a queue."""

    def __init__(self, url: str, engine: Engine) -> None:
        """Remember where to listen; the thread starts on the first subscription."""
        self.url = url
        self.engine = engine
        self._subs: set[queue.Queue[dict[str, Any]]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.ready = threading.Event()

    def subscribe(self) -> queue.Queue[dict[str, Any]]:
        """A new queue receiving every message from now on."""
        self._ensure_thread()
        q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=20000)
        with self._lock:
            self._subs.add(q)
        self.ready.wait(timeout=10)
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any]]) -> None:
        """Stop delivering to ``q``."""
        with self._lock:
            self._subs.discard(q)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread is not ours
                self._thread, self._pid = None, os.getpid()
                self.ready.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="incident-listener",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        failures = 0
        while True:
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - reconnect after any database trouble
                self.ready.clear()
                with self._lock:
                    if not self._subs:
                        # nobody listens: end quietly; the next subscriber starts a new thread
                        self._thread = None
                        return
                failures += 1
                if failures <= 3:
                    log.warning("incident listener: %s; reconnecting", str(exc).splitlines()[0])
                time.sleep(min(30.0, 0.5 * failures))
            else:
                failures = 0

    def _listen(self) -> None:
        conn = psycopg2.connect(_dsn(self.url), application_name="cadastre-incident-listener")
        conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        try:
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
            self.ready.set()
            while True:
                if select.select([conn], [], [], 30) == ([], [], []):
                    with conn.cursor() as cur:  # keep-alive; detects a dead server
                        cur.execute("SELECT 1")
                    continue
                conn.poll()
                batch = []
                while conn.notifies:
                    n = conn.notifies.pop(0)
                    try:
                        batch.append(json.loads(n.payload))
                    except ValueError:
                        continue
                if batch:
                    self._publish(batch)
        finally:
            conn.close()

    def _publish(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            subs = list(self._subs)
        if not subs:
            return
        feats = features_for(self.engine, sorted({int(m["id"]) for m in batch
                                                  if m.get("op") != "deleted"}))
        for m in batch:
            msg = {"event": m.get("event"), "id": m["id"], "op": m.get("op"),
                   "feature": feats.get(int(m["id"]))}
            for q in subs:
                try:
                    q.put_nowait(msg)
                except queue.Full:
                    pass


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def hub_for(url: str, engine: Engine) -> Hub:
    """The process-wide hub for a database URL."""
    with _hubs_lock:
        h = _hubs.get(url)
        if h is None:
            h = _hubs[url] = Hub(url, engine)
        return h


def sse(msg: dict[str, Any]) -> str:
    """One Server-Sent Event (event id = incident_event id)."""
    head = f"id: {msg['event']}\n" if msg.get("event") is not None else ""
    return f"{head}event: incident\ndata: {json.dumps(msg, separators=(',', ':'))}\n\n"


def stream(hub: Hub, engine: Engine, last_id: int | None, ping_seconds: float = 15.0,
           max_seconds: float | None = None):  # type: ignore[no-untyped-def]
    """Generate the SSE stream: replay after ``last_id``, then live messages."""
    q = hub.subscribe()
    try:
        yield "retry: 1000\n\n"
        seen: set[int] = set()
        if last_id is None:
            with engine.connect() as c:
                sent = int(c.execute(text("SELECT coalesce(max(id), 0) FROM incident_event"))
                           .scalar_one())
            yield f"id: {sent}\nevent: hello\ndata: {json.dumps({'last_event': sent})}\n\n"
        else:
            replay = messages_since(engine, last_id)
            if len(replay) >= 2000:
                yield "event: reset\ndata: {}\n\n"
            for msg in replay:
                seen.add(msg["event"])
                yield sse(msg)
        started = time.monotonic()
        while True:
            wait = ping_seconds
            if max_seconds is not None:
                left = max_seconds - (time.monotonic() - started)
                if left <= 0:
                    break
                wait = min(wait, left)
            try:
                msg = q.get(timeout=wait)
            except queue.Empty:
                if wait == ping_seconds:
                    yield ": ping\n\n"
                continue
            ev = msg.get("event")
            if ev is not None and ev in seen:
                seen.discard(ev)  # already replayed
                continue
            yield sse(msg)
    finally:
        hub.unsubscribe(q)
