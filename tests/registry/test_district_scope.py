"""District scope follows the geometry, in the database, on every write path.

(a) Consistency for every writer (the owner role included): the district holding the larger
part of a unit is the one its number names; a building lies (>= 95 %) in its parcel, in the
same district, its number extending the parcel's. (b) Scope for registrars: QGIS logins by
their own districts, the application by the acting account's (``cadastre.districts``). Each
refusal is checked to change nothing (the tables compared before and after).
"""

from __future__ import annotations

import base64
import json
import uuid

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from cadastre_gis import registry
from cadastre_gis.errors import NotAuthorized, RuleViolation

from .helpers import DOC, make_parcel, rect
from .test_dbroles import connect, login  # noqa: F401 - the login fixture
from .test_staff import login as staff_login

REGISTRAR = {"Authorization": "Basic " + base64.b64encode(b"registrar:registrar-demo-2026").decode()}
UTM = "<http://www.opengis.net/def/crs/EPSG/0/32642>"
GEOJSON = "application/geo+json"
YAKKASAROY, CHILONZOR = 9, 2
MOSTLY = "lies mostly in district Chilonzor"


def empty_spot(c: Connection, district: int, size: float = 12.0) -> tuple[float, float]:
    """Lower-left corner of a free size×size square well inside a district (EPSG:32642)."""
    row = c.execute(text("""
        WITH d AS (SELECT geom FROM district WHERE id = :d),
             free AS (SELECT ST_Difference(ST_Buffer((SELECT geom FROM d), -60),
                       coalesce((SELECT ST_Union(ST_Buffer(geom, 2)) FROM parcel
                                  WHERE status = 'active' AND geom && (SELECT geom FROM d)),
                                'POLYGON EMPTY'::geometry)) AS g)
        SELECT ST_X(c.center), ST_Y(c.center), c.radius
          FROM free, ST_MaximumInscribedCircle(ST_SetSRID(free.g, 32642)) c"""),
        {"d": district}).one()
    assert row[2] > size, "no free room left in the district"
    return row[0] - size / 2, row[1] - size / 2


def quarter(district: int) -> str:
    return f"10:{district:02d}:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:66"


def snapshot(c: Connection, pid: int) -> tuple:
    """The parcel row, its history and its audit trail, as they are now."""
    return (c.execute(text("SELECT version, md5(ST_AsEWKB(geom)::text), district_id,"
                           " cadastral_number, status FROM parcel WHERE id = :i"), {"i": pid}).one(),
            c.execute(text("SELECT count(*) FROM parcel_history WHERE id = :i"), {"i": pid}).scalar(),
            c.execute(text("SELECT count(*) FROM audit_log WHERE table_name = 'parcel'"
                           " AND row_id = :i"), {"i": pid}).scalar(),
            c.execute(text("SELECT count(*) FROM building")).scalar())


def test_every_writer_keeps_district_and_geometry_consistent(db: Connection) -> None:
    """The owner role too: no bypass for the application, loaders or psql as owner."""
    yx, yy = empty_spot(db, YAKKASAROY)
    cx, cy = empty_spot(db, CHILONZOR, 30)
    qy, qc = quarter(YAKKASAROY), quarter(CHILONZOR)
    make_parcel(db, f"{qy}:0001", rect(yx, yy, 12, 12))
    cpid = make_parcel(db, f"{qc}:0001", rect(cx, cy, 12, 12))
    # moving a Yakkasaroy parcel into Chilonzor (keeping its number) is refused
    with pytest.raises(RuleViolation, match=MOSTLY + r" \(100.0 % of its area"):
        registry.correct_boundary(db, f"{qy}:0001", rect(cx + 16, cy + 16, 5, 5), srid=32642,
                                  document=DOC)
    # a new parcel numbered in Yakkasaroy but lying in Chilonzor
    with pytest.raises(Exception, match=MOSTLY), db.begin_nested():
        make_parcel(db, f"{qy}:0002", rect(cx + 16, cy + 16, 5, 5))
    # recorded in one district, numbered in another
    with pytest.raises(Exception, match="its number names district Chilonzor,"
                       " but it is recorded in Yakkasaroy"), db.begin_nested():
        db.execute(text("UPDATE parcel SET district_id = 9 WHERE id = :i"), {"i": cpid})
    # buildings: number extends the parcel's, same district, >= 95 % inside
    def building(number: str, wkt: str) -> None:
        db.execute(text("INSERT INTO building (cadastral_number, parcel_id, geom)"
                        " VALUES (:n, :p, ST_Multi(ST_GeomFromText(:g, 32642)))"),
                   {"n": number, "p": cpid, "g": wkt})
    with pytest.raises(Exception, match=MOSTLY), db.begin_nested():
        building(f"{qy}:0001:0001", rect(cx + 1, cy + 1, 4, 4))
    with pytest.raises(Exception, match="does not extend the number of its parcel"), \
            db.begin_nested():
        building(f"{quarter(CHILONZOR)}:0001:0001", rect(cx + 1, cy + 1, 4, 4))
    with pytest.raises(Exception, match=r"lies only 50.0 % in its parcel"), db.begin_nested():
        building(f"{qc}:0001:0001", rect(cx + 10, cy + 1, 4, 4))
    building(f"{qc}:0001:0001", rect(cx + 1, cy + 1, 4, 4))
    # a boundary correction may not leave the building behind
    with pytest.raises(RuleViolation, match="building .* would lie only"):
        registry.correct_boundary(db, f"{qc}:0001", rect(cx + 3, cy, 9, 12), srid=32642,
                                  document=DOC)


