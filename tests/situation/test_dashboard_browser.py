"""Headless Chromium: an operator's dashboard shows a new incident without reloading."""

from __future__ import annotations

import psycopg2


def _insert_seen_by_camera(database_url: str) -> tuple[int, str]:
    """Plain-SQL insert of a gas incident on a building seen by some camera."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""
                SELECT ST_AsEWKT(p), c.code FROM camera c
                  JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) p FROM building b
                                 WHERE b.status = 'active' AND ST_DWithin(b.geom, c.geom, c.range_m)) q
                    ON camera_sees(c.geom, c.heading_deg, c.fov_deg, c.range_m, q.p)
                 ORDER BY c.id LIMIT 1""")
            pt, code = cur.fetchone()
            cur.execute("INSERT INTO incident (category, title, geom) VALUES"
                        " ('gas', 'from psql', ST_GeomFromEWKT(%s)) RETURNING id", (pt,))
            return cur.fetchone()[0], code
    finally:
        conn.close()


def _login(page, base: str, user: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/logout")
    page.goto(base + "/login?next=/situation&lang=en")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_new_incident_appears_live(page, live_server, database_url, artifacts) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1400, "height": 900})
    _login(page, live_server, "operator", "operator-demo-2026")
    page.wait_for_url("**/situation*")
    page.wait_for_function("() => window.situation && window.situation.mapLoaded === true", timeout=30000)
    page.wait_for_selector("#live.on", timeout=15000)
    page.wait_for_selector("#feed li", timeout=15000)
    loads = []
    page.on("framenavigated", lambda f: loads.append(f.url))

    # a point on a building that a camera sees; the camera's video system reports in
    new_id, cam = _insert_seen_by_camera(database_url)
    hb = page.evaluate("""async (code) => (await fetch('/situation/api/cameras/' + code + '/heartbeat',
        {method: 'POST', headers: {'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}})).status""", cam)
    assert hb == 200
    page.evaluate("window.situation.reloadCameras()")
    page.wait_for_selector(f'#feed li[data-incident-id="{new_id}"]', timeout=10000)
    in_source = page.evaluate(
        f"window.situation.data.features.some(f => f.id === {new_id})")
    assert in_source
    assert page.evaluate(f"window.situation.byId.get({new_id}).properties.status") == "new"
    assert loads == []  # no reload happened

    # the panel: parcel/building, cameras, timeline and actions
    page.click(f'#feed li[data-incident-id="{new_id}"]')
    page.wait_for_selector("#panel h3", timeout=10000)
    panel = page.inner_text("#panel")
    assert f"#{new_id}" in panel and "Timeline" in panel and "Created" in panel
    assert "Parcel" in panel and "10:" in panel  # the cadastral number of the parcel it is on
    assert cam in panel and "online" in panel  # the camera that sees it, alive
    page.click('#panel form[data-action="triage"] button')
    page.wait_for_function(
        f"() => window.situation.byId.get({new_id}).properties.status === 'triaged'", timeout=10000)
    page.wait_for_function("() => window.situation.map.getZoom() >= 14 && !window.situation.map.isMoving()"
                           " && window.situation.map.areTilesLoaded()", timeout=20000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "situation-dashboard.png"))
    assert "Triaged" in page.inner_text("#panel")
    # parcels and buildings come as vector tiles from the OGC API (issue 3's URL contract)
    assert page.evaluate("window.situation.map.querySourceFeatures('buildings',"
                         " {sourceLayer: 'buildings'}).length") > 0
    assert page.external_requests == []
    assert page.console_errors == []



TRIAGE = {"uz": "Tasdiqlash", "ru": "Подтвердить", "en": "Triage"}
LEGEND = {"uz": "Shartli belgilar", "ru": "Условные обозначения", "en": "Legend"}
INCIDENTS = {"uz": "hodisa", "ru": "происшествий", "en": "incidents"}


