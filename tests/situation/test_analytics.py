"""Analytics: counts, medians (percentile_cont), hexagons, CSV, access."""

from __future__ import annotations

import base64
import csv
import io
import statistics

from sqlalchemy import text

OPERATOR = {"Authorization": "Basic " + base64.b64encode(b"operator:operator-demo-2026").decode()}
CITIZEN = {"Authorization": "Basic " + base64.b64encode(b"citizen:citizen-demo-2026").decode()}


def test_access(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/analytics").status_code == 302
    assert client.get("/analytics/api/summary.json").status_code == 401
    assert client.get("/analytics/api/summary.json", headers=CITIZEN).status_code == 403
    r = client.get("/analytics?window=90d", headers=OPERATOR)
    assert r.status_code == 200 and 'id="overdue"' in r.get_data(as_text=True)


def test_counts_and_medians(client, engine) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/analytics/api/summary.json?window=90d", headers=OPERATOR).get_json()
    with engine.connect() as c:
        total = c.execute(text("SELECT count(*) FROM incident"
                               " WHERE reported_at > now() - interval '90 days'")).scalar_one()
        hours = [r[0] for r in c.execute(text(
            "SELECT extract(epoch FROM resolved_at - reported_at) / 3600 FROM incident"
            " WHERE category = 'water' AND resolved_at IS NOT NULL"
            "   AND reported_at > now() - interval '90 days'"))]
        overdue = c.execute(text(
            "SELECT count(*) FROM incident WHERE deadline < now() AND status IN"
            " ('new','triaged','dispatched','in_progress')"
            " AND reported_at > now() - interval '90 days'")).scalar_one()
    assert sum(r["n"] for r in body["counts"]) == total
    water = next(r for r in body["time_to_resolve"]["category"] if r["key"] == "water")
    assert water["resolved"] == len(hours)
    assert abs(water["median_hours"] - float(statistics.median(hours))) <= 0.051
    assert len(body["overdue"]) == min(overdue, 500)
    assert all(r["hours_overdue"] > 0 for r in body["overdue"])
    districts = {r["key"] for r in body["time_to_resolve"]["district"]}
    assert "Yunusobod" in districts


def test_hexagons(client, engine) -> None:  # type: ignore[no-untyped-def]
    fc = client.get("/analytics/api/hexagons.geojson?window=90d&size=1000",
                    headers=OPERATOR).get_json()
    with engine.connect() as c:
        total = c.execute(text("SELECT count(*) FROM incident"
                               " WHERE reported_at > now() - interval '90 days'")).scalar_one()
    counted = sum(f["properties"]["count"] for f in fc["features"])
    assert total <= counted <= total + 5  # a point exactly on an edge counts in both cells
    assert fc["features"][0]["geometry"]["type"] == "Polygon"
    lon, lat = fc["features"][0]["geometry"]["coordinates"][0][0]
    assert 69.0 < lon < 69.6 and 41.1 < lat < 41.5
    assert client.get("/analytics/api/hexagons.geojson?size=7",
                      headers=OPERATOR).status_code == 400


def test_hexagon_tiles(client) -> None:  # type: ignore[no-untyped-def]
    import mapbox_vector_tile

    # z11 tile around Amir Temur square (69.2797 E, 41.3111 N)
    r = client.get("/analytics/tiles/hexagons/11/1418/765.mvt?window=all&size=500",
                   headers=OPERATOR)
    assert r.status_code == 200 and r.mimetype == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(r.data)["hexagons"]
    assert layer["features"] and all(f["properties"]["count"] >= 1 for f in layer["features"])
    assert client.get("/analytics/tiles/hexagons/3/9/0.mvt", headers=OPERATOR).status_code == 400


def test_csv_export(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/analytics/export.csv?table=counts&window=90d", headers=OPERATOR)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert rows and set(rows[0]) == {"district", "category", "n", "open"}
    r = client.get("/analytics/export.csv?table=resolve_district&window=all", headers=OPERATOR)
    assert "median_hours" in r.get_data(as_text=True).splitlines()[0]
    assert client.get("/analytics/export.csv?table=secrets", headers=OPERATOR).status_code == 400


def test_analytics_page_in_chromium(page, live_server, artifacts) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1300, "height": 1400})
    page.goto(live_server + "/login?next=/analytics%3Fwindow%3D90d&lang=en")
    if "/login" in page.url:
        page.fill("input[name=username]", "operator")
        page.fill("input[name=password]", "operator-demo-2026")
        page.click("button[type=submit]")
    page.goto(live_server + "/analytics?window=90d")
    page.wait_for_function("() => window.analytics && window.analytics.hex"
                           " && window.analytics.hex.features.length > 0", timeout=30000)
    assert page.evaluate("window.analytics.charts.length") == 3  # with the trend over time
    trend = page.evaluate("window.analytics.charts[2].data")
    assert len(trend["labels"]) > 5 and sum(trend["datasets"][0]["data"]) > 0
    assert int(page.inner_text("#hex-max")) >= 1  # the heat-map legend shows the scale
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts / "situation-analytics.png"), full_page=False)
    page.goto(live_server + "/analytics?window=90d&lang=ru")  # same page in Russian
    page.wait_for_function("() => window.analytics && window.analytics.hex", timeout=30000)
    body = page.inner_text("#analytics")
    assert "Динамика" in body and "Происшествий в шестиугольнике" in body
    assert page.evaluate("window.analytics.charts[2].data.datasets[0].label") == "Сообщено"
    page.screenshot(path=str(artifacts / "situation-analytics-ru.png"), full_page=False)
    assert page.console_errors == [] and page.external_requests == []
