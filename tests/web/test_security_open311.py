"""Open311 to the letter and safe: XML and JSON, jurisdiction, geocoding, limits, redaction,
moderation, per-key and per-address rate limits, one service_notice for POST and GET."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import text

from cadastre_gis import accounts, moderation
from cadastre_gis.redaction import redact

INSIDE = {"lat": "41.3111", "long": "69.2797"}
URL = "/open311/v2/requests"


@pytest.fixture(scope="module")
def api_key(settings) -> str:  # type: ignore[no-untyped-def]
    return accounts.create_token(settings, "citizen", label="open311-security")


def _post(client, api_key, fmt="json", addr=None, **data):  # type: ignore[no-untyped-def]
    env = {"REMOTE_ADDR": addr or f"10.31.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"}
    return client.post(f"{URL}.{fmt}", data={"api_key": api_key, **data}, environ_base=env)


def test_xml_for_every_method(client, api_key) -> None:  # type: ignore[no-untyped-def]
    root = ET.fromstring(client.get("/open311/v2/services.xml").data)
    assert root.tag == "services" and root.find("service/service_code") is not None
    r = client.get("/open311/v2/services/water.xml")
    assert r.mimetype == "text/xml"
    d = ET.fromstring(r.data)
    assert d.tag == "service_definition" and d.findtext("service_code") == "water"
    r = _post(client, api_key, "xml", service_code="water", description="Leak", **INSIDE)
    assert r.status_code == 201, r.data
    post = ET.fromstring(r.data)
    assert post.tag == "service_requests"
    rid = post.findtext("request/service_request_id")
    assert rid and post.findtext("request/service_notice").startswith("due by")
    one = ET.fromstring(client.get(f"/open311/v2/requests/{rid}.xml").data)
    assert one.findtext("request/service_request_id") == rid
    many = ET.fromstring(client.get("/open311/v2/requests.xml?service_code=water").data)
    assert rid in [e.text for e in many.iter("service_request_id")]
    disc = ET.fromstring(client.get("/open311/v2/discovery.xml").data)
    assert disc.tag == "discovery" and disc.find("endpoints/endpoint/url") is not None
    err = client.get("/open311/v2/services/unicorn.xml")
    assert err.status_code == 404
    e = ET.fromstring(err.data)
    assert e.tag == "errors" and e.findtext("error/code") == "404"
    assert client.get("/open311/v2/services.csv").status_code == 404


def test_jurisdiction(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/open311/v2/services.json?jurisdiction_id=tashkent.uz").status_code == 200
    r = client.get("/open311/v2/services.json?jurisdiction_id=springfield.gov")
    assert r.status_code == 404 and "jurisdiction_id" in r.get_json()[0]["description"]
    assert client.get("/open311/v2/requests.xml?jurisdiction_id=x").status_code == 404


def test_address_string_is_geocoded(client, api_key, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        number, address, x, y = c.execute(text(
            "SELECT cadastral_number, address, ST_X(p), ST_Y(p) FROM (SELECT cadastral_number,"
            " address, ST_Transform(ST_PointOnSurface(geom), 4326) p FROM parcel"
            " WHERE status = 'active' AND address IS NOT NULL ORDER BY id LIMIT 1) s")).one()
    r = _post(client, api_key, service_code="road", description="pothole",
              address_string=address)
    assert r.status_code == 201, r.data
    rid = r.get_json()[0]["service_request_id"]
    got = client.get(f"/open311/v2/requests/{rid}.json").get_json()[0]
    assert abs(got["lat"] - y) < 0.01 and abs(got["long"] - x) < 0.01
    r = _post(client, api_key, service_code="road", address_id=number)
    assert r.status_code == 201
    r = _post(client, api_key, service_code="road", address_string="Qqqqzzzz xxxyyy 999")
    assert r.status_code == 400 and "lat and long" in r.get_json()[0]["description"]


def test_field_limits_and_hostile_values(client, api_key, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        before = c.execute(text("SELECT count(*) FROM incident")).scalar()
    cases = [{"address_string": "x" * 501}, {"first_name": "a" * 101}, {"email": "a" * 300},
             {"email": "not-an-email"}, {"phone": "call me maybe"}, {"description": "x" * 4001},
             {"description": "bad\x00byte"}, {"lat": "nan", "long": "69.2"},
             {"lat": "1e400", "long": "69.2"}, {"lat": "41.3", "long": "inf"},
             {"service_code": "w" * 100}]
    for extra in cases:
        data = {"service_code": "water", **INSIDE, **extra}
        r = _post(client, api_key, **data)
        assert r.status_code == 400, (extra, r.data)
        assert len(r.data) < 300
    r = _post(client, api_key, service_code="water", description="x" * (2 * 1024 * 1024), **INSIDE)
    assert r.status_code == 413
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM incident")).scalar() == before


def test_personal_data_redacted_and_moderation(client, api_key, engine, settings) -> None:  # type: ignore[no-untyped-def]
    desc = ("Pipe burst. Call me +998 90 123-45-67 or 901234567, PINFL 31234567890123,"
            " INN 301234567, mail aziza.k@example.uz")
    r = _post(client, api_key, service_code="water", description=desc, **INSIDE)
    rid = r.get_json()[0]["service_request_id"]
    pub = client.get(f"/open311/v2/requests/{rid}.json").get_json()[0]["description"]
    assert pub.startswith("Pipe burst.")
    for secret in ("123-45-67", "901234567", "31234567890123", "301234567", "aziza.k"):
        assert secret not in pub
    listed = client.get(f"/open311/v2/requests.xml?service_request_id={rid}").get_data(as_text=True)
    assert "31234567890123" not in listed and "Pipe burst." in listed
    with engine.connect() as c:  # the operator keeps the original
        assert c.execute(text("SELECT description FROM incident WHERE id = :i"),
                         {"i": int(rid)}).scalar() == desc
    # Moderation: edit the public text, then hide; both paths (Open311, OGC view) follow.
    with engine.begin() as c:
        moderation.edit_public_text(c, int(rid), "A water pipe burst.", "operator:test")
    assert client.get(f"/open311/v2/requests/{rid}.json").get_json()[0]["description"] == \
        "A water pipe burst."
    with engine.begin() as c:
        moderation.hide(c, int(rid), "operator:test")
        assert c.execute(text("SELECT count(*) FROM ogc_public_incident WHERE id = :i"),
                         {"i": int(rid)}).scalar() == 0
    assert client.get(f"/open311/v2/requests/{rid}.json").status_code == 404
    with engine.begin() as c:
        moderation.show(c, int(rid), "operator:test")
        assert c.execute(text("SELECT public_description FROM incident WHERE id = :i"),
                         {"i": int(rid)}).scalar() == redact(desc)


def test_moderation_endpoint_needs_operator(client, api_key, settings) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, api_key, service_code="water", description="x", **INSIDE)
    rid = r.get_json()[0]["service_request_id"]
    assert client.post(f"/moderation/incidents/{rid}", json={"action": "hide"}).status_code == 401
    citizen = accounts.create_token(settings, "citizen", label="mod")
    assert client.post(f"/moderation/incidents/{rid}", json={"action": "hide"}, headers={
        "Authorization": "Bearer " + citizen}).status_code == 403
    op = accounts.create_token(settings, "operator", label="mod")
    r = client.post(f"/moderation/incidents/{rid}", json={"action": "hide"},
                    headers={"Authorization": "Bearer " + op})
    assert r.status_code == 200 and r.get_json()["moderation_status"] == "hidden"
    r = client.post(f"/moderation/incidents/{rid}", json={"action": "explode"},
                    headers={"Authorization": "Bearer " + op})
    assert r.status_code == 400


def test_sql_and_python_redaction_agree(engine) -> None:  # type: ignore[no-untyped-def]
    corpus = ["+998 (90) 123-45-67", "tel 90 123 45 67.", "998901234567", "31234567890123",
              "301234567", "a.b+c@mail.example.uz", "parcel 10:09:03:01:01:0045",
              "2026-11-29 at 10:30", "building 12, flat 45", "123456789012345",
              "Oʻzbekiston 90.123.45.67", "no personal data here", ""]
    with engine.connect() as c:
        for t in corpus:
            assert c.execute(text("SELECT cadastre_redact(:t)"), {"t": t}).scalar() == redact(t), t
    assert redact("parcel 10:09:03:01:01:0045") == "parcel 10:09:03:01:01:0045"
    assert redact("123456789012345") == "123456789012345"  # 15 digits: neither PINFL nor INN


def test_service_notice_same_on_post_and_get(client, api_key) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, api_key, service_code="waste", description="bins", **INSIDE)
    posted = r.get_json()[0]
    got = client.get(f"/open311/v2/requests/{posted['service_request_id']}.json").get_json()[0]
    assert posted["service_notice"] and posted["service_notice"] == got["service_notice"]


def test_rate_limit_per_address(settings) -> None:  # type: ignore[no-untyped-def]
    from web import create_app

    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    app = create_app(replace(settings, open311_rate=1), TESTING=True)
    c = app.test_client()
    keys = [accounts.create_token(settings, "citizen", label=f"addr-{i}") for i in range(7)]
    addr = "10.77.0.1"
    codes = [_post(c, k, addr=addr, service_code="road", **INSIDE).status_code for k in keys]
    assert codes[:5] == [201] * 5 and codes[5:] == [429, 429]
    fresh = accounts.create_token(settings, "citizen", label="addr-fresh")
    assert _post(c, fresh, addr="10.77.0.2", service_code="road", **INSIDE).status_code == 201
