"""Each database rule rejects bad input with its message and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text
from sqlalchemy.engine import Connection

SQ = "ST_Multi(ST_GeomFromText('POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))', 32642))"


def square(x: float, y: float, size: float = 20.0) -> str:
    """SQL for a square MultiPolygon in EPSG:32642 far from the demo city's parcels."""
    return SQ.format(x0=x, y0=y, x1=x + size, y1=y + size)


FAR_X, FAR_Y = 300000.0, 4000000.0  # outside the city: no demo parcel there


def insert_parcel(db: Connection, number: str, geom_sql: str) -> int:
    return db.execute(text(
        f"INSERT INTO parcel (cadastral_number, geom) VALUES (:n, {geom_sql}) RETURNING id"),
        {"n": number}).scalar_one()


def expect_error(db: Connection, sql: str, params: dict | None, fragment: str) -> str:
    """Run sql inside a savepoint, expect a database error containing ``fragment``."""
    sp = db.begin_nested()
    with pytest.raises(exc.DBAPIError) as info:
        db.execute(text(sql), params or {})
    sp.rollback()
    msg = str(info.value.orig)
    assert fragment in msg, msg
    return msg


def count(db: Connection, sql: str, params: dict | None = None) -> int:
    return db.execute(text(sql), params or {}).scalar_one()


def test_cadastral_number_format_rejected(db: Connection) -> None:
    before = count(db, "SELECT count(*) FROM parcel")
    msg = expect_error(db, f"INSERT INTO parcel (cadastral_number, geom) VALUES ('10:9:3:1:1:45', {square(FAR_X, FAR_Y)})",
                       None, "is not in the form 10:09:03:01:01:0045")
    assert "'10:9:3:1:1:45'" in msg
    assert count(db, "SELECT count(*) FROM parcel") == before


def test_building_number_needs_building_part(db: Connection) -> None:
    expect_error(db, f"INSERT INTO building (cadastral_number, geom) VALUES ('10:09:03:01:01:0045', {square(FAR_X, FAR_Y)})",
                 None, "10:09:03:01:01:0045:0001")


def test_active_number_unique(db: Connection) -> None:
    insert_parcel(db, "10:09:77:01:01:0001", square(FAR_X, FAR_Y))
    expect_error(db, f"INSERT INTO parcel (cadastral_number, geom) VALUES ('10:09:77:01:01:0001', {square(FAR_X + 100, FAR_Y)})",
                 None, "parcel_number_active")


def test_invalid_geometry_rejected_with_reason(db: Connection) -> None:
    bowtie = "ST_Multi(ST_GeomFromText('POLYGON((0 0,10 10,10 0,0 10,0 0))', 32642))"
    msg = expect_error(db, f"INSERT INTO parcel (cadastral_number, geom) VALUES ('10:09:77:01:01:0002', {bowtie})",
                       None, "geometry is invalid")
    assert "Self-intersection" in msg


def test_wrong_srid_and_type_rejected(db: Connection) -> None:
    expect_error(db, "INSERT INTO parcel (cadastral_number, geom) VALUES ('10:09:77:01:01:0003',"
                     " ST_Multi(ST_GeomFromText('POLYGON((69 41,69.1 41,69.1 41.1,69 41))', 4326)))",
                 None, "SRID")
    expect_error(db, "INSERT INTO parcel (cadastral_number, geom) VALUES ('10:09:77:01:01:0003',"
                     " ST_GeomFromText('POINT(0 0)', 32642))", None, "Geometry type")


def test_empty_geometry_rejected(db: Connection) -> None:
    expect_error(db, "INSERT INTO parcel (cadastral_number, geom) VALUES ('10:09:77:01:01:0004',"
                     " ST_GeomFromText('MULTIPOLYGON EMPTY', 32642))", None, "geometry is empty")


def test_overlap_rejected_with_both_numbers_and_area(db: Connection) -> None:
    insert_parcel(db, "10:09:77:01:01:0010", square(FAR_X, FAR_Y, 20))
    msg = expect_error(db, f"INSERT INTO parcel (cadastral_number, geom) VALUES ('10:09:77:01:01:0011', {square(FAR_X + 17, FAR_Y, 20)})",
                       None, "overlaps")
    assert "10:09:77:01:01:0011 overlaps 10:09:77:01:01:0010 by 60.0 m²" in msg
    assert count(db, "SELECT count(*) FROM parcel WHERE cadastral_number = '10:09:77:01:01:0011'") == 0


