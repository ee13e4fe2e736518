"""Open311 GeoReport v2: response shapes, API keys, validation, rate limit, privacy."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from sqlalchemy import text

from cadastre_gis import accounts

INSIDE = {"lat": "41.3111", "long": "69.2797"}  # Amir Temur square
OUTSIDE = {"lat": "41.60", "long": "69.90"}


@pytest.fixture(scope="module")
def api_key(settings) -> str:  # type: ignore[no-untyped-def]
    return accounts.create_token(settings, "citizen", label="open311-tests")


def _error(resp, status: int) -> str:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert isinstance(body, list) and body[0]["code"] == status
    return body[0]["description"]


def test_services(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/open311/v2/services.json")
    assert r.status_code == 200
    services = r.get_json()
    codes = {s["service_code"] for s in services}
    assert {"water", "gas", "road", "waste"} <= codes
    assert "security" not in codes  # internal category
    s = services[0]
    assert set(s) >= {"service_code", "service_name", "description", "metadata", "type",
                      "keywords", "group"}
    assert s["type"] == "realtime" and s["metadata"] is False
    d = client.get("/open311/v2/services/water.json").get_json()
    assert d == {"service_code": "water", "attributes": []}
    _error(client.get("/open311/v2/services/security.json"), 404)
    assert client.get("/open311/v2/services.xml").status_code == 200  # XML: the spec default


def test_post_and_read_back(client, api_key, engine) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/open311/v2/requests.json", data={
        "api_key": api_key, "service_code": "water", **INSIDE,
        "description": "Water pipe burst near the square", "first_name": "Aziza",
        "last_name": "Karimova", "email": "aziza@example.uz", "phone": "+998 90 111-22-33",
        "address_string": "Amir Temur xiyoboni"})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert isinstance(body, list) and set(body[0]) == {"service_request_id", "service_notice",
                                                       "account_id"}
    rid = body[0]["service_request_id"]
    with engine.connect() as c:
        row = c.execute(text("SELECT source, reporter_name, reporter_email, district_id,"
                             " service_id, deadline FROM incident WHERE id = :i"),
                        {"i": int(rid)}).mappings().one()
        actor = c.execute(text("SELECT actor FROM incident_event WHERE incident_id = :i"
                               " AND kind = 'created'"), {"i": int(rid)}).scalar_one()
    assert row["source"] == "open311" and row["reporter_name"] == "Aziza Karimova"
    assert row["district_id"] and row["service_id"] and row["deadline"]
    assert actor == "open311:citizen"

    one = client.get(f"/open311/v2/requests/{rid}.json")
    assert one.status_code == 200
    req = one.get_json()[0]
    assert req["service_request_id"] == rid and req["status"] == "open"
    assert req["service_code"] == "water" and req["agency_responsible"]
    assert abs(req["lat"] - 41.3111) < 1e-6 and abs(req["long"] - 69.2797) < 1e-6
    assert req["expected_datetime"] and req["requested_datetime"]
    for resp in (one, client.get("/open311/v2/requests.json"),
                 client.get(f"/open311/v2/requests.json?service_request_id={rid}")):
        txt = resp.get_data(as_text=True)
        assert "Aziza" not in txt and "aziza@example.uz" not in txt and "111-22-33" not in txt
        assert "Fuqaro" not in txt and "+998 90" not in txt  # demo reporters neither
    listed = client.get("/open311/v2/requests.json?status=open&service_code=water").get_json()
    assert rid in {x["service_request_id"] for x in listed}
    assert all(x["status"] == "open" and x["service_code"] == "water" for x in listed)
    closed = client.get("/open311/v2/requests.json?status=closed").get_json()
    assert closed and all(x["status"] == "closed" for x in closed)


def test_internal_incidents_are_not_published(client, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as c:
        iid = c.execute(text("SELECT id FROM incident WHERE category = 'security' LIMIT 1")).scalar()
    assert iid
    _error(client.get(f"/open311/v2/requests/{iid}.json"), 404)
    listed = client.get("/open311/v2/requests.json?service_code=security").get_json()
    assert listed == []


def test_post_errors(client, api_key) -> None:  # type: ignore[no-untyped-def]
    url = "/open311/v2/requests.json"
    assert "api_key" in _error(client.post(url, data={"service_code": "water", **INSIDE}), 403)
    assert "invalid" in _error(client.post(url, data={"api_key": "cgt_nope", "service_code": "water",
                                                      **INSIDE}), 403)
    assert "service_code" in _error(client.post(url, data={"api_key": api_key, **INSIDE}), 400)
    _error(client.post(url, data={"api_key": api_key, "service_code": "unicorn", **INSIDE}), 404)
    _error(client.post(url, data={"api_key": api_key, "service_code": "security", **INSIDE}), 404)
    assert "lat and long" in _error(client.post(url, data={"api_key": api_key,
                                                           "service_code": "water"}), 400)
    _error(client.post(url, data={"api_key": api_key, "service_code": "water", "lat": "north",
                                  "long": "69.2"}), 400)
    assert "outside the city" in _error(client.post(url, data={
        "api_key": api_key, "service_code": "water", **OUTSIDE}), 400)
    _error(client.get("/open311/v2/requests.json?status=maybe"), 400)
    _error(client.get("/open311/v2/requests.json?start_date=yesterday"), 400)
    _error(client.get("/open311/v2/requests/abc.json"), 400)
    _error(client.get("/open311/v2/requests/99999999.json"), 404)


def test_rate_limit_per_key(settings) -> None:  # type: ignore[no-untyped-def]
    from web import create_app

    if time.time() % 60 > 50:  # keep the five posts inside one counter minute
        time.sleep(61 - time.time() % 60)
    app = create_app(replace(settings, open311_rate=3), TESTING=True)
    c = app.test_client()
    k1 = accounts.create_token(settings, "citizen", label="rate-1")
    k2 = accounts.create_token(settings, "citizen", label="rate-2")
    data = {"service_code": "road", **INSIDE, "description": "pothole"}
    codes = [c.post("/open311/v2/requests.json", data={"api_key": k1, **data}).status_code
             for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert "rate limit" in _error(c.post("/open311/v2/requests.json",
                                         data={"api_key": k1, **data}), 429)
    # another key has its own budget
    assert c.post("/open311/v2/requests.json", data={"api_key": k2, **data}).status_code == 201
