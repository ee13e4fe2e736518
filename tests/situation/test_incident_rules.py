"""Database rules for incidents: enrichment, deadlines, duplicates, lifecycle, timeline."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cadastre_gis import incidents
from cadastre_gis.errors import RuleViolation


def _building(db, offset: int = 0):  # type: ignore[no-untyped-def]
    return db.execute(text("""
        SELECT b.id, b.parcel_id, b.district_id, ST_AsEWKT(ST_PointOnSurface(b.geom)) AS pt
          FROM building b WHERE b.status = 'active' AND b.parcel_id IS NOT NULL
         ORDER BY b.id OFFSET :o LIMIT 1"""), {"o": offset}).mappings().one()


def _insert(db, category: str, ewkt: str, reported_at: str | None = None) -> int:  # type: ignore[no-untyped-def]
    sql = ("INSERT INTO incident (category, geom" + (", reported_at" if reported_at else "")
           + ") VALUES (:c, ST_GeomFromEWKT(:g)" + (", CAST(:r AS timestamptz)" if reported_at else "")
           + ") RETURNING id")
    return db.execute(text(sql), {"c": category, "g": ewkt, "r": reported_at}).scalar_one()


def _inc(db, i: int):  # type: ignore[no-untyped-def]
    return db.execute(text("SELECT * FROM incident WHERE id = :i"), {"i": i}).mappings().one()


def test_plain_sql_insert_is_enriched(db) -> None:  # type: ignore[no-untyped-def]
    b = _building(db, 5)
    i = _insert(db, "waste", b["pt"])
    row = _inc(db, i)
    district = db.execute(text("SELECT d.id FROM district d, building b WHERE b.id = :b"
                               " AND ST_Intersects(d.geom, ST_PointOnSurface(b.geom))"),
                          {"b": b["id"]}).scalar_one()
    assert row["district_id"] == district == b["district_id"]
    assert row["building_id"] == b["id"]
    assert row["parcel_id"] == b["parcel_id"]
    # waste has a district branch (obodon-<code>) that wins over the city-wide service
    code = db.execute(text("SELECT s.code FROM service s WHERE s.id = :s"),
                      {"s": row["service_id"]}).scalar_one()
    dcode = db.execute(text("SELECT code FROM district WHERE id = :d"), {"d": district}).scalar_one()
    assert code == f"obodon-{dcode}"
    assert row["priority"] == 3
    assert row["status"] == "new"


def test_city_wide_service_and_deadline(db) -> None:  # type: ignore[no-untyped-def]
    b = _building(db, 11)
    i = _insert(db, "water", b["pt"], "2026-01-10T08:00:00+05:00")
    row = _inc(db, i)
    code = db.execute(text("SELECT code FROM service WHERE id = :s"),
                      {"s": row["service_id"]}).scalar_one()
    assert code == "suvsoqova"
    hours = db.execute(text("SELECT deadline_hours FROM incident_category WHERE code = 'water'")
                       ).scalar_one()
    assert (row["deadline"] - row["reported_at"]).total_seconds() == hours * 3600
    # gas: 4 hours, priority 1
    j = _inc(db, _insert(db, "gas", b["pt"], "2026-01-10T08:00:00+05:00"))
    assert (j["deadline"] - j["reported_at"]).total_seconds() == 4 * 3600
    assert j["priority"] == 1


def test_point_outside_parcels_has_no_parcel(db) -> None:  # type: ignore[no-untyped-def]
    # far outside the city: no district, parcel, building; the city-wide service still answers
    i = _insert(db, "water", "SRID=32642;POINT(100000 4000000)")
    row = _inc(db, i)
    assert row["district_id"] is None and row["parcel_id"] is None and row["building_id"] is None
    assert row["service_id"] is not None


def test_move_re_enriches_and_records(db) -> None:  # type: ignore[no-untyped-def]
    a, b = _building(db, 20), _building(db, 400)
    i = _insert(db, "road", a["pt"])
    db.execute(text("UPDATE incident SET geom = ST_GeomFromEWKT(:g) WHERE id = :i"),
               {"g": b["pt"], "i": i})
    row = _inc(db, i)
    assert row["building_id"] == b["id"] and row["parcel_id"] == b["parcel_id"]
    kinds = [e["kind"] for e in incidents.timeline(db, i)]
    assert kinds == ["created", "moved"]


def test_duplicate_flagging(db) -> None:  # type: ignore[no-untyped-def]
    b = _building(db, 30)
    x, y = db.execute(text("SELECT ST_X(g), ST_Y(g) FROM ST_GeomFromEWKT(:g) g"),
                      {"g": b["pt"]}).one()
    first = _insert(db, "heating", b["pt"], "2026-02-01T10:00:00Z")
    near = _insert(db, "heating", f"SRID=32642;POINT({x + 30} {y})", "2026-02-01T20:00:00Z")
    far = _insert(db, "heating", f"SRID=32642;POINT({x + 90} {y})", "2026-02-01T20:00:00Z")
    late = _insert(db, "heating", f"SRID=32642;POINT({x + 10} {y})", "2026-02-02T11:00:00Z")
    other = _insert(db, "power", f"SRID=32642;POINT({x + 5} {y})", "2026-02-01T11:00:00Z")
    assert _inc(db, near)["possible_duplicate_of"] == first
    assert _inc(db, far)["possible_duplicate_of"] is None
    # 25 h after the first one, but within 24 h of "near" (also open): flagged against that one
    assert _inc(db, late)["possible_duplicate_of"] == near
    assert _inc(db, other)["possible_duplicate_of"] is None
    # a closed earlier incident is not a duplicate target
    db.execute(text("UPDATE incident SET status = 'rejected' WHERE id IN (:a, :b)"),
               {"a": first, "b": near})
    again = _insert(db, "heating", f"SRID=32642;POINT({x + 1} {y})", "2026-02-01T21:00:00Z")
    assert _inc(db, again)["possible_duplicate_of"] is None


def test_lifecycle_and_timeline(db) -> None:  # type: ignore[no-untyped-def]
    b = _building(db, 40)
    i = _insert(db, "lighting", b["pt"])
    incidents.triage(db, i, priority=2, note="checked by phone")
    incidents.dispatch(db, i)
    incidents.set_status(db, i, "in_progress")
    incidents.resolve(db, i, note="lamp replaced")
    row = _inc(db, i)
    assert row["status"] == "resolved" and row["resolved_at"] is not None
    assert row["priority"] == 2
    tl = incidents.timeline(db, i)
    assert [(e["kind"], e["to_status"]) for e in tl] == [
        ("created", "new"), ("status", "triaged"), ("priority", None), ("status", "dispatched"),
        ("status", "in_progress"), ("status", "resolved")]
    assert all(e["actor"] == "pytest" for e in tl)
    assert tl[1]["note"] == "checked by phone" and tl[-1]["note"] == "lamp replaced"
    with pytest.raises(RuleViolation, match="cannot go from resolved to triaged"):
        incidents.set_status(db, i, "triaged")


def test_database_refuses_bad_transition_from_plain_sql(db) -> None:  # type: ignore[no-untyped-def]
    i = _insert(db, "road", _building(db, 41)["pt"])
    with pytest.raises(DBAPIError, match="cannot go from new to closed"), db.begin_nested():
        db.execute(text("UPDATE incident SET status = 'closed' WHERE id = :i"), {"i": i})


def test_merge_links_both_ways(db) -> None:  # type: ignore[no-untyped-def]
    b = _building(db, 50)
    keep = _insert(db, "sewage", b["pt"])
    dup = _insert(db, "sewage", b["pt"])
    assert _inc(db, dup)["possible_duplicate_of"] == keep
    incidents.merge(db, dup, keep, note="same leak")
    row = _inc(db, dup)
    assert row["status"] == "duplicate" and row["duplicate_of"] == keep
    assert [e["kind"] for e in incidents.timeline(db, keep)][-1] == "merged_in"
    assert incidents.timeline(db, keep)[-1]["data"] == {"duplicate": dup}
    assert [e["kind"] for e in incidents.timeline(db, dup)][-2:] == ["status", "merged"]


def test_transitions_table_matches_python(db) -> None:  # type: ignore[no-untyped-def]
    rows = db.execute(text("SELECT from_status, to_status FROM incident_transition")).all()
    in_db = {(a, b) for a, b in rows}
    in_py = {(a, b) for a, tos in incidents.TRANSITIONS.items() for b in tos}
    assert in_db == in_py


def test_demo_incidents_have_one_created_event(db) -> None:  # type: ignore[no-untyped-def]
    n = db.execute(text("SELECT count(*) FROM (SELECT incident_id FROM incident_event"
                        " WHERE kind = 'created' GROUP BY incident_id HAVING count(*) > 1) q")
                   ).scalar_one()
    assert n == 0
    missing = db.execute(text("SELECT count(*) FROM incident i WHERE NOT EXISTS (SELECT 1 FROM"
                              " incident_event e WHERE e.incident_id = i.id AND e.kind = 'created')")
                         ).scalar_one()
    assert missing == 0