@pytest.fixture()
def placed(engine: Engine) -> dict:
    """A committed Yakkasaroy parcel, a Chilonzor parcel, and a free spot in Chilonzor."""
    with engine.begin() as c:
        yx, yy = empty_spot(c, YAKKASAROY)
        cx, cy = empty_spot(c, CHILONZOR, 30)
        qy, qc = quarter(YAKKASAROY), quarter(CHILONZOR)
        mine = make_parcel(c, f"{qy}:0001", rect(yx, yy, 12, 12))
        theirs = make_parcel(c, f"{qc}:0001", rect(cx, cy, 12, 12))
        target = rect(cx + 16, cy + 16, 10, 10)
        geo = {"type": "Polygon", "coordinates": [[[cx + 16, cy + 16], [cx + 26, cy + 16],
                                                   [cx + 26, cy + 26], [cx + 16, cy + 26],
                                                   [cx + 16, cy + 16]]]}
        ll = json.loads(c.execute(text("SELECT ST_AsGeoJSON(ST_Transform(ST_GeomFromText(:w,"
                                       " 32642), 4326), 9)"), {"w": target}).scalar())
    return {"mine": mine, "mine_no": f"{qy}:0001", "theirs": theirs, "theirs_no": f"{qc}:0001",
            "target": target, "geo": geo, "ll": ll, "qc": qc, "qy": qy}


def test_registrar_refused_on_every_path(client, engine, settings, login, placed) -> None:  # type: ignore[no-untyped-def] # noqa: F811,E501
    before = {k: snapshot(engine.connect(), placed[k]) for k in ("mine", "theirs")}
    # 1. Part 4 PATCH: my parcel's geometry into Chilonzor; and a Chilonzor parcel at all
    r = client.patch(f"/ogc/collections/parcels/items/{placed['mine']}", content_type=GEOJSON,
                     headers={**REGISTRAR, "Content-Crs": UTM},
                     data=json.dumps({"type": "Feature", "geometry": placed["geo"]}))
    assert 400 <= r.status_code < 500 and MOSTLY in r.get_json()["description"], r.get_data()
    r = client.patch(f"/ogc/collections/parcels/items/{placed['theirs']}", content_type=GEOJSON,
                     headers=REGISTRAR, data=json.dumps({"type": "Feature",
                                                         "properties": {"address": "x"}}))
    assert r.status_code == 403
    # ... a building on a Chilonzor parcel, numbered in Yakkasaroy or in Chilonzor
    for number, status in ((f"{placed['qy']}:0001:0009", None), (f"{placed['theirs_no']}:0009", 403)):
        r = client.post("/ogc/collections/buildings/items", content_type=GEOJSON,
                        headers={**REGISTRAR, "Content-Crs": UTM},
                        data=json.dumps({"type": "Feature", "geometry": placed["geo"], "properties": {
                            "cadastral_number": number, "parcel_id": placed["theirs"]}}))
        assert 400 <= r.status_code < 500 and (status is None or r.status_code == status), r.get_data()
    # 2. OGC API Processes: boundary correction into Chilonzor, any operation on Chilonzor
    r = client.post("/ogc/processes/boundary-correction/execution", headers=REGISTRAR, json={
        "inputs": {"cadastral_number": placed["mine_no"], "geometry": placed["geo"],
                   "crs": "EPSG:32642", "document": DOC}})
    assert 400 <= r.status_code < 500 and MOSTLY in r.get_data(as_text=True)
    r = client.post("/ogc/processes/boundary-correction/execution", headers=REGISTRAR, json={
        "inputs": {"cadastral_number": placed["theirs_no"], "geometry": placed["geo"],
                   "crs": "EPSG:32642", "document": DOC}})
    assert r.status_code == 403 and "may edit only Yakkasaroy" in r.get_data(as_text=True)
    # 3. staff pages
    token = staff_login(client)
    r = client.post(f"/staff/parcels/{placed['mine_no']}/boundary", data={
        "geometry": json.dumps(placed["ll"]), "doc_number": "B-1", "doc_kind": "survey",
        "csrf_token": token})
    assert r.status_code == 409 and MOSTLY in r.get_data(as_text=True)
    # 4. QGIS: a registrar's own database login
    conn = connect(settings, login)
    try:
        for sql, args, msg in (
                ("UPDATE parcel SET geom = ST_Multi(ST_GeomFromText(%s, 32642)) WHERE id = %s",
                 (placed["target"], placed["mine"]), MOSTLY),
                ("UPDATE parcel SET address = 'x' WHERE id = %s", (placed["theirs"],),
                 "may edit only Yakkasaroy")):
            with conn.cursor() as cur, pytest.raises(psycopg2.Error) as info:
                cur.execute(sql, args)
            conn.rollback()
            assert msg in str(info.value)
    finally:
        conn.close()
    # 5. the domain service and raw SQL in the application's own transaction
    acct = {"role": "registrar", "username": "r", "district_ids": [YAKKASAROY]}
    with engine.connect() as c, c.begin():
        with pytest.raises(NotAuthorized, match="may edit only Yakkasaroy"):
            registry.correct_boundary(c, placed["theirs_no"], placed["target"], srid=32642,
                                      document=DOC, account=acct)
        registry.act_for(c, acct)
        with pytest.raises(Exception, match="in district Chilonzor; .* may edit"
                           " only Yakkasaroy"), c.begin_nested():
            c.execute(text("UPDATE parcel SET address = 'x' WHERE id = :i"), {"i": placed["theirs"]})
        # a registrar with no district at all edits nothing
        registry.act_for(c, {"role": "registrar", "district_ids": []})
        with pytest.raises(Exception, match="may edit only no district"), c.begin_nested():
            c.execute(text("UPDATE parcel SET address = 'x' WHERE id = :i"), {"i": placed["mine"]})
    # nothing changed anywhere
    assert {k: snapshot(engine.connect(), placed[k]) for k in ("mine", "theirs")} == before