def _ids(database_url: str) -> tuple[int, int]:
    """A new incident and a resolved one."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM incident WHERE status = 'new' ORDER BY id DESC LIMIT 1")
            new = cur.fetchone()[0]
            cur.execute("SELECT id FROM incident WHERE status = 'resolved' ORDER BY id LIMIT 1")
            resolved = cur.fetchone()[0]
            return new, resolved
    finally:
        conn.close()


def test_dashboard_sizes_and_languages(page, live_server, database_url, artifacts) -> None:  # type: ignore[no-untyped-def]
    """Phone and desktop, uz/ru/en: a tall map, translated strings, only valid actions."""
    _login(page, live_server, "operator", "operator-demo-2026")
    page.wait_for_url("**/situation*")
    new_id, resolved_id = _ids(database_url)
    for lang in ("uz", "ru", "en"):
        for name, size in (("phone", {"width": 390, "height": 844}),
                           ("desktop", {"width": 1400, "height": 900})):
            page.set_viewport_size(size)
            page.goto(f"{live_server}/situation?lang={lang}")
            page.wait_for_function("() => window.situation && window.situation.mapLoaded === true",
                                   timeout=30000)
            page.wait_for_selector("#feed li[data-incident-id]", timeout=15000)
            box = page.locator("#map").bounding_box()
            assert box["height"] > 300 and box["width"] >= size["width"] * 0.5, (lang, name, box)
            if name == "phone":  # the map fills the screen below the filters
                assert box["height"] > size["height"] * 0.7, box
            assert page.inner_text("#legend summary") == LEGEND[lang]
            assert INCIDENTS[lang] in page.inner_text("#count")
            assert page.get_attribute("html", "lang") == lang
            # a resolved incident never offers "Triage"; a new one does
            page.evaluate(f"window.situation.openPanel({resolved_id}, false)")
            page.wait_for_selector('#panel h3[data-status="resolved"]', timeout=10000)
            panel = page.inner_text("#panel")
            assert page.locator('#panel form[data-action="triage"]').count() == 0
            assert TRIAGE[lang] not in panel
            assert page.locator('#panel form[data-action="close"]').count() == 1
            if lang == "ru":
                assert "Демо-данные" in panel  # the source by name, not the code
            if lang != "en":
                for english in ("Priority", "Deadline", "Timeline", "Actions", "Cameras that see it"):
                    assert english not in panel, (lang, english)
            page.evaluate(f"window.situation.openPanel({new_id}, false)")
            page.wait_for_selector('#panel h3[data-status="new"]', timeout=10000)
            assert page.locator('#panel form[data-action="triage"] button').inner_text() == TRIAGE[lang]
            assert page.locator('#panel form[data-action="resolve"]').count() == 0
            # SLA countdown on open incidents
            assert page.locator("#panel .sla").inner_text().strip() != ""
            if name == "phone":
                sheet = page.locator("#sheet").bounding_box()
                assert sheet["y"] > size["height"] * 0.3  # a bottom sheet, not a column
            page.click("#fit")
            page.wait_for_timeout(400)
            page.screenshot(path=str(artifacts / f"situation-{name}-{lang}.png"))
    assert page.external_requests == []
    assert page.console_errors == []


def _incident_before_clip_camera(database_url: str) -> tuple[int, int]:
    """An incident 15 m in front of a camera that plays the demo clip."""
    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""
                SELECT c.id, ST_AsEWKT(ST_Translate(c.geom, 15 * sin(radians(c.heading_deg)),
                                                   15 * cos(radians(c.heading_deg))))
                  FROM camera c WHERE c.stream_url = 'media/demo-camera.mp4'
                 ORDER BY c.id LIMIT 1""")
            cam, pt = cur.fetchone()
            cur.execute("INSERT INTO incident (category, title, geom) VALUES"
                        " ('water', 'seen on video', ST_GeomFromEWKT(%s)) RETURNING id", (pt,))
            return cur.fetchone()[0], cam
    finally:
        conn.close()


def test_camera_plays_in_the_dashboard(page, live_server, database_url, data_dir, artifacts) -> None:  # type: ignore[no-untyped-def]
    """From 'cameras that see it' the operator watches the live video and takes a snapshot."""
    from tests.conftest import need_tool

    need_tool("ffmpeg")
    from cadastre_gis.video import HlsRelay

    relay = HlsRelay(data_dir / "tmp" / "hls", data_dir)
    inc, cam = _incident_before_clip_camera(database_url)
    page.set_viewport_size({"width": 1400, "height": 900})
    _login(page, live_server, "operator", "operator-demo-2026")
    page.wait_for_url("**/situation*")
    page.wait_for_function("() => window.situation && window.situation.mapLoaded === true", timeout=30000)
    page.evaluate(f"window.situation.openPanel({inc}, true)")
    page.wait_for_selector(f'#panel .cameras li[data-camera-id="{cam}"] button[data-role=watch]',
                           timeout=10000)
    page.click(f'#panel .cameras li[data-camera-id="{cam}"] button[data-role=watch]')
    page.wait_for_selector(f'#wall .tile[data-camera-id="{cam}"].playing', timeout=30000)
    t0 = page.evaluate(f"document.querySelector('#wall .tile[data-camera-id=\"{cam}\"] video').currentTime")
    page.wait_for_function(
        f"() => document.querySelector('#wall .tile[data-camera-id=\"{cam}\"] video').currentTime > {t0} + 1",
        timeout=15000)
    assert cam in relay.running()
    # the page and everything it fetched never carried the camera's own address
    assert "demo-camera.mp4" not in page.content() and "rtsp://" not in page.content()
    page.click(f'#wall .tile[data-camera-id="{cam}"] button[data-role=snapshot]')
    page.wait_for_selector('#panel .timeline li[data-kind="snapshot"] img', timeout=20000)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#panel .timeline img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=10000)
    page.screenshot(path=str(artifacts / "situation-camera.png"))
    page.click(f'#wall .tile[data-camera-id="{cam}"] button.close')
    page.wait_for_function("() => document.getElementById('wall').hidden === true")
    for _ in range(50):  # the last viewer left: ffmpeg stops
        if cam not in relay.running():
            break
        page.wait_for_timeout(100)
    assert cam not in relay.running()
    # any camera on the map plays too: click it
    page.evaluate(f"""() => {{ const f = window.situation.cameras.features.find(
        f => f.properties.kind === 'camera' && f.properties.id === {cam});
        window.situation.map.jumpTo({{center: f.geometry.coordinates, zoom: 17.5}}); }}""")
    page.wait_for_function("() => !window.situation.map.isMoving() && window.situation.map.loaded()")
    page.wait_for_timeout(300)
    xy = page.evaluate(f"""() => {{ const f = window.situation.cameras.features.find(
        f => f.properties.kind === 'camera' && f.properties.id === {cam});
        const p = window.situation.map.project(f.geometry.coordinates);
        const r = window.situation.map.getCanvas().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }}""")
    page.mouse.click(xy[0], xy[1])
    page.wait_for_selector(f'#wall .tile[data-camera-id="{cam}"].playing', timeout=30000)
    page.click(f'#wall .tile[data-camera-id="{cam}"] button.close')
    assert page.external_requests == []
    assert page.console_errors == []
