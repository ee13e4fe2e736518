"""Live incident feed: one PostgreSQL LISTEN connection per process, fanned out to SSE streams.

A listener (a thread; a greenlet under ``cadastre-gis serve``'s gevent workers, so an open
stream costs a socket and a small queue, never a worker thread) holds one psycopg2 connection
to the primary — a standby cannot LISTEN — on ``incidents`` (sent by migration 0007's triggers
for every timeline event). For each batch of notifications it reads the affected incidents once,
encodes each Server-Sent Event once and hands the same text to every subscriber queue. Streams
replay what a client missed from ``incident_event`` (ids are SSE event ids: ``Last-Event-ID``).

Every few seconds the hub checks, in one query for all its streams, that each stream's account
and session are still valid; a stream whose session was signed out or revoked receives an
``end`` event and closes.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cadastre_gis import incidents

log = logging.getLogger(__name__)
CHANNEL = "incidents"
CHECK_SECONDS = 5.0
END = object()


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


def features_for(engine: Engine, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Current map features of the incidents ``ids`` keyed by id."""
    if not ids:
        return {}
    with engine.connect() as c:
        fc = incidents.geojson(c, ids=ids, limit=len(ids))
    return {f["id"]: f for f in fc["features"]}


def messages_since(engine: Engine, last_id: int, limit: int = 2000) -> list[dict[str, Any]]:
    """Replay messages for events after ``last_id`` (oldest first)."""
    with engine.connect() as c:
        rows = incidents.events_since(c, last_id, limit)
    feats = features_for(engine, sorted({r["id"] for r in rows}))
    return [{"event": r["event"], "id": r["id"], "op": r["op"], "feature": feats.get(r["id"])}
            for r in rows]


@dataclass(frozen=True)
class Who:
    """Whose stream this is: re-checked while the stream is open."""

    account_id: int
    session_id: str | None = None
    """Key of the server-side cookie session (None for bearer/Basic callers)."""


def valid_keys(engine: Engine, keys: Iterable[Who], settings: Any = None) -> set[Who]:
    """The streams' owners that may still watch, in two queries for every stream of the process.

    The account must be active with a watching role, and a cookie session still open (not
    signed out, revoked or timed out: :func:`cadastre_gis.sessions.sessions_valid`).
    """
    from cadastre_gis import policy, sessions

    keys = list(keys)
    if not keys:
        return set()
    with engine.begin() as c:  # the primary: session records live there
        rows = c.execute(text("SELECT id, role FROM account WHERE id = ANY(:ids) AND active"),
                         {"ids": sorted({k.account_id for k in keys})}).all()
        ok = {r.id for r in rows if policy.allowed(r.role, "situation.view")}
        sids = sorted({k.session_id for k in keys if k.session_id and k.account_id in ok})
        open_ = sessions.sessions_valid(c, settings, sids) if sids and settings else set()
    return {k for k in keys if k.account_id in ok
            and (k.session_id is None or settings is None or k.session_id in open_)}


@dataclass(eq=False)
class Subscriber:
    """One open stream: its queue of encoded events and its owner."""

    who: Hashable | None
    q: queue.Queue[Any] = field(default_factory=lambda: queue.Queue(maxsize=20000))


