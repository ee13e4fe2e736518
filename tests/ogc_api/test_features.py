"""Our PostGIS provider through the /ogc API, checked against the session demo database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pyproj import Transformer
from sqlalchemy import text

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
BBOX = (69.30, 41.19, 69.36, 41.23)  # around Bektemir, where the small demo city is dense


def local(href: str) -> str:
    """Path + query of an absolute link (the test client serves the app at /)."""
    return href.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def items(client: Any, coll: str, **params: Any) -> dict:
    """GET items as JSON, asserting 200."""
    r = client.get(f"/ogc/collections/{coll}/items", query_string=params)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def bbox_32642(bbox: tuple[float, float, float, float]) -> tuple[float, ...]:
    """The CRS84 bbox corners in the storage CRS, the way pygeoapi transforms them."""
    t = Transformer.from_crs("OGC:CRS84", "EPSG:32642", always_xy=True)
    x1, y1 = t.transform(bbox[0], bbox[1])
    x2, y2 = t.transform(bbox[2], bbox[3])
    return (x1, y1, x2, y2)


def test_collections_listed(client: Any) -> None:
    r = client.get("/ogc/collections?f=json")
    assert r.status_code == 200
    ids = {c["id"] for c in r.get_json()["collections"]}
    assert {"parcels", "buildings", "districts", "incidents", "cameras"} <= ids


def test_paging_bbox_returns_each_feature_once(client: Any, db: Any) -> None:
    expected = set(db.execute(text(
        "SELECT id FROM parcel WHERE status = 'active' AND ST_Intersects(geom,"
        " ST_Transform(ST_MakeEnvelope(:a, :b, :c, :d, 4326), 32642))"),
        dict(zip("abcd", BBOX, strict=True))).scalars())
    assert len(expected) > 250
    seen: list[int] = []
    page = items(client, "parcels", bbox=",".join(map(str, BBOX)), limit=97)
    pages = 1
    while True:
        seen += [f["id"] for f in page["features"]]
        assert page["numberReturned"] == len(page["features"])
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        assert "cursor=" in nxt[0] and "offset=" not in nxt[0]
        r = client.get(local(nxt[0]))
        assert r.status_code == 200
        page = r.get_json()
        pages += 1
    assert pages == -(-len(expected) // 97)
    assert len(seen) == len(set(seen))
    assert set(seen) == expected


def test_full_last_page_has_no_next_link(client: Any, db: Any) -> None:
    n = db.execute(text("SELECT count(*) FROM district")).scalar()
    page = items(client, "districts", limit=n)
    assert page["numberReturned"] == n
    assert not [link for link in page["links"] if link["rel"] == "next"]


def test_number_matched_when_asked(client: Any, db: Any) -> None:
    total = db.execute(text("SELECT count(*) FROM parcel WHERE status = 'active'")).scalar()
    page = items(client, "parcels", limit=5)
    assert "numberMatched" not in page
    page = items(client, "parcels", limit=5, numberMatched="true")
    assert page["numberMatched"] == total
    hits = items(client, "parcels", resulttype="hits")
    assert hits["numberMatched"] == total and hits["features"] == []


@pytest.mark.parametrize("crs,target", [
    (None, "OGC:CRS84"), (CRS84, "OGC:CRS84"), (EPSG + "4326", "EPSG:4326"),
    (EPSG + "3857", "EPSG:3857"), (EPSG + "32642", "EPSG:32642"),
    (EPSG + "28412", "EPSG:28412")])
def test_crs_output_matches_pyproj(client: Any, db: Any, crs: str | None, target: str) -> None:
    pid, wkt = db.execute(text("SELECT id, ST_AsText(geom) FROM parcel WHERE status = 'active'"
                               " ORDER BY id LIMIT 1")).one()
    import shapely

    ring = list(shapely.from_wkt(wkt).geoms[0].exterior.coords)
    # authority axis order: EPSG:4326 lat/lon, EPSG:28412 northing/easting (OGC API Part 2)
    t = Transformer.from_crs("EPSG:32642", target)
    expected = [t.transform(x, y) for x, y in ring]
    query = {"crs": crs} if crs else {}
    r = client.get(f"/ogc/collections/parcels/items/{pid}", query_string=query)
    assert r.status_code == 200
    assert r.headers["Content-Crs"] == f"<{crs or CRS84}>"
    got = r.get_json()["geometry"]["coordinates"][0][0]
    tol = 1e-6 if target in ("OGC:CRS84", "EPSG:4326") else 0.01
    assert len(got) == len(expected)
    for (ga, gb), (ea, eb) in zip(got, expected, strict=True):
        assert abs(ga - ea) < tol and abs(gb - eb) < tol


def test_bbox_crs(client: Any) -> None:
    x1, y1, x2, y2 = bbox_32642(BBOX)
    a = items(client, "parcels", bbox=",".join(map(str, BBOX)), limit=2000, skipGeometry="true")
    b = items(client, "parcels", bbox=f"{x1},{y1},{x2},{y2}", limit=2000, skipGeometry="true",
              **{"bbox-crs": EPSG + "32642"})
    assert {f["id"] for f in a["features"]} == {f["id"] for f in b["features"]}


def test_bbox_crs_sk42_northing_first(client: Any) -> None:
    """Part 2: a bbox in EPSG:28412 is given in its axis order (northing, easting)."""
    t = Transformer.from_crs("OGC:CRS84", "EPSG:28412")  # authority order: northing first
    n1, e1 = t.transform(BBOX[0], BBOX[1])
    n2, e2 = t.transform(BBOX[2], BBOX[3])
    a = items(client, "parcels", bbox=",".join(map(str, BBOX)), limit=2000, skipGeometry="true")
    b = items(client, "parcels", bbox=f"{n1},{e1},{n2},{e2}", limit=2000, skipGeometry="true",
              **{"bbox-crs": EPSG + "28412"})
    ids_a = {f["id"] for f in a["features"]}
    ids_b = {f["id"] for f in b["features"]}
    assert len(ids_a) > 250
    # the two grids share their central meridian (69°E): the boxes nearly coincide
    assert len(ids_a & ids_b) >= 0.97 * max(len(ids_a), len(ids_b))


def test_cql2_text_and_json(client: Any, db: Any) -> None:
    expected = set(db.execute(text(
        "SELECT id FROM parcel WHERE status = 'active' AND land_category = 'agricultural'"
        " AND area_m2 > 1000")).scalars())
    assert expected
    got = items(client, "parcels", limit=10000, skipGeometry="true",
                filter="land_category = 'agricultural' AND area_m2 > 1000")
    assert {f["id"] for f in got["features"]} == expected
    body = {"op": "and", "args": [
        {"op": "=", "args": [{"property": "land_category"}, "agricultural"]},
        {"op": ">", "args": [{"property": "area_m2"}, 1000]}]}
    r = client.post("/ogc/collections/parcels/items?limit=10000&skipGeometry=true",
                    data=json.dumps(body), content_type="application/query-cql-json")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert {f["id"] for f in r.get_json()["features"]} == expected


def test_cql2_spatial_intersects(client: Any, db: Any) -> None:
    pid, lon, lat = db.execute(text(
        "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_Transform(ST_PointOnSurface(geom), 4326)"
        " AS p FROM parcel WHERE status = 'active' ORDER BY id LIMIT 1) s")).one()
    got = items(client, "parcels", filter=f"S_INTERSECTS(geometry, POINT({lon} {lat}))")
    assert [f["id"] for f in got["features"]] == [pid]
    x1, y1, x2, y2 = bbox_32642(BBOX)
    expected = set(db.execute(text(
        "SELECT id FROM building WHERE status = 'active' AND ST_Intersects(geom,"
        " ST_Transform(ST_MakeEnvelope(:a, :b, :c, :d, 4326), 32642))"),
        dict(zip("abcd", BBOX, strict=True))).scalars())
    got = items(client, "buildings", limit=10000, skipGeometry="true",
                filter="S_INTERSECTS(geometry, BBOX({},{},{},{}))".format(*BBOX))
    assert {f["id"] for f in got["features"]} == expected
    poly = "POLYGON(({0} {1}, {2} {1}, {2} {3}, {0} {3}, {0} {1}))".format(*BBOX)
    got = items(client, "buildings", limit=10000, skipGeometry="true",
                filter=f"S_INTERSECTS(geometry, {poly}) AND floors >= 1")
    assert {f["id"] for f in got["features"]} == expected


def test_sortby_and_properties(client: Any, db: Any) -> None:
    top = db.execute(text("SELECT area_m2 FROM parcel WHERE status = 'active'"
                          " ORDER BY area_m2 DESC LIMIT 5")).scalars().all()
    got = items(client, "parcels", limit=5, sortby="-area_m2",
                properties="cadastral_number,area_m2")
    assert [f["properties"]["area_m2"] for f in got["features"]] == [float(a) for a in top]
    assert all(set(f["properties"]) == {"cadastral_number", "area_m2"} for f in got["features"])
    asc = items(client, "parcels", limit=5, sortby="+area_m2", skipGeometry="true")
    areas = [f["properties"]["area_m2"] for f in asc["features"]]
    assert areas == sorted(areas) and all(f["geometry"] is None for f in asc["features"])


def test_property_equality_parameter(client: Any, db: Any) -> None:
    n = db.execute(text("SELECT count(*) FROM parcel WHERE status = 'active'"
                        " AND permitted_use = 'commercial'")).scalar()
    got = items(client, "parcels", permitted_use="commercial", limit=10000, skipGeometry="true")
    assert got["numberReturned"] == n
    assert {f["properties"]["permitted_use"] for f in got["features"]} == {"commercial"}


def test_datetime_as_of_reads_history(client: Any, db: Any) -> None:
    pid, value, vfrom, vto, version = db.execute(text(
        "SELECT h.id, h.cadastral_value, h.valid_from, h.valid_to, h.version"
        " FROM parcel_history h JOIN parcel p ON p.id = h.id AND p.status = 'active'"
        " WHERE h.valid_to > h.valid_from AND h.cadastral_value IS DISTINCT FROM p.cadastral_value"
        " ORDER BY h.id LIMIT 1")).one()
    current = db.execute(text("SELECT cadastral_value, version FROM parcel WHERE id = :i"),
                         {"i": pid}).one()
    when = (vfrom + (vto - vfrom) / 2).isoformat()
    got = items(client, "parcels", datetime=when, filter=f"id = {pid}")
    assert len(got["features"]) == 1
    props = got["features"][0]["properties"]
    assert props["version"] == version and props["cadastral_value"] == float(value)
    now = items(client, "parcels", filter=f"id = {pid}")["features"][0]["properties"]
    assert now["version"] == current[1] and now["cadastral_value"] == float(current[0])


def test_datetime_as_of_shows_retired_parent(client: Any, db: Any) -> None:
    row = db.execute(text(
        "SELECT id, valid_from, valid_to FROM parcel WHERE status = 'retired'"
        " AND valid_to > valid_from ORDER BY id LIMIT 1")).first()
    if row is None:
        pytest.skip("demo city has no retired parcels")
    pid, vfrom, vto = row
    when = (vfrom + (vto - vfrom) / 2).isoformat()
    assert [f["id"] for f in items(client, "parcels", datetime=when,
                                   filter=f"id = {pid}")["features"]] == [pid]
    assert items(client, "parcels", filter=f"id = {pid}")["features"] == []


def test_item_by_id_and_by_cadastral_number(client: Any, db: Any) -> None:
    pid, number, version = db.execute(text(
        "SELECT id, cadastral_number, version FROM parcel WHERE status = 'active'"
        " ORDER BY id DESC LIMIT 1")).one()
    a = client.get(f"/ogc/collections/parcels/items/{pid}")
    b = client.get(f"/ogc/collections/parcels/items/{number}")
    assert a.status_code == b.status_code == 200
    assert a.get_json()["id"] == b.get_json()["id"] == pid
    assert a.headers["ETag"] == f'"parcels-{pid}-v{version}"'
    assert client.get(f"/ogc/collections/parcels/items/{pid}",
                      headers={"If-None-Match": a.headers["ETag"]}).status_code == 304
    bid, bnumber = db.execute(text("SELECT id, cadastral_number FROM building"
                                   " WHERE status = 'active' LIMIT 1")).one()
    r = client.get(f"/ogc/collections/buildings/items/{bnumber}")
    assert r.status_code == 200 and r.get_json()["id"] == bid


def test_queryables_are_public_fields(client: Any) -> None:
    r = client.get("/ogc/collections/parcels/queryables?f=json")
    assert r.status_code == 200
    props = r.get_json()["properties"]
    assert {"cadastral_number", "land_category", "area_m2", "geometry"} <= set(props)
    assert not {"owner", "party_id", "pinfl", "updated_by"} & set(props)
    cams = client.get("/ogc/collections/cameras/queryables?f=json").get_json()["properties"]
    assert set(cams) == {"geometry", "id", "status"}


def test_incidents_only_public(client: Any, db: Any) -> None:
    expected = set(db.execute(text(
        "SELECT i.id FROM incident i JOIN incident_category c ON c.code = i.category"
        " WHERE i.visibility = 'public' AND c.public")).scalars())
    hidden = db.execute(text(
        "SELECT count(*) FROM incident i JOIN incident_category c ON c.code = i.category"
        " WHERE i.visibility <> 'public' OR NOT c.public")).scalar()
    got = items(client, "incidents", limit=10000)
    assert {f["id"] for f in got["features"]} == expected
    assert hidden > 0 or pytest.skip("demo city has no internal incidents")
    assert set(got["features"][0]["properties"]) == {
        "id", "category", "status", "priority", "district_id", "reported_at", "deadline",
        "resolved_at", "closed_at", "overdue"}


def test_openapi_validates(client: Any) -> None:
    from openapi_spec_validator import validate

    r = client.get("/ogc/openapi?f=json")
    assert r.status_code == 200
    doc = r.get_json()
    validate(doc)
    assert "http" not in json.dumps([v for k, v in _refs(doc)])  # self-contained
    comp = doc["components"]
    assert set(comp["securitySchemes"]) == {"bearerAuth", "basicAuth"}
    items_get = doc["paths"]["/collections/parcels/items"]["get"]
    names = {comp["parameters"][p["$ref"].rsplit("/", 1)[1]]["name"] if "$ref" in p
             else p["name"] for p in items_get["parameters"]}
    assert {"bbox", "bbox-crs", "crs", "datetime", "limit", "cursor", "filter", "filter-lang",
            "filter-crs", "properties", "sortby", "f", "cadastral_number"} <= names
    assert "owner" not in names
    item = doc["paths"]["/collections/parcels/items/{featureId}"]
    for method in ("put", "patch", "delete"):
        op = item[method]
        assert op["security"] and "#/components/parameters/If-Match" in json.dumps(op)
        assert {"401", "403", "412", "428"} <= set(op["responses"])
    # 4xx responses carry the exception body our error adapter writes
    assert comp["responses"]["Error412"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/exception"}
    assert "patch" not in doc["paths"]["/collections/districts/items/{featureId}"]
    assert "application/geo+json" in items_get["responses"]["200"]["content"]


def _refs(node: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append((k, v))
            else:
                out += _refs(v)
    elif isinstance(node, list):
        for v in node:
            out += _refs(v)
    return out


def test_error_bodies_match_the_exception_schema(client: Any) -> None:
    for url, status in [("/ogc/collections/parcels/items?bbox=1,2", 400),
                        ("/ogc/collections/parcels/items/99999999", 404),
                        ("/ogc/collections/nope/items", 404)]:
        r = client.get(url)
        assert r.status_code == status
        body = r.get_json()
        assert isinstance(body["code"], str) and isinstance(body["description"], str)
    r = client.post("/ogc/collections/parcels/items/1")
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["Allow"].split(",")} >= {"GET", "PUT", "PATCH"}


@pytest.mark.parametrize("fmt,ctype", [("csv", "text/csv"), ("html", "text/html"),
                                       ("json", "application/geo+json")])
def test_items_in_every_format(client: Any, db: Any, fmt: str, ctype: str) -> None:
    pid, number = db.execute(text("SELECT id, cadastral_number FROM parcel"
                                  " WHERE status = 'active' ORDER BY id LIMIT 1")).one()
    r = client.get("/ogc/collections/parcels/items", query_string={"f": fmt, "limit": 3})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(ctype)
    assert number in r.get_data(as_text=True)
    assert fmt != "html" or f"/parcels/items/{pid}" in r.get_data(as_text=True)
