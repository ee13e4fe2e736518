"""The registry operations as OGC API Processes: who may run them, results, errors."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from .helpers import FAR_X, free_y_of, make_parcel, make_party, rect

REGISTRAR = "Basic " + base64.b64encode(b"registrar:registrar-demo-2026").decode()
CITIZEN = "Basic " + base64.b64encode(b"citizen:citizen-demo-2026").decode()
DOC = {"kind": "hokim_decision", "number": "P-1"}


@pytest.fixture()
def parcels(engine: Engine) -> dict[str, str]:
    """Two committed neighbour parcels with one owner in a fresh quarter of district 09."""
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:99"
    y = free_y_of(engine)
    with engine.begin() as c:
        party = make_party(c, f"3{uuid.uuid4().int % 10**13:013d}")
        make_parcel(c, f"{q}:0001", rect(FAR_X, y, 40, 20), [(party, 1, 1)])
        make_parcel(c, f"{q}:0002", rect(FAR_X + 41, y, 20, 20), [(party, 1, 1)])
    return {"q": q, "a": f"{q}:0001", "b": f"{q}:0002", "x": str(FAR_X), "y": str(y)}


def run(client, pid: str, inputs: dict, auth: str | None = REGISTRAR):  # type: ignore[no-untyped-def]
    headers = {"Authorization": auth} if auth else {}
    return client.post(f"/ogc/processes/{pid}/execution", json={"inputs": inputs},
                       headers=headers)


def test_processes_listed(client) -> None:  # type: ignore[no-untyped-def]
    ids = {p["id"] for p in client.get("/ogc/processes?f=json").get_json()["processes"]}
    assert {"parcel-split", "parcel-merge", "boundary-correction", "right-transfer",
            "encumbrance-register", "encumbrance-release"} <= ids


def test_only_registrars(client, parcels) -> None:  # type: ignore[no-untyped-def]
    inputs = {"cadastral_number": parcels["a"], "document": DOC, "kind": "servitude",
              "holder": "Suvsoqova"}
    assert run(client, "encumbrance-register", inputs, auth=None).status_code == 401
    assert run(client, "encumbrance-register", inputs, auth=CITIZEN).status_code == 403


def test_split_via_process_in_metres(client, parcels, engine) -> None:  # type: ignore[no-untyped-def]
    x, y = float(parcels["x"]), float(parcels["y"])
    inputs = {"cadastral_number": parcels["a"], "crs": "EPSG:32642", "document": DOC,
              "cut_line": {"type": "LineString", "coordinates": [[x + 10, y - 5], [x + 10, y + 25]]}}
    dry = run(client, "parcel-split", {**inputs, "dry_run": True})
    assert dry.status_code == 200, dry.get_data(as_text=True)
    assert dry.get_json()["transaction_id"] is None
    r = run(client, "parcel-split", inputs)
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert [p["area_m2"] for p in body["parcels"]] == [200.0, 600.0]
    assert all(p["cadastral_number"].startswith(parcels["q"]) for p in body["parcels"])
    with engine.connect() as c:
        actor = c.execute(text("SELECT actor FROM registry_transaction WHERE id = :t"),
                          {"t": body["transaction_id"]}).scalar()
        assert actor == "registrar:registrar"
        audit = c.execute(text("SELECT DISTINCT actor FROM audit_log WHERE table_name = 'parcel'"
                               " AND row_id = :i"), {"i": body["parcels"][0]["id"]}).scalars().all()
        assert audit == ["registrar:registrar"]
    # the parent is retired now: a second split is a 409 naming its successors
    again = run(client, "parcel-split", inputs)
    assert again.status_code == 409, again.get_data(as_text=True)
    for p in body["parcels"]:
        assert p["cadastral_number"] in again.get_data(as_text=True)


def test_arrest_blocks_transfer_409(client, parcels) -> None:  # type: ignore[no-untyped-def]
    r = run(client, "encumbrance-register", {
        "cadastral_number": parcels["b"], "kind": "arrest", "holder": "Test court 9",
        "registration_number": "AR-9", "document": {"kind": "arrest_order", "number": "A-9"}})
    assert r.status_code == 200, r.get_data(as_text=True)
    rid = r.get_json()["rights"][0]["id"]
    t = run(client, "right-transfer", {
        "cadastral_number": parcels["b"], "document": {"kind": "sale_contract", "number": "S-1"},
        "to": [{"party": {"pinfl": "31502901239991", "full_name": "Yangi Ega"}, "share": "1"}]})
    assert t.status_code == 409
    assert "under arrest AR-9" in t.get_data(as_text=True)
    lift = run(client, "encumbrance-release", {"right_id": rid,
                                               "document": {"kind": "release_order", "number": "R-9"}})
    assert lift.status_code == 200
    t2 = run(client, "right-transfer", {
        "cadastral_number": parcels["b"], "document": {"kind": "sale_contract", "number": "S-2"},
        "to": [{"party": {"pinfl": "31502901239991", "full_name": "Yangi Ega"}, "share": "1/2"},
               {"party": {"pinfl": "31502901239992", "full_name": "Ikkinchi Ega"}, "share": "1/2"}]})
    assert t2.status_code == 200, t2.get_data(as_text=True)


def test_bad_input_400_and_outside_district_403(client, engine) -> None:  # type: ignore[no-untyped-def]
    r = run(client, "parcel-merge", {"cadastral_numbers": ["10:9:1"], "document": DOC})
    assert r.status_code == 400
    with engine.connect() as c:
        other = c.execute(text("SELECT cadastral_number FROM parcel WHERE status = 'active' AND"
                               " district_id <> 9 ORDER BY id LIMIT 1")).scalar()
    r = run(client, "encumbrance-register", {"cadastral_number": other, "kind": "servitude",
                                             "holder": "X", "document": DOC})
    assert r.status_code == 403
    assert "may edit only" in r.get_data(as_text=True)
