"""Camera video: the operator-only HLS relay (real ffmpeg, real ffprobe), snapshots as evidence."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from cadastre_gis import video
from tests.conftest import need_tool

OPERATOR = {"Authorization": "Basic " + base64.b64encode(b"operator:operator-demo-2026").decode()}
CITIZEN = {"Authorization": "Basic " + base64.b64encode(b"citizen:citizen-demo-2026").decode()}
NOTARY = {"Authorization": "Basic " + base64.b64encode(b"notary:notary-demo-2026").decode()}


@pytest.fixture(scope="module")
def clip_camera(engine) -> dict:  # type: ignore[no-untyped-def]
    """A demo camera that plays the test clip, and one with a secret RTSP URL."""
    need_tool("ffmpeg")
    with engine.connect() as c:
        cam = c.execute(text("SELECT id, code, stream_url FROM camera WHERE stream_url = :u"
                             " ORDER BY id LIMIT 1"), {"u": video.TEST_CLIP}).mappings().one()
        secret = c.execute(text("SELECT stream_url FROM camera WHERE stream_url LIKE 'rtsp://%'"
                                " ORDER BY id LIMIT 1")).scalar_one()
    return {**cam, "secret": secret}


def _relay(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        from web.situation import relay

        return relay()


def test_access_is_for_operators_only(client, clip_camera) -> None:  # type: ignore[no-untyped-def]
    url = f"/situation/cameras/{clip_camera['id']}/hls/index.m3u8?viewer=abcdefgh1"
    assert client.get(url).status_code == 401
    for who in (CITIZEN, NOTARY):
        assert client.get(url, headers=who).status_code == 403
        assert client.get(f"/situation/cameras/{clip_camera['id']}/hls/seg00000.ts",
                          headers=who).status_code == 403
        assert client.post("/situation/api/incidents/1/snapshot", json={"camera_id": 1},
                           headers=who).status_code == 403
    assert client.get("/situation/cameras/999999/hls/index.m3u8?viewer=abcdefgh1",
                      headers=OPERATOR).status_code == 404
    assert client.get(f"/situation/cameras/{clip_camera['id']}/hls/../../secret_key",
                      headers=OPERATOR).status_code == 404


def test_playlist_segments_and_stop(app, client, clip_camera, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ffprobe = need_tool("ffprobe")
    relay = _relay(app)
    cid = clip_camera["id"]
    assert cid not in relay.running()  # an idle platform runs no ffmpeg
    r = client.get(f"/situation/cameras/{cid}/hls/index.m3u8?viewer=viewer-one", headers=OPERATOR)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/vnd.apple.mpegurl"
    playlist = r.get_data(as_text=True)
    assert "#EXTM3U" in playlist and "#EXTINF" in playlist
    segs = [ln for ln in playlist.splitlines() if ln.endswith(".ts")]
    assert segs and all("/" not in s for s in segs)
    pid = relay.running()[cid]
    # a second viewer shares the same ffmpeg
    r2 = client.get(f"/situation/cameras/{cid}/hls/index.m3u8?viewer=viewer-two", headers=OPERATOR)
    assert r2.status_code == 200 and relay.running()[cid] == pid
    seg = client.get(f"/situation/cameras/{cid}/hls/{segs[0]}", headers=OPERATOR)
    assert seg.status_code == 200 and seg.mimetype == "video/mp2t"
    f = tmp_path / "seg.ts"
    f.write_bytes(seg.get_data())
    probe = json.loads(subprocess.run(
        [ffprobe, "-v", "error", "-show_streams", "-of", "json", str(f)],
        capture_output=True, check=True, text=True).stdout)
    v = [s for s in probe["streams"] if s["codec_type"] == "video"]
    assert v and v[0]["codec_name"] == "h264" and v[0]["width"] == 640  # copied, not re-encoded
    # the camera's own URL never reaches the browser
    for body in (playlist, client.get("/situation/api/cameras.geojson", headers=OPERATOR)
                 .get_data(as_text=True), client.get("/situation", headers=OPERATOR)
                 .get_data(as_text=True)):
        assert clip_camera["stream_url"] not in body and clip_camera["secret"] not in body
        assert "rtsp://" not in body and "stream_url" not in body
    # viewers leave: the first leaving keeps it running, the last one stops ffmpeg
    assert client.post(f"/situation/cameras/{cid}/hls/leave", json={"viewer": "viewer-one"},
                       headers=OPERATOR).status_code == 204
    assert relay.running().get(cid) == pid
    assert client.post(f"/situation/cameras/{cid}/hls/leave", json={"viewer": "viewer-two"},
                       headers=OPERATOR).status_code == 204
    assert cid not in relay.running()
    assert not _pid_alive(pid)
    assert client.get(f"/situation/cameras/{cid}/hls/{segs[0]}",
                      headers=OPERATOR).status_code == 404


def _pid_alive(pid: int) -> bool:
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}") or " Z " in Path(f"/proc/{pid}/stat").read_text():
            return False
        time.sleep(0.1)
    return True


def test_silent_viewer_times_out(app, client, clip_camera) -> None:  # type: ignore[no-untyped-def]
    relay = _relay(app)
    cid = clip_camera["id"]
    old = relay.idle_seconds
    relay.idle_seconds = 2.0
    try:
        assert client.get(f"/situation/cameras/{cid}/hls/index.m3u8?viewer=closed-tab",
                          headers=OPERATOR).status_code == 200
        pid = relay.running()[cid]
        relay.reap()
        assert relay.running().get(cid) == pid  # heard from just now
        time.sleep(2.5)  # the tab closed without saying goodbye
        relay.reap()  # (or the background reaper did it already)
        assert cid not in relay.running()
        assert not _pid_alive(pid)
    finally:
        relay.idle_seconds = old


def test_snapshot_is_evidence_on_the_timeline(app, client, clip_camera, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as c:
        inc = c.execute(text("SELECT id FROM incident WHERE status = 'new' ORDER BY id LIMIT 1")
                        ).scalar_one()
    r = client.post(f"/situation/api/incidents/{inc}/snapshot",
                    json={"camera_id": clip_camera["id"], "note": "leak visible"}, headers=OPERATOR)
    assert r.status_code == 201, r.get_data(as_text=True)
    ev = r.get_json()
    assert ev["kind"] == "snapshot" and ev["data"]["camera"] == clip_camera["code"]
    img = client.get(ev["url"], headers=OPERATOR)
    assert img.status_code == 200 and img.get_data()[:3] == b"\xff\xd8\xff"  # a JPEG
    assert client.get(ev["url"], headers=CITIZEN).status_code == 403
    panel = client.get(f"/situation/api/incidents/{inc}", headers=OPERATOR).get_json()
    assert any(e["kind"] == "snapshot" and e["data"]["attachment"] == ev["data"]["attachment"]
               for e in panel["timeline"])
    assert client.post(f"/situation/api/incidents/{inc}/snapshot", json={},
                       headers=OPERATOR).status_code == 400
    assert client.get(f"/situation/api/incidents/{inc}/attachments/x.jpg",
                      headers=OPERATOR).status_code == 404


def test_unplayable_sources_are_503(tmp_path) -> None:
    from cadastre_gis.errors import http_status

    for src in ("", "media/missing.mp4", "ftp://cam/1", "gopher://x"):
        with pytest.raises(video.VideoUnavailable) as exc:
            video.source_args(src, tmp_path)
        assert http_status(exc.value) == 503
    assert video.source_args("rtsp://cam.example/1", tmp_path)[:2] == ["-rtsp_transport", "tcp"]
