"""A bounded disk cache of rendered MVT tiles, invalidated by the database's own notifications.

Layout: ``$CADASTRE_DATA_DIR/tiles/<version>/<layer>/<z>/<x>/<y>.mvt.gz`` — gzip bytes, served
as they are to clients that accept gzip. ``<version>`` is a hash of the database address, the
tile queries and caps, so another database or a change of what a tile contains starts a fresh
cache.

Invalidation: migration 0011's statement triggers send the EPSG:3857 boxes an edit touched on
the ``tile_change`` channel. One listener thread per process (on the primary: a standby cannot
LISTEN) deletes exactly the cached tiles those boxes touch at every zoom, widened by the tile
buffer. While the listener is not connected the cache is bypassed (neither read nor written),
and after (re)connecting it replays ``tile_change`` since it last listened, so nothing edited
while nobody listened survives. A render that overlaps an invalidation of its tile is served
but not stored (see :meth:`TileCache.store`).
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import json
import logging
import math
import os
import select
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions

from .collections import COLLECTIONS

log = logging.getLogger(__name__)

CHANNEL = "tile_change"
# layers whose tiles depend only on the table rows (incidents carry ``overdue``, which moves
# with the clock: they are rendered every time)
CACHED = ("parcels", "buildings", "districts", "streets")
WORLD = 20037508.342789244
BUFFER_FRACTION = 64 / 4096
RECENT = 4096  # invalidations remembered for the render/store race check
FILE_LIMIT = 256  # above this many tiles per zoom, walk the cached files instead of guessing


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """EPSG:3857 bounds of an XYZ tile."""
    size = 2 * WORLD / 2 ** z
    return (-WORLD + x * size, WORLD - (y + 1) * size, -WORLD + (x + 1) * size, WORLD - y * size)


def tile_range(box: list[float], z: int) -> tuple[int, int, int, int]:
    """Inclusive x/y ranges of the tiles at zoom z whose buffered extent meets ``box``."""
    size = 2 * WORLD / 2 ** z
    pad = size * BUFFER_FRACTION + 1.0  # the tile query reads a 64/4096 margin; 1 m slack
    n = 2 ** z - 1
    x0 = max(0, math.floor((box[0] - pad + WORLD) / size))
    x1 = min(n, math.floor((box[2] + pad + WORLD) / size))
    y0 = max(0, math.floor((WORLD - box[3] - pad) / size))
    y1 = min(n, math.floor((WORLD - box[1] + pad) / size))
    return x0, x1, y0, y1


def _version(url: str) -> str:
    """Names what the cached tiles are: which database, which queries, which caps."""
    from sqlalchemy.engine import make_url

    from .tiles import tile_sql

    u = make_url(url)
    h = hashlib.blake2b(f"{u.host}:{u.port}/{u.database}".encode(), digest_size=6)
    for cid in CACHED:
        h.update(f"{tile_sql(COLLECTIONS[cid])}{COLLECTIONS[cid].tile_cap}".encode())
    return "v" + h.hexdigest()


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg2://", "postgresql://")


class TileCache:
    """Disk tile cache of one process, kept true by a LISTEN thread on the primary."""

    def __init__(self, root: Path, primary_url: str, max_bytes: int = 512 * 2 ** 20) -> None:
        """Cache under ``root``; listen on ``primary_url``; evict beyond ``max_bytes``."""
        self.root = Path(root) / _version(primary_url)
        self.url = primary_url
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.ready = threading.Event()
        self.seq = 0
        self._recent: collections.deque[tuple[int, str, list[list[float]] | None]] = \
            collections.deque(maxlen=RECENT)
        self._written = 0
        self.lsn: str | None = None
        """WAL position of the primary after the last invalidation (replica routing hook)."""

    # -- reading and writing ---------------------------------------------------------------
    def path(self, layer: str, z: int, x: int, y: int) -> Path:
        """File of one tile."""
        return self.root / layer / str(z) / str(x) / f"{y}.mvt.gz"

    def usable(self, layer: str) -> bool:
        """True when ``layer`` is cached and the invalidation listener is connected."""
        if layer not in CACHED:
            return False
        self.start()
        return self.ready.is_set()

    def get(self, layer: str, z: int, x: int, y: int) -> bytes | None:
        """Gzip bytes of a cached tile, or None."""
        if not self.usable(layer):
            return None
        try:
            with open(self.path(layer, z, x, y), "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def begin(self) -> int:
        """Call before rendering: the invalidation sequence number to pass to :meth:`store`."""
        return self.seq

    def store(self, layer: str, z: int, x: int, y: int, gz: bytes, since: int) -> bool:
        """Keep a tile rendered after :meth:`begin` returned ``since``, unless it may be stale.

        A render that read the database before an edit committed can finish after this
        process deleted that edit's tiles; such a render is served but not stored.
        """
        if not self.usable(layer) or self._stale(layer, z, x, y, since):
            return False
        p = self.path(layer, z, x, y)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_bytes(gz)
            os.replace(tmp, p)
        except OSError as exc:
            log.warning("tile cache: cannot write %s: %s", p, exc)
            return False
        if self._stale(layer, z, x, y, since):  # invalidated between the check and the write
            p.unlink(missing_ok=True)
            return False
        self._written += len(gz)
        if self._written > max(self.max_bytes // 20, 2 ** 20):
            self._written = 0
            threading.Thread(target=self.evict, daemon=True, name="tile-evict").start()
        return True

    def _stale(self, layer: str, z: int, x: int, y: int, since: int) -> bool:
        """True when an invalidation received after ``since`` touches the tile."""
        with self._lock:
            if self.seq == since:
                return False
            if self.seq - since >= RECENT or not self.ready.is_set():
                return True
            return any(seq > since and lyr == layer
                       and (boxes is None or any(_touches(box, z, x, y) for box in boxes))
                       for seq, lyr, boxes in self._recent)

    def evict(self) -> int:
        """Delete the least recently written tiles until the cache fits ``max_bytes``."""
        files = []
        total = 0
        for dirpath, _dirs, names in os.walk(self.root):
            for n in names:
                fp = os.path.join(dirpath, n)
                try:
                    st = os.stat(fp)
                except OSError:
                    continue
                files.append((st.st_mtime, st.st_size, fp))
                total += st.st_size
        removed = 0
        if total > self.max_bytes:
            files.sort()
            target = self.max_bytes * 0.8
            for _m, size, fp in files:
                if total <= target:
                    break
                try:
                    os.unlink(fp)
                except OSError:
                    continue
                total -= size
                removed += 1
        return removed

    def clear(self, layer: str | None = None) -> None:
        """Drop every cached tile (of ``layer``)."""
        shutil.rmtree(self.root / layer if layer else self.root, ignore_errors=True)

    # -- invalidation ------------------------------------------------------------------------
    def invalidate(self, layer: str, boxes: list[list[float]] | None) -> int:
        """Delete the cached tiles of ``layer`` that ``boxes`` (EPSG:3857) touch; None = all."""
        with self._lock:
            self.seq += 1
            self._recent.append((self.seq, layer, boxes))
        if layer not in CACHED:
            return 0
        if boxes is None:
            self.clear(layer)
            return -1
        c = COLLECTIONS[layer]
        removed = 0
        for z in range(c.min_zoom, c.max_zoom + 1):
            zdir = self.root / layer / str(z)
            if not zdir.exists():
                continue
            for box in boxes:
                removed += _remove_range(zdir, *tile_range(box, z))
        return removed

    def start(self) -> None:
        """Start this process's listener thread (once; again after a fork)."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._thread, self._pid = None, os.getpid()
                self.ready.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="tile-cache-listener")
                self._thread.start()

    def wait_ready(self, timeout: float = 10) -> bool:
        """Start listening and wait until the cache is usable."""
        self.start()
        return self.ready.wait(timeout)

    def _run(self) -> None:
        failures = 0
        while True:
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - any database trouble: bypass, reconnect
                self.ready.clear()
                failures += 1
                if failures <= 3:
                    log.warning("tile cache listener: %s; reconnecting",
                                str(exc).splitlines()[0] if str(exc) else exc)
                time.sleep(min(30.0, 0.5 * failures))

    def _marker(self) -> Path:
        return self.root / ".listened"

    def _listen(self) -> None:
        conn = psycopg2.connect(_dsn(self.url), application_name="cadastre-tile-cache")
        conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        try:
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
                cur.execute("SELECT now()")
                started = cur.fetchone()[0]
                self._catch_up(cur)
                self._note(cur, started)
            self.ready.set()
            last_prune = 0.0
            while True:
                if select.select([conn], [], [], 30) == ([], [], []):
                    with conn.cursor() as cur:  # keep-alive; detects a dead server
                        cur.execute("SELECT now()")
                        self._note(cur, cur.fetchone()[0])
                        if time.monotonic() - last_prune > 3600:
                            last_prune = time.monotonic()
                            cur.execute("DELETE FROM tile_change"
                                        " WHERE at < now() - interval '7 days'")
                    continue
                conn.poll()
                got = False
                while conn.notifies:
                    n = conn.notifies.pop(0)
                    try:
                        msg = json.loads(n.payload)
                    except ValueError:
                        continue
                    self.invalidate(msg["layer"], None if msg.get("all") else msg["boxes"])
                    got = True
                if got:
                    with conn.cursor() as cur:
                        cur.execute("SELECT now(), pg_current_wal_lsn()::text")
                        at, self.lsn = cur.fetchone()
                        self._note(cur, at)
        finally:
            self.ready.clear()
            conn.close()

    def _catch_up(self, cur: Any) -> None:
        """Invalidate what changed since this cache last listened (all of it when unknown)."""
        try:
            since = self._marker().read_text().strip()
        except OSError:
            since = None
        if not since:
            if self.root.exists():
                self.clear()
            self._prune_siblings()
            return
        # a transaction that began before the marker may commit after it: look back an hour
        cur.execute("SELECT layer, boxes FROM tile_change"
                    " WHERE at > %s::timestamptz - interval '1 hour' ORDER BY id", (since,))
        for layer, boxes in cur.fetchall():
            self.invalidate(layer, boxes)

    def _prune_siblings(self) -> None:
        """Remove caches of other databases or older queries nobody listened for 10 minutes."""
        for d in _names(self.root.parent):
            other = self.root.parent / d
            if other == self.root or not d.startswith("v"):
                continue
            try:
                idle = time.time() - (other / ".listened").stat().st_mtime
            except OSError:
                idle = float("inf")
            if idle > 600:
                shutil.rmtree(other, ignore_errors=True)

    def _note(self, _cur: Any, at: Any) -> None:
        """Remember (on disk, for the next start) that everything up to ``at`` is applied."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self._marker().with_name(f".listened.{os.getpid()}")
            tmp.write_text(at.isoformat())
            os.replace(tmp, self._marker())
        except OSError:
            pass


def _touches(box: list[float], z: int, x: int, y: int) -> bool:
    x0, x1, y0, y1 = tile_range(box, z)
    return x0 <= x <= x1 and y0 <= y <= y1


def _remove_range(zdir: Path, x0: int, x1: int, y0: int, y1: int) -> int:
    removed = 0
    if (x1 - x0 + 1) * (y1 - y0 + 1) <= FILE_LIMIT:
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                try:
                    os.unlink(zdir / str(x) / f"{y}.mvt.gz")
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed
    for xs in _names(zdir):
        if xs.isdigit() and x0 <= int(xs) <= x1:
            xdir = zdir / xs
            for name in _names(xdir):
                stem = name.split(".", 1)[0]
                if stem.isdigit() and y0 <= int(stem) <= y1:
                    try:
                        os.unlink(xdir / name)
                        removed += 1
                    except FileNotFoundError:
                        pass
    return removed


def _names(d: Path) -> Iterable[str]:
    try:
        return os.listdir(d)
    except OSError:
        return ()


def compress(mvt: bytes) -> bytes:
    """Gzip a tile deterministically (no timestamp), so equal tiles have equal bytes."""
    return gzip.compress(mvt, compresslevel=6, mtime=0)


_caches: dict[tuple[str, str], TileCache] = {}
_caches_lock = threading.Lock()


def cache_for(data_dir: Path, primary_url: str, max_bytes: int = 512 * 2 ** 20) -> TileCache:
    """The process-wide cache for a data dir and primary database."""
    key = (str(data_dir), primary_url)
    with _caches_lock:
        c = _caches.get(key)
        if c is None:
            c = _caches[key] = TileCache(Path(data_dir) / "tiles", primary_url, max_bytes)
        return c
