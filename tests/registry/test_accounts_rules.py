"""Accounts fail closed (registrar districts), PINFL structure, and the transfer preview's party."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cadastre_gis import accounts, registry
from cadastre_gis.cli import cli
from cadastre_gis.errors import InvalidInput
from cadastre_gis.pinfl import birth_date, check_pinfl
from cadastre_gis.policy import may_edit_district

from .helpers import DOC, FAR_X, FAR_Y, free_y_of, make_parcel, make_party, rect
from .test_staff import login as staff_login


def test_pinfl_structure() -> None:
    today = date(2026, 12, 3)
    assert str(birth_date("31502901230011")) == "1990-02-15"
    assert str(birth_date("61201051230011")) == "2005-01-12"
    assert check_pinfl(" 41203851230022 ", today) == "41203851230022"
    for bad, why in (("3150290123001", "14 digits"), ("3150290123001x", "14 digits"),
                     ("71502901230011", "first digit"), ("33102901230011", "birth date"),
                     ("31513901230011", "birth date"), ("63112991230011", "future")):
        with pytest.raises(InvalidInput, match=why):
            check_pinfl(bad, today)


def test_registrar_needs_districts_or_all(settings, db: Connection) -> None:  # type: ignore[no-untyped-def]
    name = f"reg_{uuid.uuid4().hex[:6]}"
    with pytest.raises(InvalidInput, match="--district .* --all-districts"):
        accounts.add_user(settings, name, "registrar", "long-password", conn=db)
    with pytest.raises(InvalidInput, match="not both"):
        accounts.add_user(settings, name, "registrar", "long-password", districts=["09"],
                          all_districts=True, conn=db)
    with pytest.raises(InvalidInput, match="for registrar accounts"):
        accounts.add_user(settings, name, "notary", "long-password", districts=["09"], conn=db)
    with pytest.raises(InvalidInput, match="needs --pinfl"):
        accounts.add_user(settings, name, "citizen", "long-password", conn=db)
    with pytest.raises(InvalidInput, match="birth date"):
        accounts.add_user(settings, name, "citizen", "long-password", pinfl="31234567890129",
                          conn=db)
    city = accounts.add_user(settings, name, "registrar", "long-password", all_districts=True,
                             conn=db)
    assert city["districts"] == db.execute(text("SELECT array_agg(id ORDER BY id) FROM district")
                                           ).scalar_one()
    one = accounts.add_user(settings, name + "x", "registrar", "long-password",
                            districts=["Yakkasaroy"], conn=db)
    assert one["districts"] == [9]
    # an account that somehow has no district edits nothing (fails closed)
    assert not may_edit_district("registrar", [], 9)
    assert may_edit_district("registrar", [9], 9) and may_edit_district("admin", [], 9)


def test_cli_refuses_registrar_without_district(settings) -> None:  # type: ignore[no-untyped-def]
    env = {"CADASTRE_DATABASE_URL": str(settings.database_url),
           "CADASTRE_DATA_DIR": str(settings.data_dir)}
    r = CliRunner().invoke(cli, ["users", "add", f"reg_{uuid.uuid4().hex[:6]}", "--role",
                                 "registrar"], input="long-password\n", env=env)
    assert r.exit_code != 0 and "--all-districts" in r.output


def test_transfer_preview_names_the_person_found(db: Connection) -> None:
    seller = make_party(db, "31502901230077", "Aliyev Aziz")
    buyer = make_party(db, "41203851230088", "Karimova Malika")
    make_parcel(db, "10:09:78:02:01:0001", rect(FAR_X, FAR_Y + 3600), [(seller, 1, 1)])
    res = registry.transfer(db, "10:09:78:02:01:0001", dry_run=True, document=DOC,
                            to=[{"party": "41203851230088", "share": "1"}])
    assert res.transaction_id is None
    assert "Karimova Malika (PINFL 41203851230088, born 1985-03-12) 1" in res.message
    found = {p["id"]: p for p in res.parties}
    assert found[buyer]["share_after"] == "1" and found[seller]["share_before"] == "1"
    # a mistyped PINFL of someone unknown is refused before anything is registered
    with pytest.raises(InvalidInput, match="birth date"):
        registry.transfer(db, "10:09:78:02:01:0001", dry_run=True, document=DOC,
                          to=[{"party": {"pinfl": "31234567890129", "full_name": "X"}}])


def test_staff_preview_shows_the_person(client, engine) -> None:  # type: ignore[no-untyped-def]
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:86"
    y = free_y_of(engine)
    pinfl = f"3150290{uuid.uuid4().int % 10**7:07d}"
    with engine.begin() as c:
        seller = make_party(c, f"4120385{uuid.uuid4().int % 10**7:07d}", "Sotuvchi")
        make_parcel(c, f"{q}:0001", rect(FAR_X, y), [(seller, 1, 1)])
        make_party(c, pinfl, "Xaridor Xasanov")
    token = staff_login(client)
    r = client.post(f"/staff/api/preview/{q}:0001/transfer", headers={"X-CSRF-Token": token},
                    data={"recipients": f"{pinfl} 1", "doc_number": "S-5", "csrf_token": token})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()["result"]
    assert "Xaridor Xasanov" in body["message"] and "born 1990-02-15" in body["message"]
    assert any(p["pinfl"] == pinfl for p in body["parties"])
    assert json.dumps(body)
