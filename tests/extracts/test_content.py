"""Extract content against the database: owners and shares, encumbrances, as-of, lineage,
signatures and key rotation."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from fractions import Fraction

import pytest
from sqlalchemy import text

from cadastre_gis import extracts, keys, signing
from cadastre_gis.errors import InvalidInput, NotFound

NOTARY = {"id": None, "username": "notary", "role": "notary", "full_name": "Notarius"}


def _notary(db) -> dict:  # type: ignore[no-untyped-def]
    acc_id = db.execute(text("SELECT id FROM account WHERE username = 'notary'")).scalar_one()
    return {**NOTARY, "id": acc_id}


def test_owners_shares_and_encumbrances_match_database(db) -> None:  # type: ignore[no-untyped-def]
    number, pid = db.execute(text("""
        SELECT p.cadastral_number, p.id FROM parcel p JOIN "right" r ON r.parcel_id = p.id
         WHERE p.status = 'active' AND r.kind = 'ownership' AND r.status = 'active'
           AND r.share_den = 3
           AND EXISTS (SELECT 1 FROM building b WHERE b.parcel_id = p.id)
         ORDER BY p.id LIMIT 1""")).one()
    content = extracts.assemble(db, number, extracts.parse_as_of(None))
    owners = content["owners"]
    assert len(owners) >= 2
    assert sum(Fraction(o["share"]) for o in owners) == 1
    assert content["shares_total"] == "1"
    expected = {(r.full_name, r.pinfl or r.inn, f"{r.share_num}/{r.share_den}") for r in db.execute(text("""
        SELECT pa.full_name, pa.pinfl, pa.inn, r.share_num, r.share_den FROM "right" r
          JOIN party pa ON pa.id = r.party_id
         WHERE r.parcel_id = :p AND r.kind = 'ownership' AND r.status = 'active'"""), {"p": pid})}
    got = {(o["name"], o["identifier"]["value"], o["share"]) for o in owners}
    assert got == {(n, i, str(Fraction(s))) for n, i, s in expected}
    assert content["buildings"] and content["buildings"][0]["owners"]
    assert content["parcel"]["cadastral_number"] == number
    p = db.execute(text("SELECT address, area_m2, cadastral_value FROM parcel WHERE id = :p"),
                   {"p": pid}).one()
    assert content["parcel"]["address"] == p.address
    assert content["parcel"]["area_m2"] == round(float(p.area_m2), 2)
    assert content["parcel"]["cadastral_value_uzs"] == f"{p.cadastral_value:.2f}"
    plan = content["plan"]
    assert len(plan["boundary_points"]) >= 4 and plan["neighbours"]
    pt = plan["boundary_points"][0]
    assert 4_000_000 < pt["x"] < 5_000_000 and 12_000_000 < pt["y"] < 13_000_000  # SK-42 zone 12
    assert 41.1 < pt["lat"] < 41.5 and 69.1 < pt["lon"] < 69.5


@pytest.mark.parametrize("kind", ["arrest", "mortgage", "lease", "servitude"])
def test_encumbrances_are_complete(db, kind: str) -> None:  # type: ignore[no-untyped-def]
    row = db.execute(text("""
        SELECT p.cadastral_number, p.id FROM parcel p JOIN "right" r ON r.parcel_id = p.id
         WHERE p.status = 'active' AND r.kind = :k AND r.status = 'active'
         ORDER BY p.id LIMIT 1"""), {"k": kind}).first()
    if row is None:
        pytest.skip(f"the demo has no {kind}")
    # add a second encumbrance on the parcel's building to see it listed too
    bid = db.execute(text("SELECT id FROM building WHERE parcel_id = :p LIMIT 1"),
                     {"p": row.id}).scalar()
    if bid is not None:
        db.execute(text("""INSERT INTO "right" (kind, parcel_id, building_id, holder,
                           registration_number, starts_on, valid_from, source_document_id)
                           VALUES ('servitude', NULL, :b, 'Test holder', 'SV-TEST', '2020-01-01',
                           '2020-01-01', (SELECT min(id) FROM source_document))"""), {"b": bid})
    expected = {(r.kind, r.registration_number) for r in db.execute(text("""
        SELECT kind, registration_number FROM "right"
         WHERE kind <> 'ownership' AND status = 'active'
           AND (parcel_id = :p OR building_id IN (SELECT id FROM building WHERE parcel_id = :p))"""),
        {"p": row.id})}
    content = extracts.assemble(db, row.cadastral_number, extracts.parse_as_of(None))
    got = {(e["kind"], e["registration_number"]) for e in content["encumbrances"]}
    assert got == expected and any(k == kind for k, _n in got)
    for e in content["encumbrances"]:
        assert e["starts_on"] and e["document"] and e["holder"]


def test_as_of_returns_historic_owners(db) -> None:  # type: ignore[no-untyped-def]
    row = db.execute(text("""
        SELECT p.cadastral_number, r.valid_from, r.valid_to, pa.full_name
          FROM "right" r JOIN parcel p ON p.id = r.parcel_id JOIN party pa ON pa.id = r.party_id
         WHERE r.kind = 'ownership' AND r.status = 'ended' AND r.valid_to IS NOT NULL
           AND p.status = 'active'
         ORDER BY p.id LIMIT 1""")).one()
    then = row.valid_to - timedelta(days=1)
    old = extracts.assemble(db, row.cadastral_number, then)
    assert [o["name"] for o in old["owners"]] == [row.full_name]
    assert old["shares_total"] == "1"
    now = extracts.assemble(db, row.cadastral_number, extracts.parse_as_of(None))
    assert row.full_name not in [o["name"] for o in now["owners"]] or len(now["owners"]) > 1
    assert sum(Fraction(o["share"]) for o in now["owners"]) == 1
    # before the parcel existed there is nothing to extract
    with pytest.raises(NotFound):
        extracts.assemble(db, row.cadastral_number, row.valid_from - timedelta(days=20000))


def test_as_of_uses_parcel_history(db) -> None:  # type: ignore[no-untyped-def]
    row = db.execute(text("""
        SELECT h.cadastral_number, h.cadastral_value AS old_value, h.valid_from, h.valid_to,
               p.cadastral_value AS new_value
          FROM parcel_history h JOIN parcel p ON p.id = h.id
         WHERE h.cadastral_value <> p.cadastral_value AND p.valid_from < now() - interval '2 days'
         ORDER BY h.id LIMIT 1""")).one()
    # pick an instant when the parcel existed in version 1 and had owners
    then = row.valid_to - timedelta(days=1)
    old = extracts.assemble(db, row.cadastral_number, then)
    assert old["parcel"]["cadastral_value_uzs"] == f"{row.old_value:.2f}"
    assert old["parcel"]["version"] == 1
    now = extracts.assemble(db, row.cadastral_number, extracts.parse_as_of(None))
    assert now["parcel"]["cadastral_value_uzs"] == f"{row.new_value:.2f}"


def test_lineage_lists_previous_numbers(db) -> None:  # type: ignore[no-untyped-def]
    row = db.execute(text("""
        SELECT c.cadastral_number, array_agg(p.cadastral_number ORDER BY p.cadastral_number) AS parents
          FROM parcel_lineage l JOIN parcel c ON c.id = l.child_id JOIN parcel p ON p.id = l.parent_id
         WHERE l.kind = 'merge' GROUP BY c.cadastral_number ORDER BY 1 LIMIT 1""")).one()
    content = extracts.assemble(db, row.cadastral_number, extracts.parse_as_of(None))
    prev = sorted(x["cadastral_number"] for x in content["lineage"]["previous_numbers"])
    assert prev == sorted(set(row.parents))


def test_input_validation(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        extracts.check_case_number("  ")
    with pytest.raises(InvalidInput):
        extracts.check_number("10:09:03")
    with pytest.raises(InvalidInput):
        extracts.parse_as_of("2999-01-01")
    with pytest.raises(InvalidInput):
        extracts.parse_as_of("yesterday")
    with pytest.raises(NotFound):
        extracts.assemble(db, "10:09:99:99:99:9999", extracts.parse_as_of(None))


def test_signature_verifies_and_one_byte_change_fails(db, settings) -> None:  # type: ignore[no-untyped-def]
    number = db.execute(text("SELECT cadastral_number FROM parcel WHERE status = 'active'"
                             " ORDER BY id LIMIT 1")).scalar_one()
    issued = extracts.issue(db, settings, account=_notary(db), cadastral_number=number,
                            case_number="N-2026/0001", purpose="sale")
    data = issued.canonical
    assert data == signing.canonical(issued.content)
    assert b" " not in data.split(b'"')[0] and data.startswith(b'{"as_of"')
    assert signing.verify_bytes(settings, data, issued.signature)
    for pos in (0, len(data) // 2, len(data) - 1):
        changed = bytearray(data)
        changed[pos] ^= 0x01
        assert not signing.verify_bytes(settings, bytes(changed), issued.signature)
    # document-level checks
    assert extracts.verify_document(db, settings, issued.content, issued.signature)["result"] == "authentic"
    forged = {**issued.content, "shares_total": "1/2"}
    assert extracts.verify_document(db, settings, forged, issued.signature)["result"] == "tampered"
    ghost = {**issued.content, "extract_number": "EX-2026-9999999-ZZZZ"}
    assert extracts.verify_document(db, settings, ghost, issued.signature)["result"] == "unknown"
    # fees recorded as configured; the row is immutable
    fees = db.execute(text("SELECT state_duty_uzs, service_fee_uzs FROM extract WHERE number = :n"),
                      {"n": issued.number}).one()
    assert (int(fees[0]), int(fees[1])) == (settings.state_duty_uzs, settings.service_fee_uzs)
    log = db.execute(text("SELECT outcome, case_number, username FROM extract_request_log"
                          " WHERE extract_number = :n"), {"n": issued.number}).one()
    assert tuple(log) == ("issued", "N-2026/0001", "notary")
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="only its revocation may change"):
        with db.begin_nested():
            db.execute(text("UPDATE extract SET case_number = 'x' WHERE number = :n"),
                       {"n": issued.number})


def test_key_rotation_keeps_old_extracts_verifiable(db, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = replace(settings, data_dir=tmp_path)
    number = db.execute(text("SELECT cadastral_number FROM parcel WHERE status = 'active'"
                             " ORDER BY id LIMIT 1 OFFSET 5")).scalar_one()
    first = extracts.issue(db, s, account=_notary(db), cadastral_number=number, case_number="R-1")
    old_kid, new_kid = keys.store(s).rotate()
    assert old_kid == first.signature["key_id"] and new_kid != old_kid
    assert not (tmp_path / "keys" / f"{old_kid}.key").exists()  # old private key is gone
    second = extracts.issue(db, s, account=_notary(db), cadastral_number=number, case_number="R-2")
    assert second.signature["key_id"] == new_kid
    assert extracts.public_status(db, s, first.number)["valid"] is True
    assert extracts.public_status(db, s, second.number)["valid"] is True
    assert extracts.verify_document(db, s, first.content, first.signature)["result"] == "authentic"
    jwks = keys.store(s).jwks()["keys"]
    assert [k["kid"] for k in jwks] == [new_kid, old_kid]
    assert jwks[0]["status"] == "current" and jwks[1]["status"] == "retired"


def test_keys_cli_rotate_and_list(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    monkeypatch.setenv("CADASTRE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    r1 = runner.invoke(keys.keys, ["rotate"])
    assert r1.exit_code == 0, r1.output
    r2 = runner.invoke(keys.keys, ["rotate"])
    assert "retired" in r2.output
    listing = runner.invoke(keys.keys, ["list"]).output.strip().splitlines()
    assert len(listing) == 2 and listing[1].startswith("*")
    assert len(list((tmp_path / "keys").glob("*.pub"))) == 2
    assert len(list((tmp_path / "keys").glob("*.key"))) == 1


def test_shares_sum_to_one_across_many_parcels(db) -> None:  # type: ignore[no-untyped-def]
    rows = db.execute(text("""
        SELECT p.cadastral_number, count(r.id) AS n FROM parcel p
          JOIN "right" r ON r.parcel_id = p.id AND r.kind = 'ownership' AND r.status = 'active'
         WHERE p.status = 'active' GROUP BY p.id, p.cadastral_number
         ORDER BY md5(p.cadastral_number) LIMIT 40""")).all()
    now = extracts.parse_as_of(None)
    for number, n in rows:
        content = extracts.assemble(db, number, now)
        assert len(content["owners"]) == n, number
        assert sum(Fraction(o["share"]) for o in content["owners"]) == 1, number
        assert content["shares_total"] == "1"


def test_retired_parcel_as_of_its_lifetime(db) -> None:  # type: ignore[no-untyped-def]
    row = db.execute(text("""
        SELECT p.cadastral_number, p.valid_from, p.valid_to, c.cadastral_number AS child
          FROM parcel p JOIN parcel_lineage l ON l.parent_id = p.id JOIN parcel c ON c.id = l.child_id
         WHERE p.status = 'retired' ORDER BY p.id LIMIT 1""")).one()
    with pytest.raises(NotFound, match="not registered"):
        extracts.assemble(db, row.cadastral_number, extracts.parse_as_of(None))
    then = row.valid_to - timedelta(days=1)
    content = extracts.assemble(db, row.cadastral_number, then)
    assert content["parcel"]["status"] == "active"
    assert content["parcel"]["retired_at"] is not None
    assert row.child in [s["cadastral_number"] for s in content["lineage"]["successor_numbers"]]


def test_revoked_extract_is_no_longer_valid(db, settings) -> None:  # type: ignore[no-untyped-def]
    number = db.execute(text("SELECT cadastral_number FROM parcel WHERE status = 'active'"
                             " ORDER BY id LIMIT 1 OFFSET 3")).scalar_one()
    issued = extracts.issue(db, settings, account=_notary(db), cadastral_number=number,
                            case_number="REV-1")
    assert extracts.public_status(db, settings, issued.number)["valid"] is True
    extracts.revoke(db, issued.number, "issued for the wrong parcel")
    status = extracts.public_status(db, settings, issued.number)
    assert status["valid"] is False and status["status"] == "revoked"
    res = extracts.verify_document(db, settings, issued.content, issued.signature)
    assert res["result"] == "tampered" and "revoked" in res["reason"]
    with pytest.raises(InvalidInput):
        extracts.revoke(db, issued.number, "again")
    with pytest.raises(NotFound):
        extracts.revoke(db, "EX-2026-0999999-ZZZZ", "nope")
