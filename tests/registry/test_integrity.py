"""Owners survive splits and merges: checked today, tomorrow and next year on the registry clock.

Every check runs after moving the registry clock (``cadastre_clock``) inside the test's
transaction, so "tomorrow" is what every view of the registry (rights in force, extract,
encumbrances, tax, the citizen's holdings) sees the day after the operation.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from cadastre_gis import extracts, migrate, registry, tax
from cadastre_gis.db import get_engine
from cadastre_gis.holdings import HoldingFilter, holdings

from ..conftest import create_database, drop_database
from .helpers import (
    DOC,
    FAR_X,
    FAR_Y,
    in_force_shares,
    make_parcel,
    make_party,
    move_clock,
    rect,
)
from .test_dbroles import connect, login  # noqa: F401 - the login fixture

Q = "10:09:78:01:01"
LATER = ("0", "1 day", "1 year")
OWNER_A, OWNER_B = "31502901230011", "41203851230022"


def _today(db: Connection):  # type: ignore[no-untyped-def]
    return db.execute(text("SELECT cadastre_today()")).scalar_one()


def _names(db: Connection, number: str) -> list[str]:
    now = db.execute(text("SELECT cadastre_now()")).scalar_one()
    body = extracts.assemble(db, number, now)
    return sorted(o["name"] for o in body["owners"])


def _check_owned(db: Connection, child: dict, a: int, b: int) -> None:
    """Owners in force, the extract's owners, the tax and the citizen's holdings."""
    assert in_force_shares(db, child["id"]) == {a: "1/2", b: "1/2"}
    assert _names(db, child["cadastral_number"]) == ["Aliyev Aziz", "Karimova Malika"]
    year = tax.current_year(db)
    db.execute(text("INSERT INTO tax_rate (kind, year, party_kind, min_area, rate_percent,"
                    " due_date) VALUES ('land', :y, 'person', 0, 1.0, make_date(:y, 12, 1))"
                    " ON CONFLICT DO NOTHING"), {"y": year})
    assessed = {r["cadastral_number"] for r in tax.assess(db, a, year) if r["kind"] == "land"}
    assert child["cadastral_number"] in assessed
    held = {h["cadastral_number"] for h in holdings(db, HoldingFilter(b))}
    assert child["cadastral_number"] in held


@pytest.fixture()
def people(db: Connection) -> tuple[int, int]:
    """Two owners."""
    return make_party(db, OWNER_A, "Aliyev Aziz"), make_party(db, OWNER_B, "Karimova Malika")


def _encumber(db: Connection, pid: int) -> None:
    """A mortgage for two years and a lease for thirty days."""
    db.execute(text(
        "INSERT INTO \"right\" (kind, parcel_id, holder, amount_uzs, starts_on, ends_on,"
        " registration_number) VALUES"
        " ('mortgage', :p, 'Xalq banki AT', 500000, cadastre_today() - 10, cadastre_today() + 730, 'M-1'),"
        " ('lease', :p, 'Lessee LLC', NULL, cadastre_today() - 10, cadastre_today() + 30, 'L-1')"),
        {"p": pid})


def test_split_keeps_owners_and_terms_tomorrow_and_next_year(db: Connection, people) -> None:
    a, b = people
    pid = make_parcel(db, f"{Q}:0010", rect(FAR_X, FAR_Y + 3000, 40, 20), [(a, 1, 2), (b, 1, 2)])
    _encumber(db, pid)
    before = {r[0]: r[1] for r in db.execute(text(
        "SELECT kind, ends_on FROM \"right\" WHERE parcel_id = :p"), {"p": pid})}
    today = _today(db)
    res = registry.split_parcel(
        db, f"{Q}:0010", srid=32642, document=DOC,
        cut_line=f"LINESTRING({FAR_X + 15} {FAR_Y + 2990}, {FAR_X + 15} {FAR_Y + 3030})")
    doc = db.execute(text("SELECT source_document_id FROM registry_transaction WHERE id = :t"),
                     {"t": res.transaction_id}).scalar_one()
    for child in res.parcels:
        rows = db.execute(text(
            "SELECT kind, party_id, share_num, share_den, starts_on, ends_on, source_document_id,"
            " transaction_id, status FROM \"right\" WHERE parcel_id = :p ORDER BY kind, party_id"),
            {"p": child["id"]}).mappings().all()
        assert [r["kind"] for r in rows] == ["lease", "mortgage", "ownership", "ownership"]
        for r in rows:
            assert r["status"] == "active" and r["ends_on"] == before[r["kind"]]
            assert r["source_document_id"] == doc and r["transaction_id"] == res.transaction_id
            assert r["starts_on"] == today
        assert [(r["share_num"], r["share_den"]) for r in rows if r["kind"] == "ownership"] \
            == [(1, 2), (1, 2)]
    # the parent's rights end on the operation day
    ended = db.execute(text("SELECT DISTINCT status, ends_on FROM \"right\" WHERE parcel_id = :p"),
                       {"p": pid}).all()
    assert [tuple(e) for e in ended] == [("ended", today)]
    for offset in LATER:
        move_clock(db, offset)
        for child in res.parcels:
            _check_owned(db, child, a, b)
            enc = extracts.active_encumbrances(db, child["cadastral_number"])
            assert enc["mortgaged"]
            lease = db.execute(text(
                "SELECT count(*) FROM \"right\" WHERE parcel_id = :p AND kind = 'lease'"
                " AND status = 'active' AND ends_on >= cadastre_today()"),
                {"p": child["id"]}).scalar_one()
            assert lease == (0 if offset == "1 year" else 1)
        assert in_force_shares(db, pid) == {}


def test_merge_keeps_owners_tomorrow_and_next_year(db: Connection, people) -> None:
    a, b = people
    make_parcel(db, f"{Q}:0020", rect(FAR_X, FAR_Y + 3100, 20, 20), [(a, 1, 2), (b, 1, 2)])
    p2 = make_parcel(db, f"{Q}:0021", rect(FAR_X + 20, FAR_Y + 3100, 20, 20),
                     [(a, 1, 2), (b, 1, 2)])
    _encumber(db, p2)
    res = registry.merge_parcels(db, [f"{Q}:0020", f"{Q}:0021"], document=DOC)
    child = res.parcels[0]
    ends = {r[0]: r[1] for r in db.execute(text(
        "SELECT kind, ends_on FROM \"right\" WHERE parcel_id = :p AND kind <> 'ownership'"),
        {"p": child["id"]})}
    today = _today(db)
    assert ends == {"mortgage": today + timedelta(days=730), "lease": today + timedelta(days=30)}
    for offset in LATER:
        move_clock(db, offset)
        _check_owned(db, child, a, b)
        assert extracts.active_encumbrances(db, child["cadastral_number"])["mortgaged"]


def test_split_then_transfer_next_year(db: Connection, people) -> None:
    """A child split today and sold next year: the buyer owns it from then on."""
    a, b = people
    make_parcel(db, f"{Q}:0030", rect(FAR_X, FAR_Y + 3200, 40, 20), [(a, 1, 2), (b, 1, 2)])
    res = registry.split_parcel(
        db, f"{Q}:0030", srid=32642, document=DOC,
        cut_line=f"LINESTRING({FAR_X + 20} {FAR_Y + 3190}, {FAR_X + 20} {FAR_Y + 3230})")
    child = res.parcels[0]
    move_clock(db, "1 year")
    buyer = make_party(db, "51505071230033", "Saidov Bobur")
    registry.transfer(db, child["cadastral_number"], to=[{"party": buyer, "share": "1"}],
                      document={"kind": "sale_contract", "number": "S-9"})
    assert in_force_shares(db, child["id"]) == {buyer: "1"}
    move_clock(db, "2 years")
    assert in_force_shares(db, child["id"]) == {buyer: "1"}
    assert in_force_shares(db, res.parcels[1]["id"]) == {a: "1/2", b: "1/2"}


def test_timeline_shows_transfers_and_encumbrances(db: Connection, people) -> None:
    a, b = people
    make_parcel(db, f"{Q}:0040", rect(FAR_X, FAR_Y + 3300), [(a, 1, 1)])
    move_clock(db, "1 hour")
    registry.transfer(db, f"{Q}:0040", to=[{"party": b, "share": "1/2"}], from_party=a,
                      document={"kind": "sale_contract", "number": "S-1"})
    move_clock(db, "2 hours")
    reg = registry.register_encumbrance(db, f"{Q}:0040", "mortgage", holder="Bank",
                                        document={"number": "M-7"})
    move_clock(db, "3 hours")
    registry.release_encumbrance(db, reg.rights[0]["id"], document={"number": "R-7"})
    events = [(e["tx_kind"], e["doc_number"]) for e in registry.timeline(db, f"{Q}:0040")
              if e["event"] == "rights"]
    assert events == [("transfer", "S-1"), ("encumbrance_register", "M-7"),
                      ("encumbrance_release", "R-7")]
    summary = [e["summary"] for e in registry.timeline(db, f"{Q}:0040") if e["event"] == "rights"]
    assert "Karimova Malika 1/2" in summary[0] and "mortgage" in summary[1]


def test_successive_steps_have_distinct_lifespans(db: Connection) -> None:
    """One transaction, three steps an hour apart on the clock: three distinct versions."""
    make_parcel(db, f"{Q}:0050", rect(FAR_X, FAR_Y + 3400, 20, 20))
    for i, offset in enumerate(("1 hour", "2 hours"), start=1):
        move_clock(db, offset)
        registry.correct_boundary(db, f"{Q}:0050", rect(FAR_X, FAR_Y + 3400, 20 + i, 20),
                                  srid=32642, document={"number": f"SV-{i}"})
    versions = [(v["version"], v["valid_from"], v["valid_to"], v["area_m2"])
                for v in registry.timeline(db, f"{Q}:0050") if v["event"] == "version"]
    assert [v[0] for v in versions] == [1, 2, 3]
    starts = [v[1] for v in versions]
    assert starts == sorted(set(starts))  # strictly increasing
    assert versions[0][2] == versions[1][1] and versions[1][2] == versions[2][1]
    # the state as of the middle step is the middle version
    mid = db.execute(text("SELECT cadastre_now() - interval '30 minutes'")).scalar_one()
    assert extracts.parcel_version(db, f"{Q}:0050", mid)["area_m2"] == pytest.approx(420)


def test_app_connections_follow_the_clock(clock, settings) -> None:  # type: ignore[no-untyped-def]
    with get_engine(settings).connect() as c:
        today = c.execute(text("SELECT cadastre_today()")).scalar_one()
    clock.set("1 year")
    with get_engine(settings).connect() as c:
        later = c.execute(text("SELECT cadastre_today()")).scalar_one()
    assert (later - today).days in (365, 366)


def test_only_the_owner_moves_the_clock(settings, login) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    conn = connect(settings, login)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT cadastre_today()")
            assert cur.fetchone()[0] is not None
            with pytest.raises(psycopg2.Error) as info:
                cur.execute("UPDATE cadastre_clock SET offset_by = interval '-1 year'")
        conn.rollback()
        assert "permission denied" in str(info.value)
        # a registrar's insert cannot choose its lifespan: it starts now on the clock
        with conn.cursor() as cur:
            cur.execute("INSERT INTO source_document (kind, number) VALUES ('other', 'X')"
                        " RETURNING id")
            cur.execute("SELECT now() - interval '5 years'")
            back = cur.fetchone()[0]
            cur.execute(
                "INSERT INTO parcel (cadastral_number, valid_from, geom) VALUES"
                " ('10:09:79:79:79:0001', %s, ST_Multi(ST_GeomFromText(%s, 32642)))"
                " RETURNING valid_from, cadastre_now()",
                (back, rect(FAR_X + 500, FAR_Y + 3500)))
            vf, now = cur.fetchone()
            assert vf == now
        conn.rollback()
    finally:
        conn.close()


def test_migration_restores_end_dates(server_url: str) -> None:
    """0008 repairs rights carried by the old split (end date = the operation day)."""
    url = create_database(server_url, "cadastre_mig08")
    eng = create_engine(url)
    try:
        migrate.upgrade(url, "0007")
        with eng.begin() as c:
            party = c.execute(text("INSERT INTO party (kind, full_name, pinfl) VALUES"
                                   " ('person', 'A', '31502901230011') RETURNING id")).scalar_one()
            p = make_parcel(c, f"{Q}:0001", rect(FAR_X, FAR_Y), [(party, 1, 1)])
            c.execute(text("INSERT INTO \"right\" (kind, parcel_id, holder, starts_on, ends_on)"
                           " VALUES ('lease', :p, 'L', '2026-01-01', '2031-01-01')"), {"p": p})
            t = c.execute(text("INSERT INTO registry_transaction (kind) VALUES ('split')"
                               " RETURNING id")).scalar_one()
            c.execute(text("UPDATE parcel SET status = 'retired', transaction_id = :t"
                           " WHERE id = :p"), {"t": t, "p": p})
            kid = make_parcel(c, f"{Q}:0002", rect(FAR_X, FAR_Y))
            c.execute(text("INSERT INTO parcel_lineage (parent_id, child_id, kind, transaction_id)"
                           " VALUES (:p, :k, 'split', :t)"), {"p": p, "k": kid, "t": t})
            # the old _carry_rights: end on the parent, then copy (end date included)
            ended = c.execute(text(
                "UPDATE \"right\" SET status = 'ended', ends_on = greatest(current_date, starts_on),"
                " transaction_id = :t WHERE parcel_id = :p RETURNING id"),
                {"t": t, "p": p}).scalars().all()
            c.execute(text(
                "INSERT INTO \"right\" (kind, party_id, share_num, share_den, holder, starts_on,"
                " ends_on, parcel_id, transaction_id) SELECT kind, party_id, share_num, share_den,"
                " holder, starts_on, ends_on, :k, :t FROM \"right\" WHERE id = ANY(:e)"),
                {"k": kid, "t": t, "e": list(ended)})
        migrate.upgrade(url)
        with eng.connect() as c:
            got = dict(c.execute(text("SELECT kind, ends_on FROM \"right\" WHERE parcel_id = :k"
                                      " AND status = 'active'"), {"k": kid}).all())
        assert got["ownership"] is None and str(got["lease"]) == "2031-01-01"
    finally:
        eng.dispose()
        drop_database(server_url, url)


def test_incident_deadlines_follow_the_clock(db: Connection) -> None:
    """Situation center: a new incident is overdue once the registry clock passes its deadline."""
    cat, hours = db.execute(text("SELECT code, deadline_hours FROM incident_category"
                                 " WHERE public ORDER BY code LIMIT 1")).one()
    iid = db.execute(text(
        "INSERT INTO incident (category, geom) SELECT :c, ST_PointOnSurface(geom) FROM district"
        " WHERE id = 9 RETURNING id"), {"c": cat}).scalar_one()
    reported, deadline = db.execute(text("SELECT reported_at, deadline FROM incident WHERE id = :i"),
                                    {"i": iid}).one()
    assert reported == db.execute(text("SELECT cadastre_now()")).scalar_one()
    overdue = "SELECT overdue FROM ogc_public_incident WHERE id = :i"
    assert db.execute(text(overdue), {"i": iid}).scalar_one() is False
    move_clock(db, f"{hours + 1} hours")
    assert db.execute(text(overdue), {"i": iid}).scalar_one() is True


def test_notary_extract_next_year_over_http(clock, client, engine, settings) -> None:  # type: ignore[no-untyped-def]
    """A parcel split today: a year later (the app's clock too) the notary's signed extract
    of each child still names both owners and the mortgage."""
    import json as _json
    import uuid

    from cadastre_gis import accounts

    from .helpers import free_y_of

    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:85"
    y = free_y_of(engine)
    with engine.begin() as c:
        a = make_party(c, f"3150290{uuid.uuid4().int % 10**7:07d}", "Aliyev Aziz")
        b = make_party(c, f"4120385{uuid.uuid4().int % 10**7:07d}", "Karimova Malika")
        pid = make_parcel(c, f"{q}:0001", rect(FAR_X, y, 40, 20), [(a, 1, 2), (b, 1, 2)])
        _encumber(c, pid)
        res = registry.split_parcel(c, f"{q}:0001", srid=32642, document=DOC,
                                    cut_line=f"LINESTRING({FAR_X + 20} {y - 5}, {FAR_X + 20} {y + 25})")
    token = accounts.create_token(settings, "notary", label="pytest-next-year")
    clock.set("1 year")
    for child in res.parcels:
        r = client.post("/ogc/processes/parcel-extract/execution",
                        data=_json.dumps({"inputs": {"cadastral_number": child["cadastral_number"],
                                                     "case_number": "N-2027/1"}}),
                        headers={"Content-Type": "application/json",
                                 "Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.get_data(as_text=True)
        content = r.get_json()["extract"]
        assert sorted(o["name"] for o in content["owners"]) == ["Aliyev Aziz", "Karimova Malika"]
        kinds = [e["kind"] for e in content["encumbrances"]]
        assert kinds.count("mortgage") == 1 and "lease" not in kinds  # the lease ran 30 days
