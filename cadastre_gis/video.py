"""Camera video for operators: on-demand HLS repackaging with ffmpeg, snapshots, a test clip.

A camera's own stream (RTSP, HLS over HTTP, or a file for the demo) is repackaged with
``ffmpeg -c copy`` (no re-encoding) into HLS under ``<data dir>/tmp/hls/<camera id>/`` while
someone watches. The state lives in that directory, so every web worker sees the same relay:

- ``viewers/<viewer>`` — one empty file per watching browser; its mtime is the heartbeat
  (each playlist request touches it; the player refreshes the playlist every few seconds);
- ``pid`` — the ffmpeg process writing the playlist.

:meth:`HlsRelay.reap` stops a relay whose viewers have all left (``leave``) or gone silent for
``idle_seconds``, and removes its directory; an idle platform runs no ffmpeg at all.
The browser only ever sees our URLs; the camera's own URL and credentials stay here.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .cluster import pid_alive
from .errors import InvalidInput, NotFound

SEGMENT = re.compile(r"^seg[0-9]{5}\.ts$")
VIEWER = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
TEST_CLIP = "media/demo-camera.mp4"
"""The demo cameras' stream: a relative path resolved under the data directory."""


class VideoUnavailable(NotFound):
    """The camera's stream cannot be played now (no ffmpeg, source down, no stream URL)."""

    code = "VideoUnavailable"
    status = 503


def ffmpeg_path() -> str | None:
    """The ffmpeg binary, or None when it is not installed."""
    return shutil.which("ffmpeg")


def source_args(source: str, data_dir: Path) -> list[str]:
    """ffmpeg input arguments for a camera's stream URL (RTSP, HLS/HTTP, file or data path)."""
    s = (source or "").strip()
    if not s:
        raise VideoUnavailable("this camera has no stream")
    low = s.lower()
    if low.startswith(("rtsp://", "rtsps://")):
        return ["-rtsp_transport", "tcp", "-i", s]
    if low.startswith(("http://", "https://")):
        return ["-i", s]
    if low.startswith("file://"):
        path = Path(s[7:])
    elif low.startswith("file:"):
        path = Path(s[5:])
    elif "://" in s:
        raise VideoUnavailable("unsupported stream type")
    else:
        path = Path(s)
    if not path.is_absolute():
        path = data_dir / path
    if not path.is_file():
        raise VideoUnavailable("the camera's recording is missing")
    # a file plays as a live camera: in real time, looping
    return ["-re", "-stream_loop", "-1", "-i", str(path)]




