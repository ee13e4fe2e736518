"""My property: the citizen's holdings, shares and encumbrances; the passport PDF; privacy."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from .portal_helpers import login


def test_my_requires_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/my")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_my_lists_holdings_with_shares(app, engine) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    login(client)
    html = client.get("/my?lang=en").get_data(as_text=True)
    with engine.connect() as c:
        numbers = [n for (n,) in c.execute(text("""
            SELECT DISTINCT p.cadastral_number FROM account a JOIN "right" r ON r.party_id = a.party_id
              JOIN parcel p ON p.id = r.parcel_id
             WHERE a.username = 'citizen' AND r.status = 'active' AND p.status = 'active'"""))]
        other = c.execute(text("""
            SELECT p.cadastral_number FROM parcel p WHERE p.status = 'active' AND NOT EXISTS (
              SELECT 1 FROM "right" r JOIN account a ON a.party_id = r.party_id
               WHERE a.username = 'citizen' AND r.parcel_id = p.id) LIMIT 1""")).scalar()
    assert numbers
    for n in numbers:
        assert n in html
    assert "1/2" in html
    assert "Who requested extracts about my property" in html
    # no co-owner names or PINFLs of others
    with engine.connect() as c:
        co = c.execute(text("""
            SELECT pt.full_name FROM "right" r JOIN party pt ON pt.id = r.party_id
             WHERE r.parcel_id = ANY(SELECT r2.parcel_id FROM "right" r2 JOIN account a
                                      ON a.party_id = r2.party_id WHERE a.username = 'citizen')
               AND r.party_id <> (SELECT party_id FROM account WHERE username = 'citizen')
               AND pt.kind = 'person'""")).scalars().all()
    for name in co:
        assert name not in html
    # a passport of someone else's parcel is refused
    assert client.get(f"/my/passport/{other}.pdf").status_code == 404


def test_passport_pdf(app, engine, artifacts) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    login(client)
    with engine.connect() as c:
        number = c.execute(text("""
            SELECT p.cadastral_number FROM account a JOIN "right" r ON r.party_id = a.party_id
              JOIN parcel p ON p.id = r.parcel_id WHERE a.username = 'citizen' LIMIT 1""")).scalar()
    r = client.get(f"/my/passport/{number}.pdf?lang=en")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    (artifacts / "portal-passport.pdf").write_bytes(r.data)
    text_ = PdfReader(io.BytesIO(r.data)).pages[0].extract_text()
    assert "Cadastral passport" in text_ and number in text_
    assert "1/2" in text_


def test_non_citizen_has_no_my_page(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    login(client, "notary", "notary-demo-2026")
    assert client.get("/my").status_code == 403
    assert client.get("/taxes").status_code == 403


def test_extract_log_shows_who_asked(app, engine) -> None:  # type: ignore[no-untyped-def]
    extracts = pytest.importorskip("cadastre_gis.extracts")
    with engine.begin() as c:
        number = c.execute(text("""
            SELECT p.cadastral_number FROM account a JOIN "right" r ON r.party_id = a.party_id
              JOIN parcel p ON p.id = r.parcel_id WHERE a.username = 'citizen' LIMIT 1""")).scalar()
        notary = c.execute(text("SELECT id, username, role FROM account WHERE username = 'notary'")
                           ).mappings().one()
        extracts.log_request(c, account=dict(notary), cadastral_number=number, outcome="issued",
                             case_number="N-2026-777", purpose="portal test: sale")
    try:
        client = app.test_client()
        login(client)
        html = client.get("/my?lang=en").get_data(as_text=True)
        assert 'id="extract-log-table"' in html
        assert "portal test: sale" in html and "(notary)" in html
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM extract_request_log WHERE purpose = 'portal test: sale'"))
