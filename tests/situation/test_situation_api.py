"""Dashboard API: filters, panel, actions (with CSRF for cookie sessions), access rules."""

from __future__ import annotations

import base64

from sqlalchemy import text

OPERATOR = {"Authorization": "Basic " + base64.b64encode(b"operator:operator-demo-2026").decode()}
CITIZEN = {"Authorization": "Basic " + base64.b64encode(b"citizen:citizen-demo-2026").decode()}
POINT = {"lon": 69.2797, "lat": 41.3111}


def test_access(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/situation").status_code == 302
    for url in ("/situation/api/incidents.geojson", "/situation/api/cameras.geojson",
                "/situation/stream"):
        assert client.get(url).status_code == 401
        assert client.get(url, headers=CITIZEN).status_code == 403
    assert client.get("/situation", headers=CITIZEN).status_code == 403


def test_filters(client) -> None:  # type: ignore[no-untyped-def]
    all_ = client.get("/situation/api/incidents.geojson", headers=OPERATOR).get_json()
    assert len(all_["features"]) > 50
    water = client.get("/situation/api/incidents.geojson?category=water&status=open",
                       headers=OPERATOR).get_json()["features"]
    assert water and all(f["properties"]["category"] == "water"
                         and f["properties"]["status"] in ("new", "triaged", "dispatched",
                                                           "in_progress") for f in water)
    d = all_["features"][0]["properties"]["district_id"]
    in_d = client.get(f"/situation/api/incidents.geojson?district={d}&window=7d",
                      headers=OPERATOR).get_json()["features"]
    assert all(f["properties"]["district_id"] == d for f in in_d)
    assert len(client.get("/situation/api/incidents.geojson?window=1h",
                          headers=OPERATOR).get_json()["features"]) < len(all_["features"])
    assert client.get("/situation/api/incidents.geojson?window=3y",
                      headers=OPERATOR).status_code == 400
    assert client.get("/situation/api/incidents.geojson?status=lost",
                      headers=OPERATOR).status_code == 400
    assert "reporter" not in str(all_)
    cams = client.get("/situation/api/cameras.geojson", headers=OPERATOR).get_json()
    cam = next(f for f in cams["features"] if f["properties"]["kind"] == "camera")
    assert "stream_url" not in cam["properties"]  # operators watch through our HLS relay
    assert any(f["properties"].get("has_stream") for f in cams["features"])


def test_actions_flow(client, engine) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/situation/api/incidents", json={"category": "road", **POINT,
                                                      "title": "phone call"}, headers=OPERATOR)
    assert r.status_code == 201, r.get_data(as_text=True)
    inc = r.get_json()
    i = inc["id"]
    assert inc["district"] and inc["service"] and inc["deadline"]
    r = client.post(f"/situation/api/incidents/{i}/triage", json={"priority": 2,
                                                                 "version": inc["version"]},
                    headers=OPERATOR)
    assert r.status_code == 200 and r.get_json()["status"] == "triaged"
    stale = client.post(f"/situation/api/incidents/{i}/dispatch",
                        json={"version": inc["version"]}, headers=OPERATOR)
    assert stale.status_code == 409 and "changed meanwhile" in stale.get_json()["description"]
    assert client.post(f"/situation/api/incidents/{i}/dispatch", json={},
                       headers=OPERATOR).get_json()["status"] == "dispatched"
    bad = client.post(f"/situation/api/incidents/{i}/status", json={"status": "closed"},
                      headers=OPERATOR)
    assert bad.status_code == 409 and "cannot go from dispatched to closed" in bad.get_json()["description"]
    done = client.post(f"/situation/api/incidents/{i}/resolve", json={"note": "patched"},
                       headers=OPERATOR).get_json()
    assert done["status"] == "resolved" and done["timeline"][-1]["note"] == "patched"
    assert done["timeline"][-1]["actor"] == "operator:operator"
    panel = client.get(f"/situation/api/incidents/{i}", headers=OPERATOR).get_json()
    assert [e["kind"] for e in panel["timeline"]] == ["created", "status", "priority", "status",
                                                      "status"]
    assert isinstance(panel["cameras"], list) and "reporter_phone" not in panel
    # merge: a second report at the same point is flagged and merged into the first
    a = client.post("/situation/api/incidents", json={"category": "sewage", **POINT},
                    headers=OPERATOR).get_json()
    b = client.post("/situation/api/incidents", json={"category": "sewage", **POINT},
                    headers=OPERATOR).get_json()
    assert b["possible_duplicate_of"] == a["id"]
    m = client.post(f"/situation/api/incidents/{b['id']}/merge", json={"into": a["id"]},
                    headers=OPERATOR).get_json()
    assert m["status"] == "duplicate" and m["duplicate_of"] == a["id"]
    a_tl = client.get(f"/situation/api/incidents/{a['id']}", headers=OPERATOR).get_json()
    assert a_tl["timeline"][-1]["kind"] == "merged_in"
    assert client.post(f"/situation/api/incidents/{i}/fly", json={},
                       headers=OPERATOR).status_code == 404
    assert client.post(f"/situation/api/incidents/{i}/triage", json={},
                       headers=CITIZEN).status_code == 403


def test_cookie_session_needs_csrf(client, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        i = c.execute(text("SELECT id FROM incident WHERE status = 'new' ORDER BY id LIMIT 1")
                      ).scalar_one()
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    r = client.post("/login", data={"username": "operator", "password": "operator-demo-2026",
                                    "csrf_token": token})
    assert r.status_code == 302
    assert client.post(f"/situation/api/incidents/{i}/triage", json={}).status_code == 400
    html = client.get("/situation").get_data(as_text=True)
    csrf = html.split('name="csrf-token" content="')[1].split('"')[0]
    r = client.post(f"/situation/api/incidents/{i}/triage", json={},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.get_json()["status"] == "triaged"
