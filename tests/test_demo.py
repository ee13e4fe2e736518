"""The demo city is deterministic, complete and overlap-free (checked by the database)."""

from __future__ import annotations

import hashlib

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from cadastre_gis import demo, migrate
from cadastre_gis.settings import Settings

from .conftest import create_database, drop_database

TABLES = {
    "district": "code, name, encode(ST_AsEWKB(geom), 'hex')",
    "party": "id, kind, full_name, pinfl, inn",
    "parcel": "id, cadastral_number, district_id, address, land_category, permitted_use, area_m2,"
              " cadastral_value, status, version, valid_from, valid_to, encode(ST_AsEWKB(geom), 'hex')",
    "building": "id, cadastral_number, parcel_id, floors, year_built, encode(ST_AsEWKB(geom), 'hex')",
    '"right"': "id, kind, party_id, parcel_id, building_id, share_num, share_den, status, valid_from, valid_to",
    "parcel_lineage": "parent_id, child_id, kind",
    "parcel_history": "id, version, cadastral_value, valid_from, valid_to",
    "incident": "id, category, status, reported_at, encode(ST_AsEWKB(geom), 'hex')",
    "camera": "id, heading_deg, fov_deg, range_m, encode(ST_AsEWKB(geom), 'hex')",
}


def fingerprint(url: str) -> str:
    eng = create_engine(url)
    h = hashlib.sha256()
    with eng.connect() as c:
        for table, cols in TABLES.items():
            for row in c.execute(text(f"SELECT {cols} FROM {table} ORDER BY 1, 2")):
                h.update(repr(tuple(row)).encode())
    eng.dispose()
    return h.hexdigest()


def test_same_seed_same_bytes(server_url: str, data_dir) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    prints = []
    for _ in range(2):
        url = create_database(server_url, "cadastre_demo")
        try:
            migrate.upgrade(url)
            demo.generate(Settings(database_url=url, data_dir=data_dir), parcels=600, seed=3,
                          as_of=date(2026, 1, 15))
            prints.append(fingerprint(url))
        finally:
            from cadastre_gis.db import _engine

            _engine.cache_clear()
            drop_database(server_url, url)
    assert prints[0] == prints[1]


def test_demo_contents(db: Connection) -> None:
    q = lambda sql: db.execute(text(sql)).scalar_one()  # noqa: E731
    assert q("SELECT count(*) FROM district") == 12
    assert q("SELECT count(DISTINCT district_id) FROM parcel WHERE status = 'active'") == 12
    assert q("SELECT count(*) FROM parcel WHERE status = 'active'") >= 1000
    # districts cover the city without overlapping each other
    assert q("SELECT count(*) FROM district a JOIN district b ON a.id < b.id"
             " AND ST_Area(ST_Intersection(a.geom, b.geom)) > 1") == 0
    # buildings lie inside their parcels
    assert q("SELECT count(*) FROM building b JOIN parcel p ON p.id = b.parcel_id"
             " WHERE NOT ST_Within(b.geom, p.geom)") == 0
    assert q("SELECT count(*)::float / (SELECT count(*) FROM parcel WHERE status='active')"
             " FROM parcel p WHERE status = 'active' AND EXISTS"
             " (SELECT 1 FROM building b WHERE b.parcel_id = p.id)") > 0.8
    # ownership of every active parcel sums to exactly 1
    assert q("SELECT count(*) FROM (SELECT parcel_id, sum(share) s FROM \"right\" WHERE kind = 'ownership'"
             " AND status = 'active' AND parcel_id IS NOT NULL GROUP BY parcel_id) t"
             " WHERE abs(s - 1) > 1e-9") == 0
    assert q("SELECT count(*) FROM \"right\" WHERE share_den = 2") > 0
    assert q("SELECT count(*) FROM \"right\" WHERE share_den = 3") > 0
    for kind in ("mortgage", "arrest", "lease", "servitude"):
        assert q(f"SELECT count(*) FROM \"right\" WHERE kind = '{kind}'") > 0, kind
    assert q("SELECT count(*) FROM parcel_lineage WHERE kind = 'split'") > 0
    assert q("SELECT count(*) FROM parcel_lineage WHERE kind = 'merge'") > 0
    assert q("SELECT count(*) FROM parcel_history") > 0
    assert q("SELECT count(*) FROM party WHERE kind = 'person' AND pinfl ~ '^[0-9]{14}$'") > 0
    assert q("SELECT count(*) FROM party WHERE kind = 'organization' AND inn ~ '^[0-9]{9}$'") > 0
    assert q("SELECT count(DISTINCT category) FROM incident") >= 8
    assert q("SELECT count(DISTINCT status) FROM incident") >= 5
    # (other tests add incidents and accounts to the shared database: look at the demo's own)
    assert q("SELECT count(*) FROM incident WHERE source = 'demo' AND district_id IS NULL") == 0
    assert q("SELECT count(*) FROM camera") >= 20
    assert q("SELECT count(*) FROM account WHERE username IN"
             " ('admin', 'registrar', 'notary', 'operator', 'citizen')") == 5
    assert q("SELECT count(*) FROM parcel WHERE address ~ 'koʻchasi'") > 0
    # the database checked every active parcel: no overlaps remain
    assert q("SELECT count(*) FROM parcel a JOIN parcel b ON a.id < b.id AND a.geom && b.geom"
             " AND ST_Intersects(a.geom, b.geom) WHERE a.status='active' AND b.status='active'"
             " AND ST_Area(ST_Intersection(a.geom, b.geom)) > 0.05") == 0


def test_no_lifespan_starts_in_the_future(db: Connection) -> None:
    q = lambda sql: db.execute(text(sql)).scalar_one()  # noqa: E731
    assert q("SELECT count(*) FROM parcel WHERE valid_from > now()") == 0
    assert q("SELECT count(*) FROM \"right\" WHERE valid_from > now()") == 0
    assert q("SELECT count(*) FROM parcel_history WHERE valid_to > now()") == 0