def test_touching_and_tiny_overlap_accepted(db: Connection) -> None:
    insert_parcel(db, "10:09:77:01:01:0020", square(FAR_X, FAR_Y, 20))
    insert_parcel(db, "10:09:77:01:01:0021", square(FAR_X + 20, FAR_Y, 20))  # shares an edge
    # 0.001 m x 20 m = 0.02 m² < 0.05 m² tolerance
    insert_parcel(db, "10:09:77:01:01:0022", square(FAR_X + 39.999, FAR_Y, 20))


def test_overlap_inside_one_statement_rejected(db: Connection) -> None:
    expect_error(db, f"INSERT INTO parcel (cadastral_number, geom) VALUES"
                     f" ('10:09:77:01:01:0030', {square(FAR_X, FAR_Y)}),"
                     f" ('10:09:77:01:01:0031', {square(FAR_X + 5, FAR_Y + 5)})", None, "overlaps")


def test_retired_parcels_may_overlap_active(db: Connection) -> None:
    pid = insert_parcel(db, "10:09:77:01:01:0040", square(FAR_X, FAR_Y))
    db.execute(text("UPDATE parcel SET status = 'retired' WHERE id = :i"), {"i": pid})
    insert_parcel(db, "10:09:77:01:01:0041", square(FAR_X, FAR_Y))


def test_overlapping_update_rejected_and_unchanged(db: Connection) -> None:
    a = insert_parcel(db, "10:09:77:01:01:0050", square(FAR_X, FAR_Y))
    insert_parcel(db, "10:09:77:01:01:0051", square(FAR_X + 30, FAR_Y))
    expect_error(db, f"UPDATE parcel SET geom = {square(FAR_X + 15, FAR_Y)} WHERE id = :a", {"a": a},
                 "overlaps")
    assert count(db, "SELECT version FROM parcel WHERE id = :a", {"a": a}) == 1


def _party(db: Connection, pinfl: str) -> int:
    return db.execute(text("INSERT INTO party (kind, full_name, pinfl) VALUES ('person', 'Test Shaxs', :p) RETURNING id"),
                      {"p": pinfl}).scalar_one()


def test_shares_never_above_one(db: Connection) -> None:
    pid = insert_parcel(db, "10:09:77:01:01:0060", square(FAR_X, FAR_Y))
    a, b = _party(db, "31234567890123"), _party(db, "31234567890124")
    db.execute(text("INSERT INTO \"right\" (kind, party_id, parcel_id, share_num, share_den) VALUES"
                    " ('ownership', :a, :p, 2, 3)"), {"a": a, "p": pid})
    msg = expect_error(db, "INSERT INTO \"right\" (kind, party_id, parcel_id, share_num, share_den)"
                           " VALUES ('ownership', :b, :p, 1, 2)", {"b": b, "p": pid}, "above 1")
    assert "10:09:77:01:01:0060" in msg
    db.execute(text("INSERT INTO \"right\" (kind, party_id, parcel_id, share_num, share_den) VALUES"
                    " ('ownership', :b, :p, 1, 3)"), {"b": b, "p": pid})
    assert count(db, "SELECT count(*) FROM \"right\" WHERE parcel_id = :p", {"p": pid}) == 2


def test_share_range(db: Connection) -> None:
    pid = insert_parcel(db, "10:09:77:01:01:0061", square(FAR_X, FAR_Y))
    a = _party(db, "31234567890125")
    for num, den in ((0, 1), (3, 2), (-1, 2)):
        expect_error(db, "INSERT INTO \"right\" (kind, party_id, parcel_id, share_num, share_den)"
                         " VALUES ('ownership', :a, :p, :n, :d)",
                     {"a": a, "p": pid, "n": num, "d": den}, "right_share_range")


def test_party_identifiers_validated(db: Connection) -> None:
    expect_error(db, "INSERT INTO party (kind, full_name, pinfl) VALUES ('person', 'X', '123')",
                 None, "party_pinfl_format")
    expect_error(db, "INSERT INTO party (kind, full_name, inn) VALUES ('organization', 'X', '12345')",
                 None, "party_inn_format")


