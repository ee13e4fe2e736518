"""OGC API Features Part 4 on parcels, buildings and incidents: auth, ETag/If-Match, CRS, rules."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cadastre_gis import accounts

from .helpers import FAR_X, free_y_of, make_parcel, rect

REGISTRAR = {"Authorization": "Basic " + base64.b64encode(b"registrar:registrar-demo-2026").decode()}
CITIZEN = {"Authorization": "Basic " + base64.b64encode(b"citizen:citizen-demo-2026").decode()}
GEOJSON = "application/geo+json"
UTM = "<http://www.opengis.net/def/crs/EPSG/0/32642>"


def square(x: float, y: float, s: float = 20.0) -> dict:
    """GeoJSON Polygon in EPSG:32642."""
    return {"type": "Polygon", "coordinates": [[[x, y], [x + s, y], [x + s, y + s], [x, y + s],
                                                [x, y]]]}


@pytest.fixture()
def parcel(engine: Engine) -> dict:
    """A committed active parcel in district 09 and a free spot next to it."""
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:44"
    y = free_y_of(engine)
    with engine.begin() as c:
        pid = make_parcel(c, f"{q}:0001", rect(FAR_X, y))
    return {"id": pid, "number": f"{q}:0001", "q": q, "x": FAR_X, "y": y}


def test_options_allow(client) -> None:  # type: ignore[no-untyped-def]
    r = client.open("/ogc/collections/parcels/items", method="OPTIONS", headers=REGISTRAR)
    assert "POST" in r.headers["Allow"]
    r = client.open("/ogc/collections/parcels/items/1", method="OPTIONS", headers=REGISTRAR)
    allow = [m.strip() for m in r.headers["Allow"].split(",")]
    assert {"GET", "PUT", "PATCH", "DELETE"} <= set(allow)
    r = client.open("/ogc/collections/districts/items", method="OPTIONS", headers=REGISTRAR)
    assert "POST" not in r.headers["Allow"]
    # callers who may not write are not offered editing
    for headers in ({}, CITIZEN):
        r = client.open("/ogc/collections/parcels/items/1", method="OPTIONS", headers=headers)
        assert r.headers["Allow"] == "HEAD, GET, OPTIONS"


def test_writes_need_the_right_role(client, parcel) -> None:  # type: ignore[no-untyped-def]
    url = f"/ogc/collections/parcels/items/{parcel['id']}"
    body = json.dumps({"type": "Feature", "properties": {"address": "x"}})
    assert client.patch(url, data=body, content_type=GEOJSON).status_code == 401
    assert client.patch(url, data=body, content_type=GEOJSON, headers=CITIZEN).status_code == 403
    assert client.delete(url, headers=CITIZEN).status_code == 403
    assert client.post("/ogc/collections/districts/items", data=body, content_type=GEOJSON,
                       headers=REGISTRAR).status_code == 403


def test_if_match_and_unconditional(client, parcel, engine) -> None:  # type: ignore[no-untyped-def]
    url = f"/ogc/collections/parcels/items/{parcel['id']}"
    etag = client.get(url).headers["ETag"]
    assert etag == f'"parcels-{parcel["id"]}-v1"'
    r = client.patch(url, data=json.dumps({"type": "Feature", "properties": {"address": "A-1"}}),
                     content_type="application/merge-patch+json",
                     headers={**REGISTRAR, "If-Match": etag})
    assert r.status_code == 204, r.get_data(as_text=True)
    assert r.headers["ETag"] == f'"parcels-{parcel["id"]}-v2"'
    # the old ETag is stale now: 412 and nothing changes
    r = client.patch(url, data=json.dumps({"type": "Feature", "properties": {"address": "B"}}),
                     content_type="application/merge-patch+json",
                     headers={**REGISTRAR, "If-Match": etag})
    assert r.status_code == 412
    with engine.connect() as c:
        row = c.execute(text("SELECT address, version FROM parcel WHERE id = :i"),
                        {"i": parcel["id"]}).one()
        assert tuple(row) == ("A-1", 2)
    # without If-Match: accepted and recorded as unconditional, audited with the account
    r = client.put(url, data=json.dumps({"type": "Feature", "geometry": square(parcel["x"], parcel["y"], 21),
                                         "properties": {"address": "C", "area_m2": 1, "id": 5}}),
                   content_type=GEOJSON, headers={**REGISTRAR, "Content-Crs": UTM})
    assert r.status_code == 204, r.get_data(as_text=True)
    with engine.connect() as c:
        row = c.execute(text("SELECT p.address, p.area_m2, p.version, t.note, t.details->>'unconditional',"
                             " t.actor FROM parcel p JOIN registry_transaction t ON"
                             " t.id = p.transaction_id WHERE p.id = :i"), {"i": parcel["id"]}).one()
        assert row[0] == "C" and float(row[1]) == 441.0 and row[2] == 3
        assert "unconditional" in row[3] and row[4] == "true" and row[5] == "registrar:registrar"
        actors = c.execute(text("SELECT DISTINCT actor FROM audit_log WHERE table_name = 'parcel'"
                                " AND row_id = :i AND operation = 'U'"),
                           {"i": parcel["id"]}).scalars().all()
        assert actors == ["registrar:registrar"]


def test_if_match_required_by_setting(settings, parcel) -> None:  # type: ignore[no-untyped-def]
    from web import create_app

    app = create_app(replace(settings, require_if_match=True), TESTING=True)
    c = app.test_client()
    url = f"/ogc/collections/parcels/items/{parcel['id']}"
    body = json.dumps({"type": "Feature", "properties": {"address": "x"}})
    r = c.patch(url, data=body, content_type=GEOJSON, headers=REGISTRAR)
    assert r.status_code == 428
    etag = c.get(url).headers["ETag"]
    assert c.patch(url, data=body, content_type=GEOJSON,
                   headers={**REGISTRAR, "If-Match": etag}).status_code == 204


def test_create_with_content_crs_rules_and_delete(client, parcel, engine) -> None:  # type: ignore[no-untyped-def]
    x, y = parcel["x"] + 25, parcel["y"]
    feature = {"type": "Feature", "geometry": square(x, y),
               "properties": {"cadastral_number": f"{parcel['q']}:0002", "land_category": "settlement",
                              "permitted_use": "commercial"}}
    r = client.post("/ogc/collections/parcels/items", data=json.dumps(feature), content_type=GEOJSON,
                    headers={**REGISTRAR, "Content-Crs": UTM})
    assert r.status_code == 201, r.get_data(as_text=True)
    new_id = int(r.headers["Location"].rsplit("/", 1)[1])
    with engine.connect() as c:
        row = c.execute(text("SELECT GeometryType(geom), ST_SRID(geom), area_m2, district_id"
                             " FROM parcel WHERE id = :i"), {"i": new_id}).one()
        assert tuple(row) == ("MULTIPOLYGON", 32642, 400, 9)
    # CRS84 input (the default) lands at the same place
    with engine.connect() as c:
        ring = c.execute(text("SELECT ST_AsGeoJSON(ST_Transform(ST_GeomFromText(:w, 32642), 4326), 9)"),
                         {"w": rect(x + 30, y)}).scalar()
    feature2 = {"type": "Feature", "geometry": json.loads(ring),
                "properties": {"cadastral_number": f"{parcel['q']}:0003"}}
    r = client.post("/ogc/collections/parcels/items", data=json.dumps(feature2), content_type=GEOJSON,
                    headers=REGISTRAR)
    assert r.status_code == 201
    # EPSG:4326 means lat/lon order
    coords = json.loads(ring)["coordinates"]
    flipped = {"type": "Polygon", "coordinates": [[[b, a] for a, b in coords[0]]]}
    r = client.post("/ogc/collections/parcels/items", content_type=GEOJSON,
                    headers={**REGISTRAR, "Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4326>"},
                    data=json.dumps({"type": "Feature", "geometry": flipped,
                                     "properties": {"cadastral_number": f"{parcel['q']}:0004"}}))
    assert r.status_code == 409 and "overlaps" in r.get_json()["description"]
    # database rules come back as 4xx with their message
    bad = dict(feature, properties={"cadastral_number": "10:9:1"})
    bad["geometry"] = square(x + 100, y)
    r = client.post("/ogc/collections/parcels/items", data=json.dumps(bad), content_type=GEOJSON,
                    headers={**REGISTRAR, "Content-Crs": UTM})
    assert r.status_code == 409 and "is not in the form 10:09:03:01:01:0045" in r.get_json()["description"]
    r = client.post("/ogc/collections/parcels/items", content_type=GEOJSON,
                    headers={**REGISTRAR, "Content-Crs": UTM},
                    data=json.dumps(dict(feature, geometry={"type": "Point", "coordinates": [x, y]})))
    assert r.status_code == 400
    r = client.post("/ogc/collections/parcels/items", content_type=GEOJSON,
                    headers={**REGISTRAR, "Content-Crs": UTM},
                    data=json.dumps(dict(feature, properties={"owner_pinfl": "1"})))
    assert r.status_code == 400
    # outside the registrar's district
    r = client.post("/ogc/collections/parcels/items", content_type=GEOJSON,
                    headers={**REGISTRAR, "Content-Crs": UTM},
                    data=json.dumps({"type": "Feature", "geometry": square(x + 200, y),
                                     "properties": {"cadastral_number": "10:02:01:01:01:0001"}}))
    assert r.status_code == 403
    # delete retires (history kept); the item leaves the collection
    assert client.delete(f"/ogc/collections/parcels/items/{new_id}", headers=REGISTRAR).status_code == 200
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM parcel WHERE id = :i"), {"i": new_id}).scalar() == "retired"
    items = client.get(f"/ogc/collections/parcels/items?cadastral_number={parcel['q']}:0002").get_json()
    assert items["features"] == []


def test_concurrent_writers_same_etag(live_server, parcel, engine) -> None:  # type: ignore[no-untyped-def]
    import requests

    url = f"{live_server}/ogc/collections/parcels/items/{parcel['id']}"
    etag = requests.get(url, timeout=30).headers["ETag"]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def write(n: int) -> None:
        body = json.dumps({"type": "Feature", "properties": {"address": f"writer {n}"}})
        barrier.wait()
        r = requests.patch(url, data=body, timeout=60,
                           headers={**REGISTRAR, "If-Match": etag, "Content-Type": GEOJSON})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [204, 412]
    with engine.connect() as c:
        assert c.execute(text("SELECT version FROM parcel WHERE id = :i"), {"i": parcel["id"]}).scalar() == 2


def test_owslib_round_trip(live_server, settings, parcel, engine) -> None:  # type: ignore[no-untyped-def]
    from owslib.ogcapi.features import Features

    token = accounts.create_token(settings, "registrar", label="owslib")
    api = Features(f"{live_server}/ogc", headers={"Authorization": f"Bearer {token}"})
    with engine.connect() as c:
        ring = c.execute(text("SELECT ST_AsGeoJSON(ST_Transform(ST_GeomFromText(:w, 32642), 4326), 9)"),
                         {"w": rect(parcel["x"] + 60, parcel["y"])}).scalar()
    number = f"{parcel['q']}:0009"
    assert api.collection_item_create("parcels", {
        "type": "Feature", "geometry": json.loads(ring),
        "properties": {"cadastral_number": number, "permitted_use": "office"}})
    found = api.collection_items("parcels", cadastral_number=number)["features"]
    assert len(found) == 1
    fid = found[0]["id"]
    upd = {"type": "Feature", "geometry": json.loads(ring),
           "properties": {"cadastral_number": number, "permitted_use": "commercial"}}
    api.headers["Content-Type"] = GEOJSON
    assert api.collection_item_update("parcels", fid, json.dumps(upd))
    assert api.collection_item("parcels", fid)["properties"]["permitted_use"] == "commercial"
    assert api.collection_item_delete("parcels", fid)
    with engine.connect() as c:
        rows = c.execute(text("SELECT DISTINCT actor FROM audit_log WHERE table_name = 'parcel'"
                              " AND row_id = :i"), {"i": fid}).scalars().all()
        assert rows == ["registrar:registrar"]
        assert c.execute(text("SELECT status, version FROM parcel WHERE id = :i"),
                         {"i": fid}).one()[0] == "retired"


def test_buildings_and_incidents_writable(client, parcel, engine) -> None:  # type: ignore[no-untyped-def]
    feature = {"type": "Feature", "geometry": square(parcel["x"] + 5, parcel["y"] + 5, 5),
               "properties": {"cadastral_number": f"{parcel['number']}:0001", "parcel_id": parcel["id"],
                              "floors": 2}}
    r = client.post("/ogc/collections/buildings/items", data=json.dumps(feature), content_type=GEOJSON,
                    headers={**REGISTRAR, "Content-Crs": UTM})
    assert r.status_code == 201, r.get_data(as_text=True)
    bad = dict(feature, properties={**feature["properties"], "floors": 999})
    r = client.post("/ogc/collections/buildings/items", data=json.dumps(bad), content_type=GEOJSON,
                    headers={**REGISTRAR, "Content-Crs": UTM})
    assert r.status_code == 409
    # incidents: operators write, registrars may not
    inc = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [69.28, 41.31]},
           "properties": {"category": "road", "priority": 3, "title": "pothole"}}
    assert client.post("/ogc/collections/incidents/items", data=json.dumps(inc), content_type=GEOJSON,
                       headers=REGISTRAR).status_code == 403
    op = {"Authorization": "Basic " + base64.b64encode(b"operator:operator-demo-2026").decode()}
    r = client.post("/ogc/collections/incidents/items", data=json.dumps(inc), content_type=GEOJSON,
                    headers=op)
    assert r.status_code == 201, r.get_data(as_text=True)
    iid = int(r.headers["Location"].rsplit("/", 1)[1])
    etag = client.get(f"/ogc/collections/incidents/items/{iid}").headers["ETag"]
    r = client.patch(f"/ogc/collections/incidents/items/{iid}", content_type=GEOJSON,
                     data=json.dumps({"type": "Feature", "properties": {"status": "triaged"}}),
                     headers={**op, "If-Match": etag})
    assert r.status_code == 204, r.get_data(as_text=True)
    r = client.patch(f"/ogc/collections/incidents/items/{iid}", content_type=GEOJSON,
                     data=json.dumps({"type": "Feature", "properties": {"status": "closed"}}),
                     headers={**op, "If-Match": etag})
    assert r.status_code == 412
