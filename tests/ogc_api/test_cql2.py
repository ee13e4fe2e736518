"""CQL2 (Part 3): every declared operator gives the same rows as the equivalent SQL.

Each case runs as CQL2 text (GET) and, where given, as CQL2 JSON (POST and GET), and is
compared with a query written by hand against the table.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

P = "/ogc/collections/parcels/items"
BBOX = (69.30, 41.19, 69.36, 41.23)
POLY = "POLYGON(({0} {1}, {2} {1}, {2} {3}, {0} {3}, {0} {1}))".format(*BBOX)
POLY_JSON = {"type": "Polygon", "coordinates": [[[BBOX[0], BBOX[1]], [BBOX[2], BBOX[1]],
                                                 [BBOX[2], BBOX[3]], [BBOX[0], BBOX[3]],
                                                 [BBOX[0], BBOX[1]]]]}
ENV = "ST_Transform(ST_MakeEnvelope(69.30, 41.19, 69.36, 41.23, 4326), 32642)"
ACTIVE = "status = 'active'"


def api_ids(client: Any, coll: str = "parcels", body: Any = None, **params: Any) -> set[int]:
    """Ids the API returns for a filter (all pages in one: limit 10000)."""
    params = {"limit": 10000, "skipGeometry": "true", **params}
    if body is None:
        r = client.get(f"/ogc/collections/{coll}/items", query_string=params)
    else:
        r = client.post(f"/ogc/collections/{coll}/items", query_string=params,
                        data=json.dumps(body), content_type="application/query-cql-json")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.headers["Content-Type"].startswith("application/geo+json")
    return {f["id"] for f in r.get_json()["features"]}


def sql_ids(db: Any, where: str, table: str = "parcel") -> set[int]:
    """Ids of active rows matching a hand-written condition."""
    return set(db.execute(text(f"SELECT id FROM {table} WHERE {ACTIVE} AND ({where})")).scalars())


CASES = [
    # (CQL2 text, CQL2 JSON or None, SQL)
    ("land_category IN ('agricultural', 'industrial')",
     {"op": "in", "args": [{"property": "land_category"}, ["agricultural", "industrial"]]},
     "land_category IN ('agricultural', 'industrial')"),
    ("land_category NOT IN ('settlement')",
     {"op": "not", "args": [{"op": "in", "args": [{"property": "land_category"},
                                                   ["settlement"]]}]},
     "land_category NOT IN ('settlement')"),
    ("NOT (land_category = 'settlement' OR area_m2 < 800)",
     {"op": "not", "args": [{"op": "or", "args": [
         {"op": "=", "args": [{"property": "land_category"}, "settlement"]},
         {"op": "<", "args": [{"property": "area_m2"}, 800]}]}]},
     "NOT (land_category = 'settlement' OR area_m2 < 800)"),
    ("permitted_use = 'commercial' AND NOT (area_m2 > 2000 AND land_category = 'settlement')",
     None, "permitted_use = 'commercial' AND NOT (area_m2 > 2000 AND land_category = 'settlement')"),
    ("cadastral_number LIKE '10:09:%1'",
     {"op": "like", "args": [{"property": "cadastral_number"}, "10:09:%1"]},
     "cadastral_number LIKE '10:09:%1'"),
    ("cadastral_number LIKE '10:0_:01:%'", None, "cadastral_number LIKE '10:0_:01:%'"),
    ("cadastral_number NOT LIKE '10:09:%'", None, "cadastral_number NOT LIKE '10:09:%'"),
    ("area_m2 BETWEEN 500 AND 900",
     {"op": "between", "args": [{"property": "area_m2"}, 500, 900]},
     "area_m2 BETWEEN 500 AND 900"),
    ("area_m2 NOT BETWEEN 500 AND 900", None, "area_m2 NOT BETWEEN 500 AND 900"),
    ("address IS NULL", {"op": "isNull", "args": [{"property": "address"}]}, "address IS NULL"),
    ("address IS NOT NULL AND area_m2 < 700", None, "address IS NOT NULL AND area_m2 < 700"),
    ("CASEI(land_category) = casei('AGRICULTURAL')",
     {"op": "=", "args": [{"op": "casei", "args": [{"property": "land_category"}]},
                          {"op": "casei", "args": ["AGRICULTURAL"]}]},
     "land_category = 'agricultural'"),
    ("declared_area_m2 > area_m2", None, "declared_area_m2 > area_m2"),
    ("valid_from < TIMESTAMP('2030-01-01T00:00:00Z') AND district_id = 9", None,
     "valid_from < '2030-01-01' AND district_id = 9"),
    (f"S_INTERSECTS(geometry, {POLY})",
     {"op": "s_intersects", "args": [{"property": "geometry"}, POLY_JSON]},
     f"ST_Intersects(geom, {ENV})"),
    ("S_INTERSECTS(geometry, BBOX({},{},{},{}))".format(*BBOX),
     {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(BBOX)}]},
     f"ST_Intersects(geom, {ENV})"),
    (f"S_WITHIN(geometry, {POLY})",
     {"op": "s_within", "args": [{"property": "geometry"}, POLY_JSON]},
     f"ST_Within(geom, {ENV})"),
    (f"S_DISJOINT(geometry, {POLY}) AND district_id = 1", None,
     f"ST_Disjoint(geom, {ENV}) AND district_id = 1"),
    (f"S_OVERLAPS(geometry, {POLY})", None, f"ST_Overlaps(geom, {ENV})"),
]


@pytest.mark.parametrize("cql_text,cql_json,where", CASES, ids=[c[0][:40] for c in CASES])
def test_operator_matches_sql(client: Any, db: Any, cql_text: str, cql_json: Any,
                              where: str) -> None:
    expected = sql_ids(db, where)
    assert api_ids(client, filter=cql_text) == expected
    assert api_ids(client, filter=cql_text, **{"filter-lang": "cql2-text"}) == expected
    if cql_json is not None:
        assert api_ids(client, body=cql_json) == expected
        assert api_ids(client, filter=json.dumps(cql_json),
                       **{"filter-lang": "cql2-json"}) == expected


def test_in_and_not_are_not_vacuous(db: Any) -> None:
    """The cases above select something and leave something out."""
    total = len(sql_ids(db, "true"))
    for _, _, where in CASES:
        n = len(sql_ids(db, where))
        assert n < total, where
    assert sum(1 for _, _, w in CASES if sql_ids(db, w)) >= len(CASES) - 3


def test_s_contains_finds_the_parcel_under_a_point(client: Any, db: Any) -> None:
    pid, lon, lat, x, y = db.execute(text(
        "SELECT id, ST_X(ST_Transform(p, 4326)), ST_Y(ST_Transform(p, 4326)), ST_X(p), ST_Y(p)"
        " FROM (SELECT id, ST_PointOnSurface(geom) AS p FROM parcel WHERE status = 'active'"
        " ORDER BY id LIMIT 1) s")).one()
    assert api_ids(client, filter=f"S_CONTAINS(geometry, POINT({lon} {lat}))") == {pid}
    # filter-crs: the same point in the storage CRS, and lat/lon order for EPSG:4326
    epsg = "http://www.opengis.net/def/crs/EPSG/0/"
    assert api_ids(client, filter=f"S_CONTAINS(geometry, POINT({x} {y}))",
                   **{"filter-crs": epsg + "32642"}) == {pid}
    assert api_ids(client, filter=f"S_CONTAINS(geometry, POINT({lat} {lon}))",
                   **{"filter-crs": epsg + "4326"}) == {pid}


def test_filter_on_incidents_boolean_and_time(client: Any, db: Any) -> None:
    expected = set(db.execute(text(
        "SELECT id FROM ogc_public_incident WHERE overdue AND priority IN (1, 2)")).scalars())
    got = api_ids(client, "incidents", filter="overdue = true AND priority IN (1, 2)")
    assert got == expected


BAD = [
    "geometry LIKE 'x'",
    "geometry = 'x'",
    "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 0 0)))",
    "S_INTERSECTS(geometry, POLYGON((69.3 41.2, 69.4 41.2, 69.3 41.2, 69.3 41.2)))",
    "S_INTERSECTS(geometry, POINT(1e400 0))",
    "S_INTERSECTS(geometry, POINT(69.3 95))",
    "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))",
    "S_INTERSECTS(address, POINT(69.3 41.2))",
    "S_INTERSECTS(geometry, address)",
    "address = 'x\x00y'",
    "address LIKE 5",
    "area_m2 LIKE 'x%'",
    "area_m2 = 'big'",
    "land_category IN (1, 'x')",
    "T_INTERSECTS(valid_from, TIMESTAMP('2020-01-01T00:00:00Z'))",
    "valid_from T_BEFORE TIMESTAMP('2020-01-01T00:00:00Z')",
    "area_m2 + 1 > 2",
    "NOT (NOT (NOT (",
    "(" * 500 + "area_m2 > 1" + ")" * 500,
]


@pytest.mark.parametrize("cql_text", BAD, ids=[b[:30] for b in BAD])
def test_bad_filter_is_400(client: Any, cql_text: str) -> None:
    r = client.get(P, query_string={"filter": cql_text})
    assert r.status_code == 400, (cql_text, r.status_code, r.get_data(as_text=True)[:200])
    assert len(r.get_data()) < 600


@pytest.mark.parametrize("doc", [
    {"op": "s_intersects", "args": [{"property": "geometry"},
                                    {"type": "Point", "coordinates": [1e308 * 10, 0]}]},
    {"op": "like", "args": [{"property": "geometry"}, "x"]},
    {"op": "and", "args": [{"op": "=", "args": [{"property": "address"}, "x"]}]},
    {"op": "between", "args": [{"property": "area_m2"}, 1]},
    {"op": "in", "args": [{"property": "area_m2"}, []]},
    {"op": "s_within", "args": [{"property": "geometry"}, {"bbox": [1, 2, 3]}]},
])
def test_bad_cql2_json_is_400(client: Any, doc: Any) -> None:
    body = json.dumps(doc).replace("Infinity", "1e400")
    r = client.post(P, data=body, content_type="application/query-cql-json")
    assert r.status_code == 400, r.get_data(as_text=True)[:200]


def test_conformance_declares_what_works(client: Any) -> None:
    r = client.get("/ogc/conformance?f=json")
    assert r.status_code == 200
    classes = set(r.get_json()["conformsTo"])
    for c in ["ogcapi-features-3/1.0/conf/filter", "ogcapi-features-3/1.0/conf/features-filter",
              "ogcapi-features-3/1.0/conf/queryables", "cql2/1.0/conf/cql2-text",
              "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-cql2",
              "cql2/1.0/conf/basic-spatial-functions", "cql2/1.0/conf/spatial-functions",
              "cql2/1.0/conf/advanced-comparison-operators",
              "cql2/1.0/conf/case-insensitive-comparison", "cql2/1.0/conf/property-property",
              "ogcapi-features-4/1.0/conf/create-replace-delete",
              "ogcapi-features-4/1.0/conf/update", "ogcapi-features-2/1.0/conf/crs",
              "ogcapi-features-1/1.0/conf/geojson", "ogcapi-features-1/1.0/conf/html",
              "ogcapi-features-1/1.0/conf/oas30"]:
        assert "http://www.opengis.net/spec/" + c in classes, c
    assert not [c for c in classes if c.endswith("/callback")]
    # not implemented, so not declared
    assert not [c for c in classes if "temporal" in c or "arithmetic" in c
                or "accent-insensitive" in c or "advanced-property-roles" in c]
    assert client.get("/ogc/conformance?f=html").status_code == 200


def test_post_search_with_plain_json_is_not_a_write(client: Any, db: Any) -> None:
    """pygeoapi's OpenAPI names application/json for CQL2 searches; a Feature is a create."""
    doc = {"op": "=", "args": [{"property": "land_category"}, "agricultural"]}
    r = client.post(P, query_string={"limit": 10000, "skipGeometry": "true"},
                     data=json.dumps(doc), content_type="application/json")
    assert r.status_code == 200
    assert {f["id"] for f in r.get_json()["features"]} == sql_ids(
        db, "land_category = 'agricultural'")
    r = client.post(P, data=json.dumps({"type": "Feature", "properties": {}}),
                    content_type="application/json")
    assert r.status_code == 401