class HlsRelay:
    """On-demand ``ffmpeg -c copy`` HLS relays, one per watched camera, shared by workers."""

    def __init__(self, root: Path, data_dir: Path, idle_seconds: float = 30.0,
                 hls_time: int = 2) -> None:
        """``root`` holds one directory per running relay; ``data_dir`` resolves file sources."""
        self.root = Path(root)
        self.data_dir = Path(data_dir)
        self.idle_seconds = float(idle_seconds)
        self.hls_time = hls_time
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    # ---- paths and locks ----------------------------------------------------------------
    def _dir(self, camera_id: int) -> Path:
        return self.root / str(int(camera_id))

    @contextmanager
    def _locked(self, camera_id: int) -> Iterator[Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{int(camera_id)}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield self._dir(camera_id)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def pid(self, camera_id: int) -> int | None:
        """The pid of the camera's running ffmpeg, or None."""
        try:
            pid = int((self._dir(camera_id) / "pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def running(self) -> dict[int, int]:
        """Camera id → ffmpeg pid of every running relay."""
        out: dict[int, int] = {}
        if not self.root.is_dir():
            return out
        for d in self.root.iterdir():
            if d.is_dir() and d.name.isdigit():
                pid = self.pid(int(d.name))
                if pid:
                    out[int(d.name)] = pid
        return out

    # ---- viewers ------------------------------------------------------------------------
    def touch(self, camera_id: int, viewer: str) -> None:
        """Record that ``viewer`` is watching now."""
        if not VIEWER.match(viewer or ""):
            raise InvalidInput("viewer must be 8-64 letters, digits, - or _")
        vd = self._dir(camera_id) / "viewers"
        vd.mkdir(parents=True, exist_ok=True)
        (vd / viewer).touch()

    def leave(self, camera_id: int, viewer: str) -> None:
        """A viewer closed the player; the relay stops at the next reap if nobody is left."""
        if VIEWER.match(viewer or ""):
            (self._dir(camera_id) / "viewers" / viewer).unlink(missing_ok=True)
        self.reap()

    def viewers(self, camera_id: int, now: float | None = None) -> int:
        """Viewers heard from within ``idle_seconds``."""
        now = time.time() if now is None else now
        vd = self._dir(camera_id) / "viewers"
        if not vd.is_dir():
            return 0
        n = 0
        for f in vd.iterdir():
            try:
                if now - f.stat().st_mtime <= self.idle_seconds:
                    n += 1
            except OSError:
                continue
        return n

    # ---- start, serve, stop -------------------------------------------------------------
    def ensure(self, camera_id: int, source: str) -> None:
        """Start the camera's relay unless one is running (any worker may have started it)."""
        exe = ffmpeg_path()
        if exe is None:
            raise VideoUnavailable("video relay needs ffmpeg on the server")
        args = source_args(source, self.data_dir)
        with self._locked(camera_id) as d:
            if self.pid(camera_id):
                return
            for old in d.glob("seg*.ts"):
                old.unlink(missing_ok=True)
            (d / "index.m3u8").unlink(missing_ok=True)
            d.mkdir(parents=True, exist_ok=True)
            cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", *args,
                   "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
                   "-f", "hls", "-hls_time", str(self.hls_time), "-hls_list_size", "6",
                   "-hls_flags", "delete_segments+omit_endlist+independent_segments",
                   "-hls_segment_filename", str(d / "seg%05d.ts"), str(d / "index.m3u8")]
            with open(d / "ffmpeg.log", "ab") as log:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=log, start_new_session=True)
            (d / "pid").write_text(str(proc.pid))
            with self._lock:
                self._children[int(camera_id)] = proc
        self._start_reaper()

    def playlist(self, camera_id: int, source: str, viewer: str, wait: float = 15.0) -> bytes:
        """The live playlist (starting the relay on first request), after noting the viewer."""
        self.touch(camera_id, viewer)
        self.ensure(camera_id, source)
        path = self._dir(camera_id) / "index.m3u8"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                data = path.read_bytes()
                if b"#EXTINF" in data:
                    self.touch(camera_id, viewer)
                    return data
            except OSError:
                pass
            if not self.pid(camera_id):
                break
            time.sleep(0.2)
        raise VideoUnavailable("the camera's stream did not start; it may be offline")

    def segment(self, camera_id: int, name: str) -> Path:
        """Path of one segment of a running relay (a NotFound when gone or not ours)."""
        if not SEGMENT.match(name or ""):
            raise NotFound("no such segment")
        path = self._dir(camera_id) / name
        if not path.is_file():
            raise NotFound("no such segment (the stream moved on)")
        return path

    def latest_segment(self, camera_id: int) -> Path | None:
        """The newest finished segment of a running relay (for snapshots of what is shown)."""
        try:
            text = (self._dir(camera_id) / "index.m3u8").read_text()
        except OSError:
            return None
        names = [ln.strip() for ln in text.splitlines() if SEGMENT.match(ln.strip())]
        for name in reversed(names):
            p = self._dir(camera_id) / name
            if p.is_file():
                return p
        return None

    def stop(self, camera_id: int) -> None:
        """Stop a camera's relay and remove its files."""
        with self._locked(camera_id) as d:
            pid = self.pid(camera_id)
            if pid:
                try:
                    os.killpg(pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
            with self._lock:
                proc = self._children.pop(int(camera_id), None)
            if proc is not None:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            elif pid:
                for _ in range(50):
                    if not pid_alive(pid):
                        break
                    time.sleep(0.1)
                else:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            shutil.rmtree(d, ignore_errors=True)

    def reap(self, now: float | None = None) -> list[int]:
        """Stop every relay nobody watches; returns the camera ids stopped."""
        stopped: list[int] = []
        with self._lock:  # collect exit codes of our own children
            for cid, proc in list(self._children.items()):
                if proc.poll() is not None:
                    self._children.pop(cid, None)
        if not self.root.is_dir():
            return stopped
        for d in self.root.iterdir():
            if not (d.is_dir() and d.name.isdigit()):
                continue
            cid = int(d.name)
            if self.viewers(cid, now) == 0 or not self.pid(cid):
                self.stop(cid)
                stopped.append(cid)
        return stopped

    def stop_all(self) -> None:
        """Stop every relay (shutdown)."""
        for cid in list(self.running()):
            self.stop(cid)

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None and self._reaper.is_alive():
                return
            self._reaper = threading.Thread(target=self._reap_loop, name="hls-reaper",
                                            daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        interval = max(1.0, min(5.0, self.idle_seconds / 3))
        while True:
            time.sleep(interval)
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the reaper must keep running
                pass
            if not self.running():
                with self._lock:
                    if not self._children:
                        self._reaper = None
                        return


def snapshot(source_segment_or_args: Path | list[str], out: Path, timeout: float = 20.0) -> None:
    """Write one JPEG frame, from a relay segment (what the operator sees) or a source."""
    exe = ffmpeg_path()
    if exe is None:
        raise VideoUnavailable("snapshots need ffmpeg on the server")
    if isinstance(source_segment_or_args, Path):
        inputs = ["-i", str(source_segment_or_args)]
    else:
        inputs = [a for a in source_segment_or_args if a not in ("-re", "-stream_loop", "-1")]
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *inputs,
           "-frames:v", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", str(out)]
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                             check=False)
    except subprocess.TimeoutExpired as exc:
        raise VideoUnavailable("the camera did not answer in time") from exc
    if res.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        out.unlink(missing_ok=True)
        raise VideoUnavailable("could not take a frame from the camera")


def make_test_clip(data_dir: Path, seconds: int = 10) -> Path | None:
    """Create the demo cameras' clip once (ffmpeg's test source, H.264); None without ffmpeg."""
    out = Path(data_dir) / TEST_CLIP
    if out.is_file() and out.stat().st_size > 0:
        return out
    exe = ffmpeg_path()
    if exe is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
           "-f", "lavfi", "-i", f"testsrc=size=640x360:rate=25:duration={int(seconds)}",
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
           "-profile:v", "main", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
           "-movflags", "+faststart", str(tmp)]
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                         check=False)
    if res.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        return None
    tmp.replace(out)
    return out