def test_update_keeps_history_and_bumps_version(db: Connection) -> None:
    pid = insert_parcel(db, "10:09:77:01:01:0070", square(FAR_X, FAR_Y))
    db.execute(text("UPDATE parcel SET address = 'Yangi manzil' WHERE id = :i"), {"i": pid})
    db.execute(text("UPDATE parcel SET cadastral_value = 1000 WHERE id = :i"), {"i": pid})
    assert count(db, "SELECT version FROM parcel WHERE id = :i", {"i": pid}) == 3
    rows = db.execute(text("SELECT version, operation, valid_to IS NOT NULL FROM parcel_history"
                           " WHERE id = :i ORDER BY version"), {"i": pid}).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, "U", True), (2, "U", True)]
    db.execute(text("DELETE FROM parcel WHERE id = :i"), {"i": pid})
    assert count(db, "SELECT count(*) FROM parcel_history WHERE id = :i AND operation = 'D'",
                 {"i": pid}) == 1


def test_audit_records_actor_before_and_after(db: Connection) -> None:
    db.execute(text("SELECT set_config('cadastre.actor', 'registrar:alice', true)"))
    pid = insert_parcel(db, "10:09:77:01:01:0080", square(FAR_X, FAR_Y))
    db.execute(text("UPDATE parcel SET address = 'A' WHERE id = :i"), {"i": pid})
    rows = db.execute(text("SELECT actor, operation, before->>'address', after->>'address'"
                           " FROM audit_log WHERE table_name = 'parcel' AND row_id = :i ORDER BY id"),
                      {"i": pid}).all()
    assert [tuple(r) for r in rows] == [("registrar:alice", "I", None, None),
                                        ("registrar:alice", "U", None, "A")]


def test_audit_falls_back_to_database_user(db: Connection) -> None:
    db.execute(text("SELECT set_config('cadastre.actor', '', true)"))
    pid = insert_parcel(db, "10:09:77:01:01:0081", square(FAR_X, FAR_Y))
    actor = db.execute(text("SELECT actor FROM audit_log WHERE table_name = 'parcel' AND row_id = :i"),
                       {"i": pid}).scalar_one()
    assert actor == db.execute(text("SELECT session_user")).scalar_one()


def test_area_computed_from_geometry(db: Connection) -> None:
    pid = insert_parcel(db, "10:09:77:01:01:0090", square(FAR_X, FAR_Y, 30))
    assert float(db.execute(text("SELECT area_m2 FROM parcel WHERE id = :i"), {"i": pid}).scalar_one()) == 900.0


def test_district_filled_from_number(db: Connection) -> None:
    pid = insert_parcel(db, "10:09:77:01:01:0091", square(FAR_X, FAR_Y))
    code = db.execute(text("SELECT d.code FROM parcel p JOIN district d ON d.id = p.district_id WHERE p.id = :i"),
                      {"i": pid}).scalar_one()
    assert code == "09"


# ---- references, checked per statement (migration 0016) ----------------------------------

def test_unknown_reference_rejected_naming_unit_and_value(db: Connection) -> None:
    before = count(db, "SELECT count(*) FROM parcel")
    msg = expect_error(
        db, f"INSERT INTO parcel (cadastral_number, land_category, geom) VALUES"
            f" ('10:09:77:01:01:0101', 'moon', {square(FAR_X, FAR_Y)})", None,
        "parcel 10:09:77:01:01:0101: land_category 'moon' is not in land_category")
    assert "violates foreign key" not in msg
    expect_error(db, f"INSERT INTO parcel (cadastral_number, district_id, geom) VALUES"
                     f" ('10:09:77:01:01:0102', 9999, {square(FAR_X, FAR_Y)})", None,
                 "district_id '9999' is not in district")
    expect_error(db, f"INSERT INTO parcel (cadastral_number, transaction_id, geom) VALUES"
                     f" ('10:09:77:01:01:0103', -5, {square(FAR_X, FAR_Y)})", None,
                 "transaction_id '-5' is not in registry_transaction")
    assert count(db, "SELECT count(*) FROM parcel") == before
    pid = insert_parcel(db, "10:09:77:01:01:0104", square(FAR_X, FAR_Y))
    expect_error(db, "UPDATE parcel SET permitted_use = 'launch_pad' WHERE id = :i", {"i": pid},
                 "permitted_use 'launch_pad' is not in permitted_use")
    db.execute(text("UPDATE parcel SET address = 'kept' WHERE id = :i"), {"i": pid})
    code = db.execute(text("SELECT code FROM building_use ORDER BY code LIMIT 1")).scalar_one()
    expect_error(db, f"INSERT INTO building (cadastral_number, building_use, geom) VALUES"
                     f" ('10:09:77:01:01:0104:0001', 'castle', {square(FAR_X + 2, FAR_Y + 2, 5)})",
                 None, "building_use 'castle' is not in building_use")
    assert code  # the value list itself is intact


