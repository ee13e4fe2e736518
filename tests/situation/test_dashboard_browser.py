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
    page.goto(base + "/login?next=/situation&lang=en")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_new_incident_appears_live(page, live_server, database_url, artifacts) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1400, "height": 900})
    _login(page, live_server, "operator", "operator-demo-2026")
    page.wait_for_url("**/situation*")
    page.wait_for_function("window.situation && window.situation.mapLoaded === true", timeout=30000)
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
    assert f"#{new_id}" in panel and "Timeline" in panel and "created" in panel
    assert "Parcel" in panel and "10:" in panel  # the cadastral number of the parcel it is on
    assert cam in panel and "online" in panel  # the camera that sees it, alive
    page.click('#panel form[data-action="triage"] button')
    page.wait_for_function(
        f"window.situation.byId.get({new_id}).properties.status === 'triaged'", timeout=10000)
    page.wait_for_function("window.situation.map.getZoom() >= 14 && !window.situation.map.isMoving()"
                           " && window.situation.map.areTilesLoaded()", timeout=20000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "situation-dashboard.png"))
    assert "triaged" in page.inner_text("#panel")
    # parcels and buildings come as vector tiles from the OGC API (issue 3's URL contract)
    assert page.evaluate("window.situation.map.querySourceFeatures('buildings',"
                         " {sourceLayer: 'buildings'}).length") > 0
    assert page.external_requests == []
    assert page.console_errors == []
