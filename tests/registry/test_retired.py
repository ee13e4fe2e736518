"""Retired parcels through OGC API Features Part 4: final, linked to their successors, in the past."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC

from sqlalchemy import text
from sqlalchemy.engine import Engine

from cadastre_gis import registry

from .helpers import DOC, FAR_X, free_y_of, make_parcel, rect
from .test_staff import login as staff_login

REGISTRAR = {"Authorization": "Basic " + base64.b64encode(b"registrar:registrar-demo-2026").decode()}
GEOJSON = "application/geo+json"
UTM = "<http://www.opengis.net/def/crs/EPSG/0/32642>"


def _state(engine: Engine, ids: list[int]) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT id, version, status, valid_to, md5(ST_AsEWKB(geom)::text) FROM parcel"
            " WHERE id = ANY(:i) ORDER BY id"), {"i": ids})]


def test_split_parent_refuses_writes_naming_successors(client, engine) -> None:  # type: ignore[no-untyped-def]
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:88"
    y = free_y_of(engine)
    with engine.begin() as c:
        pid = make_parcel(c, f"{q}:0001", rect(FAR_X, y, 40, 20))
        res = registry.split_parcel(c, f"{q}:0001", srid=32642, document=DOC,
                                    cut_line=f"LINESTRING({FAR_X + 20} {y - 5}, {FAR_X + 20} {y + 25})")
    kids = [p["cadastral_number"] for p in res.parcels]
    before = _state(engine, [pid])
    url = f"/ogc/collections/parcels/items/{pid}"
    r = client.patch(url, content_type=GEOJSON, headers=REGISTRAR,
                     data=json.dumps({"type": "Feature", "properties": {"address": "x"}}))
    assert r.status_code == 409, r.get_data(as_text=True)
    assert all(k in r.get_json()["description"] for k in kids)
    r = client.put(url, content_type=GEOJSON, headers={**REGISTRAR, "Content-Crs": UTM},
                   data=json.dumps({"type": "Feature", "geometry": json.loads(json.dumps({
                       "type": "Polygon", "coordinates": [[[FAR_X, y], [FAR_X + 5, y],
                                                           [FAR_X + 5, y + 5], [FAR_X, y + 5],
                                                           [FAR_X, y]]]})), "properties": {}}))
    assert r.status_code == 409 and kids[0] in r.get_json()["description"]
    # the database itself refuses, for every writer
    with engine.connect() as c, c.begin():
        try:
            c.execute(text("UPDATE parcel SET address = 'x' WHERE id = :i"), {"i": pid})
            raise AssertionError("a retired parcel was changed")
        except Exception as exc:  # noqa: BLE001
            assert "is retired" in str(exc) and kids[1] in str(exc)
    assert _state(engine, [pid]) == before
    # the lineage endpoint links it to its successors
    staff_login(client)
    lin = client.get(f"/staff/api/parcels/{q}:0001/lineage").get_json()
    assert lin["parcel"]["status"] == "retired"
    assert sorted(d["cadastral_number"] for d in lin["descendants"]) == sorted(kids)


def test_deleted_parcel_404_now_but_in_the_past(client, engine) -> None:  # type: ignore[no-untyped-def]
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:87"
    y = free_y_of(engine)
    with engine.begin() as c:
        pid = make_parcel(c, f"{q}:0001", rect(FAR_X, y))
        born = c.execute(text("SELECT cadastre_now()")).scalar_one()
    r = client.delete(f"/ogc/collections/parcels/items/{pid}", headers=REGISTRAR)
    assert r.status_code in (200, 204), r.get_data(as_text=True)
    assert client.get(f"/ogc/collections/parcels/items/{pid}").status_code == 404
    r = client.patch(f"/ogc/collections/parcels/items/{pid}", content_type=GEOJSON,
                     headers=REGISTRAR, data=json.dumps({"type": "Feature",
                                                         "properties": {"address": "x"}}))
    assert r.status_code == 409 and "is retired" in r.get_json()["description"]
    at = born.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    items = client.get(f"/ogc/collections/parcels/items?datetime={at}"
                       f"&cadastral_number={q}:0001").get_json()
    assert [f["id"] for f in items["features"]] == [pid], items
    now = client.get(f"/ogc/collections/parcels/items?cadastral_number={q}:0001").get_json()
    assert now["features"] == []