def test_referenced_codes_cannot_be_removed(db: Connection) -> None:
    insert_parcel(db, "10:09:77:01:01:0105", square(FAR_X, FAR_Y))  # settlement, district 09
    expect_error(db, "DELETE FROM land_category WHERE code = 'settlement'", None,
                 "land_category code 'settlement' is still used by parcel")
    expect_error(db, "UPDATE permitted_use SET code = 'housing' WHERE code = 'individual_housing'",
                 None, "permitted_use code 'individual_housing' is still used by parcel")
    expect_error(db, "DELETE FROM district WHERE code = '09'", None,
                 "district id '")
    expect_error(db, "TRUNCATE district CASCADE", None,
                 "district cannot be emptied while building uses it")
    # renaming a label is not removing a code
    db.execute(text("UPDATE land_category SET name_en = name_en WHERE code = 'settlement'"))
    assert count(db, "SELECT count(*) FROM land_category WHERE code = 'settlement'") == 1


def test_audit_of_an_insert_points_at_the_kept_version(db: Connection) -> None:
    db.execute(text("SELECT set_config('cadastre.actor', 'registrar:alice', true)"))
    pid = insert_parcel(db, "10:09:77:01:01:0106", square(FAR_X, FAR_Y))
    db.execute(text("UPDATE parcel SET address = 'first' WHERE id = :i"), {"i": pid})
    db.execute(text("UPDATE parcel SET address = 'second' WHERE id = :i"), {"i": pid})
    rows = db.execute(text(
        "SELECT operation, after, cadastre_audit_image(id) AS image FROM audit_log"
        " WHERE table_name = 'parcel' AND row_id = :i ORDER BY id"), {"i": pid}).mappings().all()
    assert [r["operation"] for r in rows] == ["I", "U", "U"]
    ins = rows[0]
    assert ins["after"] == {"version": 1}
    # version 1 as inserted: from parcel_history now, its lifespan open as it was then
    assert ins["image"]["version"] == 1 and ins["image"]["address"] is None
    assert ins["image"]["cadastral_number"] == "10:09:77:01:01:0106"
    assert ins["image"]["valid_to"] is None and ins["image"]["geom"]
    assert rows[2]["image"]["address"] == "second" == rows[2]["after"]["address"]
    # a table without history keeps the full image of its inserts
    doc = db.execute(text("INSERT INTO source_document (kind, number) VALUES ('other', 'A-1')"
                          " RETURNING id")).scalar_one()
    after = db.execute(text("SELECT after FROM audit_log WHERE table_name = 'source_document'"
                            " AND row_id = :i"), {"i": doc}).scalar_one()
    assert after["number"] == "A-1"


def test_overlap_found_across_groups_of_a_bulk_statement(db: Connection) -> None:
    """0015 pairs a bulk statement's parcels by groups (squares 4 × their median size): an
    overlap across a group border, with a big parcel, or with a registered parcel is found."""
    x0, y0 = FAR_X + 5000, FAR_Y + 5000
    grid = [(x0 + 10 * i, y0 + 10 * j) for i in range(12) for j in range(12)]  # touching 10 m
    values = ", ".join(f"('10:09:78:01:01:{k + 1:04d}', {square(x, y, 10)})"
                       for k, (x, y) in enumerate(grid))
    sql = f"INSERT INTO parcel (cadastral_number, geom) VALUES {values}"
    before = count(db, "SELECT count(*) FROM parcel")
    sp = db.begin_nested()
    db.execute(text(sql))  # touching only: accepted
    sp.rollback()
    # the cell is 40 m: a square reaching 5 m across the border x0 + 40 from the left
    across = f", ('10:09:78:01:02:0001', {square(x0 + 35, y0 + 200, 10)})" \
             f", ('10:09:78:01:02:0002', {square(x0 + 41, y0 + 200, 10)})"
    expect_error(db, sql + across, None, "overlaps")
    big = f", ('10:09:78:01:02:0003', {square(x0 - 300, y0 - 300, 305)})"  # covers a corner
    msg = expect_error(db, sql + big, None, "overlaps")
    assert "10:09:78:01:02:0003" in msg
    insert_parcel(db, "10:09:78:01:03:0001", square(x0 + 55, y0 + 55, 3))  # already there
    expect_error(db, sql, None, "10:09:78:01:03:0001")
    assert count(db, "SELECT count(*) FROM parcel") == before + 1