class Hub:
    """One LISTEN connection per process; subscribers get every message in a queue."""

    def __init__(self, url: str, engine: Engine,
                 validator: Callable[..., set[Any]] = valid_keys,
                 check_seconds: float = CHECK_SECONDS, settings: Any = None) -> None:
        """Remember where to listen; the listener starts on the first subscription."""
        self.url = url
        self.engine = engine
        self.settings = settings
        self.validator = validator
        self.check_seconds = check_seconds
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._checker: threading.Thread | None = None
        self._pid = os.getpid()
        self.ready = threading.Event()
        self.last_event = 0
        """Highest incident_event id announced so far (0 before the first)."""

    def subscribe(self, who: Hashable | None = None) -> Subscriber:
        """A new subscriber receiving every message from now on."""
        self._ensure_threads()
        sub = Subscriber(who)
        with self._lock:
            self._subs.add(sub)
        self.ready.wait(timeout=10)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Stop delivering to ``sub``."""
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        """Number of open streams in this process."""
        return len(self._subs)

    def _ensure_threads(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's threads are not ours
                self._thread, self._checker, self._pid = None, None, os.getpid()
                self.ready.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="incident-listener",
                                                daemon=True)
                self._thread.start()
            if self._checker is None or not self._checker.is_alive():
                self._checker = threading.Thread(target=self._check_loop, daemon=True,
                                                 name="stream-session-check")
                self._checker.start()

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
                cur.execute("SELECT coalesce(max(id), 0) FROM incident_event")
                self.last_event = max(self.last_event, cur.fetchone()[0])
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
        with self._lock:  # with subscribe's lock: a new stream either gets these or its hello
            for m in batch:  # says it has them
                if m.get("event") is not None:
                    self.last_event = max(self.last_event, int(m["event"]))
            subs = list(self._subs)
        if not subs:
            return
        feats = features_for(self.engine, sorted({int(m["id"]) for m in batch
                                                  if m.get("op") != "deleted"}))
        for m in batch:
            msg = {"event": m.get("event"), "id": m["id"], "op": m.get("op"),
                   "feature": feats.get(int(m["id"]))}
            item = (msg["event"], sse(msg).encode())  # encoded once for every stream
            for sub in subs:
                try:
                    sub.q.put_nowait(item)
                except queue.Full:
                    pass

    def _check_loop(self) -> None:
        while True:
            time.sleep(self.check_seconds)
            try:
                self.check_sessions()
            except Exception as exc:  # noqa: BLE001 - a failed check ends no stream
                log.warning("stream session check: %s", str(exc).splitlines()[0])

    def check_sessions(self) -> int:
        """End the streams whose owner may no longer watch; return how many ended."""
        with self._lock:
            subs = [s for s in self._subs if s.who is not None]
        if not subs:
            return 0
        ok = self.validator(self.engine, {s.who for s in subs}, self.settings)
        ended = 0
        for s in subs:
            if s.who not in ok:
                self.unsubscribe(s)
                s.q.put(END)
                ended += 1
        return ended


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def hub_for(url: str, engine: Engine, settings: Any = None) -> Hub:
    """The process-wide hub for a (primary) database URL."""
    if settings is None:
        from flask import current_app, has_app_context

        if has_app_context():
            settings = current_app.extensions["cadastre_settings"]
    with _hubs_lock:
        h = _hubs.get(url)
        if h is None:
            h = _hubs[url] = Hub(url, engine, settings=settings)
        return h


def who_is_calling() -> Who | None:
    """The owner of a stream opened by the current request (None for anonymous callers)."""
    from flask import g

    from .security import current_session_key

    account = g.get("account")
    if not account:
        return None
    return Who(int(account["id"]), current_session_key())


def sse(msg: dict[str, Any]) -> str:
    """One Server-Sent Event (event id = incident_event id)."""
    head = f"id: {msg['event']}\n" if msg.get("event") is not None else ""
    return f"{head}event: incident\ndata: {json.dumps(msg, separators=(',', ':'))}\n\n"


def stream(hub: Hub, engine: Engine, last_id: int | None, ping_seconds: float = 15.0,
           max_seconds: float | None = None,
           who: Hashable | None = None) -> Iterator[str | bytes]:
    """Generate the SSE stream: replay after ``last_id``, then live messages.

    ``who`` (see :func:`who_is_calling`) is re-checked by the hub; the stream ends with an
    ``end`` event when that session may no longer watch.
    """
    sub = hub.subscribe(who)
    try:
        yield "retry: 1000\n\n"
        seen: set[int] = set()
        if last_id is None:
            if hub.ready.is_set():  # subscribed first: every later event reaches this queue
                sent = hub.last_event
            else:
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
                item = sub.q.get(timeout=wait)
            except queue.Empty:
                if wait == ping_seconds:
                    yield ": ping\n\n"
                continue
            if item is END:
                yield 'event: end\ndata: {"reason":"session ended"}\n\n'
                break
            ev, chunk = item
            if ev is not None and ev in seen:
                seen.discard(ev)  # already replayed
                continue
            yield chunk
    finally:
        hub.unsubscribe(sub)
