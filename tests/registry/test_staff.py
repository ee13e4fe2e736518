"""Staff pages: search, parcel timeline and lineage, operations with preview and CSRF."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cadastre_gis.demo import DEMO_PASSWORDS

from .helpers import FAR_X, free_y_of, make_parcel, make_party, rect


def login(client, user: str = "registrar") -> str:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post("/login", data={"username": user, "password": DEMO_PASSWORDS[user],
                                    "csrf_token": token})
    assert r.status_code == 302
    page = client.get("/staff/")
    return re.search(r'name="csrf_token" value="([^"]+)"',
                     client.get("/login").get_data(as_text=True)).group(1)


@pytest.fixture()
def fresh(engine: Engine) -> str:
    """A committed parcel in district 09 with one owner."""
    with engine.connect() as c:  # a quarter no parcel of the session has used, retired ones included
        while True:
            q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:55"
            if c.execute(text("SELECT 1 FROM parcel WHERE cadastral_number LIKE :q"),
                         {"q": q + ":%"}).first() is None:
                break
    y = free_y_of(engine)
    with engine.begin() as c:
        party = make_party(c, f"3{uuid.uuid4().int % 10**13:013d}")
        make_parcel(c, f"{q}:0001", rect(FAR_X, y, 40, 20), [(party, 1, 1)])
    return f"{q}:0001"


def test_staff_needs_staff_role(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/staff/", headers={"Accept": "application/json"}).status_code == 401
    login(client, "citizen")
    assert client.get("/staff/", headers={"Accept": "application/json"}).status_code == 403


def test_search_parcel_page_and_lineage(client, engine) -> None:  # type: ignore[no-untyped-def]
    login(client)
    with engine.connect() as c:
        child = c.execute(text(
            "SELECT p.cadastral_number FROM parcel_lineage l JOIN parcel p ON p.id = l.child_id"
            " WHERE l.kind = 'split' AND p.status = 'active' ORDER BY l.id LIMIT 1")).scalar()
    prefix = child.rsplit(":", 1)[0]
    r = client.get(f"/staff/?q={prefix}")
    assert r.status_code == 200 and child in r.get_data(as_text=True)
    page = client.get(f"/staff/parcels/{child}").get_data(as_text=True)
    assert 'id="timeline"' in page and "split ←" in page
    lin = client.get(f"/staff/api/parcels/{child}/lineage").get_json()
    assert lin["ancestors"][0]["kind"] == "split"
    parent = lin["ancestors"][0]["cadastral_number"]
    down = client.get(f"/staff/api/parcels/{parent}/lineage").get_json()["descendants"]
    assert child in {d["cadastral_number"] for d in down}
    assert client.get("/staff/api/parcels/10:9:1/lineage").status_code == 400


def test_preview_then_confirm_split(client, fresh, engine) -> None:  # type: ignore[no-untyped-def]
    token = login(client)
    with engine.connect() as c:
        lon0, lat0, lon1, lat1 = c.execute(text(
            "SELECT ST_X(a), ST_Y(a), ST_X(b), ST_Y(b) FROM (SELECT"
            " ST_Transform(ST_Translate(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1), 10, -5), 4326) a,"
            " ST_Transform(ST_Translate(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1), 10, 25), 4326) b"
            " FROM parcel WHERE cadastral_number = :n AND status = 'active') s"), {"n": fresh}).one()
    form = {"cut_line": json.dumps({"type": "LineString", "coordinates": [[lon0, lat0], [lon1, lat1]]}),
            "doc_number": "Q-77", "doc_kind": "hokim_decision", "csrf_token": token}
    r = client.post(f"/staff/api/preview/{fresh}/split", data=form,
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["result"]["dry_run"] is True
    assert len([f for f in body["geojson"]["features"] if f["properties"]["role"] == "result"]) == 2
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM parcel WHERE cadastral_number = :n"),
                         {"n": fresh}).scalar() == "active"
    # confirming without the CSRF token is refused
    bad = {k: v for k, v in form.items() if k != "csrf_token"}
    assert client.post(f"/staff/parcels/{fresh}/split", data=bad).status_code == 400
    r = client.post(f"/staff/parcels/{fresh}/split", data=form)
    assert r.status_code == 302
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM parcel WHERE cadastral_number = :n"),
                         {"n": fresh}).scalar() == "retired"
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "split into" in page


def test_operation_error_shown(client, fresh) -> None:  # type: ignore[no-untyped-def]
    token = login(client)
    r = client.post(f"/staff/parcels/{fresh}/transfer", data={
        "recipients": "31201901230129 1/2 Yarim Ega", "doc_number": "S-1", "csrf_token": token})
    assert r.status_code == 409
    assert "not 1" in r.get_data(as_text=True)
