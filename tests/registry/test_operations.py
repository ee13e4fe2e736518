"""Each registry operation: its result, lineage, rights carried over, rules and atomicity."""

from __future__ import annotations

from fractions import Fraction

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cadastre_gis import registry
from cadastre_gis.errors import (
    ArrestActive,
    InvalidGeometry,
    NotAuthorized,
    RuleViolation,
    StaleVersion,
    TopologyViolation,
)

from .helpers import DOC, FAR_X, FAR_Y, make_parcel, make_party, rect, shares

Q = "10:09:77:01:01"


@pytest.fixture()
def owners(db: Connection) -> tuple[int, int, int]:
    """Three people."""
    return (make_party(db, "31111111111111", "Aliyev Aziz"),
            make_party(db, "31111111111112", "Karimova Malika"),
            make_party(db, "31111111111113", "Saidov Bobur"))


def count(db: Connection, sql: str, **p: object) -> int:
    return db.execute(text(sql), p).scalar_one()


def test_split_by_cut_line(db: Connection, owners: tuple[int, int, int]) -> None:
    a, b, _ = owners
    pid = make_parcel(db, f"{Q}:0010", rect(FAR_X, FAR_Y, 40, 20), [(a, 1, 2), (b, 1, 2)])
    db.execute(text("INSERT INTO \"right\" (kind, parcel_id, holder, amount_uzs)"
                    " VALUES ('mortgage', :p, 'Xalq banki AT', 500000)"), {"p": pid})
    line = f"LINESTRING({FAR_X + 15} {FAR_Y - 5}, {FAR_X + 15} {FAR_Y + 25})"
    res = registry.split_parcel(db, f"{Q}:0010", cut_line=line, srid=32642, document=DOC,
                                actor="registrar:test")
    assert res.kind == "split" and res.transaction_id
    nums = [p["cadastral_number"] for p in res.parcels]
    assert nums == [f"{Q}:0011", f"{Q}:0012"]  # new numbers, same quarter
    assert sorted(round(p["area_m2"]) for p in res.parcels) == [300, 500]
    assert abs(sum(p["area_m2"] for p in res.parcels) - 800) < 0.01
    # parent retired, not deleted; lineage recorded
    st = db.execute(text("SELECT status, valid_to IS NOT NULL FROM parcel WHERE id = :i"),
                    {"i": pid}).one()
    assert tuple(st) == ("retired", True)
    kids = db.execute(text("SELECT child_id FROM parcel_lineage WHERE parent_id = :i AND kind ="
                           " 'split' AND transaction_id = :t"),
                      {"i": pid, "t": res.transaction_id}).scalars().all()
    assert sorted(kids) == sorted(p["id"] for p in res.parcels)
    # rights carried over to every child, ended on the parent
    for kid in kids:
        assert shares(db, kid) == {a: 0.5, b: 0.5}
        assert count(db, "SELECT count(*) FROM \"right\" WHERE parcel_id = :k AND kind ="
                         " 'mortgage' AND status = 'active'", k=kid) == 1
    assert count(db, "SELECT count(*) FROM \"right\" WHERE parcel_id = :i AND status = 'active'",
                 i=pid) == 0
    tx = db.execute(text("SELECT t.kind, t.actor, d.number FROM registry_transaction t JOIN"
                         " source_document d ON d.id = t.source_document_id WHERE t.id = :t"),
                    {"t": res.transaction_id}).one()
    assert tuple(tx) == ("split", "registrar:test", "TEST-1")
    # the lineage API walks both ways
    lin = registry.lineage(db, f"{Q}:0011")
    assert [x["cadastral_number"] for x in lin["ancestors"]] == [f"{Q}:0010"]
    down = registry.lineage(db, f"{Q}:0010")["descendants"]
    assert {x["cadastral_number"] for x in down} == {f"{Q}:0011", f"{Q}:0012"}


def test_split_by_parts_and_area_tolerance(db: Connection, owners: tuple[int, int, int]) -> None:
    a, _, _ = owners
    make_parcel(db, f"{Q}:0020", rect(FAR_X, FAR_Y + 100, 40, 20), [(a, 1, 1)])
    parts = [rect(FAR_X, FAR_Y + 100, 10, 20), rect(FAR_X + 10, FAR_Y + 100, 30, 20)]
    res = registry.split_parcel(db, f"{Q}:0020", parts=parts, srid=32642, document=DOC)
    assert [round(p["area_m2"]) for p in res.parcels] == [200, 600]
    # children leaving a gap are refused, nothing changes
    make_parcel(db, f"{Q}:0030", rect(FAR_X, FAR_Y + 200, 40, 20), [(a, 1, 1)])
    before = count(db, "SELECT count(*) FROM parcel")
    with pytest.raises(RuleViolation, match="cover 600.0 m²"):
        registry.split_parcel(db, f"{Q}:0030", srid=32642, document=DOC, parts=[
            rect(FAR_X, FAR_Y + 200, 10, 20), rect(FAR_X + 20, FAR_Y + 200, 20, 20)])
    assert count(db, "SELECT count(*) FROM parcel") == before
    assert count(db, f"SELECT count(*) FROM parcel WHERE cadastral_number = '{Q}:0030' AND"
                     " status = 'active'") == 1


