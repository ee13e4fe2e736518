"""Registrar previews: the future tense, owners and shares before and after, labels not codes."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.registry.helpers import FAR_X, free_y_of, make_parcel, make_party, rect

REGISTRAR = {"Authorization": "Basic " + base64.b64encode(b"registrar:registrar-demo-2026").decode()}


@pytest.fixture()
def owned(engine: Engine) -> tuple[str, str]:
    """A committed parcel with one owner (number, owner's name)."""
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:56"
    name = f"Ega {uuid.uuid4().hex[:6]}"
    y = free_y_of(engine)
    with engine.begin() as c:
        party = make_party(c, f"3{uuid.uuid4().int % 10**13:013d}", name)
        make_parcel(c, f"{q}:0001", rect(FAR_X, y, 40, 20), [(party, 1, 1)])
    return f"{q}:0001", name


def _state(engine: Engine, number: str) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT r.party_id, r.share_num, r.share_den, r.status FROM \"right\" r"
            " JOIN parcel p ON p.id = r.parcel_id WHERE p.cadastral_number = :n ORDER BY r.id"),
            {"n": number})]


def test_transfer_preview_owners_before_and_after(client, engine, owned) -> None:  # type: ignore[no-untyped-def]
    number, seller = owned
    before = _state(engine, number)
    r = client.post(f"/staff/api/preview/{number}/transfer?lang=ru", headers=REGISTRAR, data={
        "recipients": "31234567890129 1/2 Birinchi Xaridor\n31234567890137 1/2 Ikkinchi Xaridor",
        "doc_number": "S-9", "doc_kind": "sale_contract"})
    assert r.status_code == 200, r.get_data(as_text=True)
    pv = r.get_json()["preview"]
    assert "перейдёт" in pv["sentence"] and number in pv["sentence"]  # future tense, Russian
    assert pv["labels"]["before"] == "До" and pv["labels"]["after"] == "После"
    (b,) = pv["before"]
    assert [(o["name"], o["share"], o["label"]) for o in b["owners"]] == [
        (seller, "1/1 (100 %)", "Собственность")]
    (a,) = pv["after"]
    assert sorted((o["name"], o["share"]) for o in a["owners"]) == [
        ("Birinchi Xaridor", "1/2 (50 %)"), ("Ikkinchi Xaridor", "1/2 (50 %)")]
    assert a["land_category"] and a["land_category"] != "settlement"  # a name, not the code
    assert _state(engine, number) == before  # nothing kept


def test_split_preview_in_uzbek(client, engine, owned) -> None:  # type: ignore[no-untyped-def]
    number, seller = owned
    with engine.connect() as c:
        lon0, lat0, lon1, lat1 = c.execute(text(
            "SELECT ST_X(a), ST_Y(a), ST_X(b), ST_Y(b) FROM (SELECT"
            " ST_Transform(ST_SetSRID(ST_MakePoint(ST_XMin(geom) + 20, ST_YMin(geom) - 5), 32642), 4326) a,"
            " ST_Transform(ST_SetSRID(ST_MakePoint(ST_XMin(geom) + 20, ST_YMax(geom) + 5), 32642), 4326) b"
            " FROM parcel WHERE cadastral_number = :n AND status = 'active') s"), {"n": number}).one()
    import json

    r = client.post(f"/staff/api/preview/{number}/split?lang=uz", headers=REGISTRAR, data={
        "cut_line": json.dumps({"type": "LineString", "coordinates": [[lon0, lat0], [lon1, lat1]]}),
        "doc_number": "Q-1", "doc_kind": "hokim_decision"})
    assert r.status_code == 200, r.get_data(as_text=True)
    pv = r.get_json()["preview"]
    assert "boʻlinadi" in pv["sentence"]
    assert pv["before"][0]["retired"] is True and len(pv["after"]) == 2
    for a in pv["after"]:
        assert a["new"] and [(o["name"], o["share"], o["label"]) for o in a["owners"]] == [
            (seller, "1/1 (100 %)", "Mulk huquqi")]
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM parcel WHERE cadastral_number = :n"),
                         {"n": number}).scalar() == "active"


def test_operation_page_uses_labels(client, owned) -> None:  # type: ignore[no-untyped-def]
    number, _ = owned
    html = client.get(f"/staff/parcels/{number}/encumbrance?lang=en",
                      headers={**REGISTRAR, "Accept": "text/html"}).get_data(as_text=True)
    assert ">Mortgage<" in html and ">Arrest (ban)<" in html and ">Court decision<" in html
    assert ">arrest<" not in html and ">court_decision<" not in html


@pytest.mark.browser
def test_transfer_preview_in_chromium(page, live_server, owned, artifacts) -> None:  # type: ignore[no-untyped-def]
    number, seller = owned
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/logout")
    page.goto(live_server + "/login?lang=ru")
    page.fill("input[name=username]", "registrar")
    page.fill("input[name=password]", "registrar-demo-2026")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/staff/parcels/{number}/transfer?lang=ru")
    page.fill("textarea[name=recipients]", "31234567890129 2/3 Birinchi Xaridor\n"
                                           "31234567890137 1/3 Ikkinchi Xaridor")
    page.fill("input[name=doc_number]", "S-BROWSER-1")
    page.click("#preview")
    page.wait_for_selector("#preview-detail:not([hidden]) .pv-col[data-side=after] li")
    before = page.inner_text(".pv-col[data-side=before]")
    after = page.inner_text(".pv-col[data-side=after]")
    assert "До" in before and f"{seller} — 1/1 (100 %)" in before
    assert "После" in after and "Birinchi Xaridor — 2/3 (66.67 %)" in after
    assert "перейдёт" in page.inner_text("#preview-msg")
    assert not page.is_disabled("#confirm")
    page.screenshot(path=str(artifacts / "staff-transfer-preview-phone-ru.png"), full_page=True)
    assert page.console_errors == [] and page.external_requests == []