def test_split_line_must_cross(db: Connection) -> None:
    make_parcel(db, f"{Q}:0040", rect(FAR_X, FAR_Y + 300))
    with pytest.raises(InvalidGeometry, match="does not cross"):
        registry.split_parcel(db, f"{Q}:0040", document=DOC, srid=32642,
                              cut_line=f"LINESTRING({FAR_X + 5} {FAR_Y + 305}, {FAR_X + 6} {FAR_Y + 306})")


def test_dry_run_changes_nothing(db: Connection) -> None:
    make_parcel(db, f"{Q}:0050", rect(FAR_X, FAR_Y + 400, 40, 20))
    n_parcels = count(db, "SELECT count(*) FROM parcel")
    n_tx = count(db, "SELECT count(*) FROM registry_transaction")
    res = registry.split_parcel(db, f"{Q}:0050", document=DOC, srid=32642, dry_run=True,
                                cut_line=f"LINESTRING({FAR_X + 20} {FAR_Y + 390}, {FAR_X + 20} {FAR_Y + 430})")
    assert res.dry_run and res.transaction_id is None and len(res.parcels) == 2
    gj = res.geojson()
    assert gj["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert {f["properties"]["role"] for f in gj["features"]} == {"result", "retired"}
    assert count(db, "SELECT count(*) FROM parcel") == n_parcels
    assert count(db, "SELECT count(*) FROM registry_transaction") == n_tx


def test_merge_needs_identical_owners_and_adjacency(db: Connection,
                                                    owners: tuple[int, int, int]) -> None:
    a, b, c = owners
    y = FAR_Y + 500
    p1 = make_parcel(db, f"{Q}:0060", rect(FAR_X, y, 20, 20), [(a, 1, 2), (b, 1, 2)])
    # a 1 m fence gap between neighbours, as in the demo city
    p2 = make_parcel(db, f"{Q}:0061", rect(FAR_X + 21, y, 20, 20), [(b, 1, 2), (a, 1, 2)])
    make_parcel(db, f"{Q}:0062", rect(FAR_X + 42, y, 20, 20), [(c, 1, 1)])
    make_parcel(db, f"{Q}:0063", rect(FAR_X + 200, y, 20, 20), [(a, 1, 2), (b, 1, 2)])
    with pytest.raises(RuleViolation, match="different owners"):
        registry.merge_parcels(db, [f"{Q}:0061", f"{Q}:0062"], document=DOC)
    with pytest.raises(RuleViolation, match="not adjacent"):
        registry.merge_parcels(db, [f"{Q}:0060", f"{Q}:0063"], document=DOC)
    res = registry.merge_parcels(db, [f"{Q}:0060", f"{Q}:0061"], document=DOC)
    (child,) = res.parcels
    assert child["cadastral_number"] == f"{Q}:0064"
    assert 800 <= child["area_m2"] <= 821  # the fence gap is closed
    assert shares(db, child["id"]) == {a: 0.5, b: 0.5}  # owners once, not twice
    assert sorted(db.execute(text("SELECT parent_id FROM parcel_lineage WHERE child_id = :c AND"
                                  " kind = 'merge'"), {"c": child["id"]}).scalars()) == [p1, p2]
    assert {r["status"] for r in res.retired} == {"retired"}


def test_boundary_correction_keeps_history(db: Connection) -> None:
    pid = make_parcel(db, f"{Q}:0070", rect(FAR_X, FAR_Y + 600))
    doc = {"kind": "survey", "number": "GEO-77"}
    with pytest.raises(StaleVersion):
        registry.correct_boundary(db, f"{Q}:0070", rect(FAR_X, FAR_Y + 600, 22, 20), srid=32642,
                                  document=doc, expected_version=5)
    res = registry.correct_boundary(db, f"{Q}:0070", rect(FAR_X, FAR_Y + 600, 22, 20),
                                    srid=32642, document=doc, expected_version=1)
    assert res.parcels[0]["area_m2"] == 440 and res.parcels[0]["version"] == 2
    hist = db.execute(text("SELECT version, area_m2 FROM parcel_history WHERE id = :i"),
                      {"i": pid}).all()
    assert [(h[0], float(h[1])) for h in hist] == [(1, 400.0)]
    # overlap with a neighbour: the database's message, nothing changed
    make_parcel(db, f"{Q}:0071", rect(FAR_X + 30, FAR_Y + 600))
    with pytest.raises(TopologyViolation, match=f"overlaps {Q}:0071"):
        registry.correct_boundary(db, f"{Q}:0070", rect(FAR_X, FAR_Y + 600, 40, 20), srid=32642,
                                  document=doc)
    assert count(db, "SELECT version FROM parcel WHERE id = :i", i=pid) == 2


def test_transfer_whole_and_in_shares(db: Connection, owners: tuple[int, int, int]) -> None:
    a, b, c = owners
    pid = make_parcel(db, f"{Q}:0080", rect(FAR_X, FAR_Y + 700), [(a, 1, 1)])
    doc = {"kind": "sale_contract", "number": "N-1"}
    registry.transfer(db, f"{Q}:0080", to=[{"party": b, "share": "1/3"}], from_party=a, document=doc)
    assert shares(db, pid) == pytest.approx({a: 2 / 3, b: 1 / 3})
    registry.transfer(db, f"{Q}:0080", document=doc, from_party="31111111111111",
                      to=[{"party": "31111111111112", "share": "1/6"},
                          {"party": {"pinfl": "31111111111119", "full_name": "Yangi Egasi"},
                           "share": "1/6"}])
    got = shares(db, pid)
    assert Fraction(sum(got.values())).limit_denominator(100) == 1
    assert got[b] == pytest.approx(0.5)  # combined into one right
    with pytest.raises(RuleViolation, match="cannot transfer"):
        registry.transfer(db, f"{Q}:0080", from_party=b, to=[{"party": c, "share": "2/3"}],
                          document=doc)
    with pytest.raises(RuleViolation, match="not 1"):
        registry.transfer(db, f"{Q}:0080", to=[{"party": c, "share": "1/2"}], document=doc)
    registry.transfer(db, f"{Q}:0080", to=[{"party": c, "share": 1}], document=doc)
    assert shares(db, pid) == {c: 1.0}
    ended = count(db, "SELECT count(*) FROM \"right\" WHERE parcel_id = :p AND status = 'ended'",
                  p=pid)
    assert ended >= 4


def test_arrest_blocks_transfer_split_merge(db: Connection, owners: tuple[int, int, int]) -> None:
    a, b, _ = owners
    make_parcel(db, f"{Q}:0090", rect(FAR_X, FAR_Y + 800), [(a, 1, 1)])
    make_parcel(db, f"{Q}:0091", rect(FAR_X + 21, FAR_Y + 800), [(a, 1, 1)])
    arrest = registry.register_arrest(db, f"{Q}:0090", holder="Majburiy ijro byurosi",
                                      registration_number="AR-1",
                                      document={"kind": "arrest_order", "number": "AO-1"})
    rid = arrest.rights[0]["id"]
    with pytest.raises(ArrestActive, match="under arrest AR-1"):
        registry.transfer(db, f"{Q}:0090", to=[{"party": b, "share": 1}], document=DOC)
    with pytest.raises(ArrestActive):
        registry.split_parcel(db, f"{Q}:0090", document=DOC, srid=32642,
                              cut_line=f"LINESTRING({FAR_X + 10} {FAR_Y + 790}, {FAR_X + 10} {FAR_Y + 830})")
    with pytest.raises(ArrestActive):
        registry.merge_parcels(db, [f"{Q}:0091", f"{Q}:0090"], document=DOC)
    registry.lift_arrest(db, rid, document={"kind": "release_order", "number": "RO-1"})
    res = registry.transfer(db, f"{Q}:0090", to=[{"party": b, "share": 1}], document=DOC)
    assert res.kind == "transfer"


def test_encumbrances_register_and_release(db: Connection, owners: tuple[int, int, int]) -> None:
    make_parcel(db, f"{Q}:0100", rect(FAR_X, FAR_Y + 900))
    for kind in ("mortgage", "lease", "servitude"):
        res = registry.register_encumbrance(
            db, f"{Q}:0100", kind, party=owners[2], amount_uzs=1000, registration_number=kind[:2],
            starts_on="2026-01-01", ends_on="2030-01-01",
            document={"number": f"{kind}-1"})
        r = res.rights[0]
        assert r["kind"] == kind and r["status"] == "active" and r["holder"] == "Saidov Bobur"
    rel = registry.release_encumbrance(db, number=f"{Q}:0100", registration_number="mo",
                                       document={"number": "REL-1"})
    assert rel.rights[0]["status"] == "ended"
    kinds = db.execute(text("SELECT kind FROM registry_transaction t WHERE t.id >= :t ORDER BY id"),
                       {"t": rel.transaction_id - 3}).scalars().all()
    assert kinds[-4:] == ["encumbrance_register"] * 3 + ["encumbrance_release"]


def test_document_required_and_district_checked(db: Connection) -> None:
    make_parcel(db, f"{Q}:0110", rect(FAR_X, FAR_Y + 1000))
    from cadastre_gis.errors import InvalidInput

    with pytest.raises(InvalidInput, match="source document"):
        registry.correct_boundary(db, f"{Q}:0110", rect(FAR_X, FAR_Y + 1000, 21, 20), srid=32642)
    other = {"role": "registrar", "district_ids": [2]}
    with pytest.raises(NotAuthorized, match="is in district Yakkasaroy; .* may edit only Chilonzor"):
        registry.correct_boundary(db, f"{Q}:0110", rect(FAR_X, FAR_Y + 1000, 21, 20), srid=32642,
                                  document=DOC, account=other)


def test_split_demo_parcel_with_buildings(db: Connection) -> None:
    """A real demo parcel: children in its quarter, buildings follow, shares still sum to 1."""
    row = db.execute(text("""
        SELECT p.id, p.cadastral_number FROM parcel p
         WHERE p.status = 'active' AND EXISTS (SELECT 1 FROM building b WHERE b.parcel_id = p.id)
           AND NOT EXISTS (SELECT 1 FROM "right" r WHERE r.parcel_id = p.id AND r.kind = 'arrest'
                           AND r.status = 'active')
         ORDER BY p.id LIMIT 1""")).one()
    c = db.execute(text("SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)),"
                        " ST_AsText(ST_Transform(ST_MakeLine(ST_Translate(ST_Centroid(geom), -500, -0.37),"
                        " ST_Translate(ST_Centroid(geom), 500, 0.41)), 4326))"
                        " FROM parcel WHERE id = :i"), {"i": row[0]}).one()
    # a cut through the middle crosses a building: refused, naming it, nothing changed
    before = db.execute(text("SELECT count(*), max(version) FROM parcel WHERE id = :i"),
                        {"i": row[0]}).one()
    with pytest.raises(RuleViolation, match=r"crosses building " + row[1] + ":"):
        registry.split_parcel(db, row[1], cut_line=c[2], srid=4326, document=DOC)
    assert db.execute(text("SELECT count(*), max(version) FROM parcel WHERE id = :i"),
                      {"i": row[0]}).one() == before
    # around the buildings: one child holds them (2 m around), the other the rest
    parts = db.execute(text("""
        WITH p AS (SELECT geom FROM parcel WHERE id = :i),
             a AS (SELECT ST_Intersection((SELECT geom FROM p),
                          ST_Buffer(ST_Union(b.geom), 2, 'join=mitre')) AS g
                     FROM building b WHERE b.parcel_id = :i AND b.status = 'active')
        SELECT ST_AsText(a.g), ST_AsText(ST_Difference((SELECT geom FROM p), a.g)) FROM a"""),
        {"i": row[0]}).one()
    res = registry.split_parcel(db, row[1], parts=list(parts), srid=32642, document=DOC)
    quarter = row[1].rsplit(":", 1)[0]
    # buildings follow the child holding them and take its number
    for p in res.parcels:
        nums = db.execute(text("SELECT cadastral_number FROM building WHERE parcel_id = :i"
                               " AND status = 'active'"), {"i": p["id"]}).scalars().all()
        assert all(n.startswith(p["cadastral_number"] + ":") for n in nums)
    assert all(p["cadastral_number"].startswith(quarter + ":") for p in res.parcels)
    for p in res.parcels:
        assert sum(shares(db, p["id"]).values()) == pytest.approx(1.0)
    moved = count(db, "SELECT count(*) FROM building WHERE parcel_id = :i AND status = 'active'",
                  i=row[0])
    assert moved == 0


def test_split_parcel_valid_from_future_and_future_rights(db: Connection,
                                                          owners: tuple[int, int, int]) -> None:
    """Demo parcels may carry a later valid_from (re-valuation) or a mortgage starting later."""
    pid = db.execute(text(
        "INSERT INTO parcel (cadastral_number, valid_from, geom) VALUES (:n, now() + interval"
        " '200 days', ST_Multi(ST_GeomFromText(:g, 32642))) RETURNING id"),
        {"n": f"{Q}:0120", "g": rect(FAR_X, FAR_Y + 1100, 40, 20)}).scalar_one()
    db.execute(text("INSERT INTO \"right\" (kind, party_id, parcel_id, share_num, share_den,"
                    " starts_on) VALUES ('ownership', :p, :i, 1, 1, current_date + 30)"),
               {"p": owners[0], "i": pid})
    res = registry.split_parcel(db, f"{Q}:0120", document=DOC, srid=32642,
                                cut_line=f"LINESTRING({FAR_X + 20} {FAR_Y + 1090}, {FAR_X + 20} {FAR_Y + 1130})")
    assert len(res.parcels) == 2
    assert db.execute(text("SELECT status FROM parcel WHERE id = :i"), {"i": pid}).scalar() == "retired"
