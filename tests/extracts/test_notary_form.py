"""The notary's web form: fees before issuing, one extract per request, downloads, history."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from sqlalchemy import text

NOTARY = {"Authorization": "Basic " + base64.b64encode(b"notary:notary-demo-2026").decode()}
CITIZEN = {"Authorization": "Basic " + base64.b64encode(b"citizen:citizen-demo-2026").decode()}


def _parcel(engine, offset: int = 20) -> str:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return c.execute(text("SELECT cadastral_number FROM parcel WHERE status = 'active'"
                              " ORDER BY id LIMIT 1 OFFSET :o"), {"o": offset}).scalar_one()


def _count(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return tuple(c.execute(text(  # type: ignore[return-value]
            "SELECT count(*), coalesce(sum(state_duty_uzs + service_fee_uzs), 0)::int"
            " FROM extract e JOIN account a ON a.id = e.account_id"
            " WHERE a.username = 'notary'")).one())


def _key(html: str) -> str:
    m = re.search(r'name="request_key" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_form_shows_fees_before_issuing(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/notary?lang=ru", headers={**NOTARY, "Accept": "text/html"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for field in ("cadastral_number", "case_number", "purpose", "as_of", "format", "request_key"):
        assert f'name="{field}"' in html
    assert "Госпошлина" in html and "Сервисный сбор" in html
    assert re.search(r"34\D?000", html) and re.search(r"25\D?000", html) and re.search(r"59\D?000", html)
    assert "<script>" not in html and "onclick" not in html  # no inline script (strict CSP)
    assert client.get("/notary", headers={**CITIZEN, "Accept": "text/html"}).status_code == 403


def test_missing_case_number_is_refused_on_the_form(client, engine) -> None:  # type: ignore[no-untyped-def]
    before = _count(engine)
    key = _key(client.get("/notary?lang=en", headers={**NOTARY, "Accept": "text/html"})
               .get_data(as_text=True))
    r = client.post("/notary?lang=en", headers={**NOTARY, "Accept": "text/html"}, data={
        "cadastral_number": _parcel(engine), "case_number": "  ", "format": "pdf",
        "request_key": key})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "notarial case number is required" in html and 'role="alert"' in html
    assert _count(engine) == before  # nothing issued, nothing charged
    r = client.post("/notary?lang=uz", headers={**NOTARY, "Accept": "text/html"}, data={
        "cadastral_number": "10:99", "case_number": "N-1", "request_key": key})
    assert r.status_code == 400 and "10:09:03:01:01:0045" in r.get_data(as_text=True)
    assert _count(engine) == before


def test_one_request_one_extract_json_and_pdf(client, engine) -> None:  # type: ignore[no-untyped-def]
    before = _count(engine)
    number = _parcel(engine, 21)
    key = _key(client.get("/notary", headers={**NOTARY, "Accept": "text/html"})
               .get_data(as_text=True))
    form = {"cadastral_number": number, "case_number": "N-2026/77", "purpose": "sale",
            "format": "json", "request_key": key}
    r = client.post("/notary", headers=NOTARY, data=form)
    assert r.status_code == 303, r.get_data(as_text=True)
    loc = r.headers["Location"]
    ext = re.search(r"/notary/issued/(EX-[0-9A-Z-]+)", loc).group(1)  # type: ignore[union-attr]
    # the same form again (a double click, or asking for the PDF after the JSON): same extract
    again = client.post("/notary", headers=NOTARY, data={**form, "format": "pdf"})
    assert again.status_code == 303 and ext in again.headers["Location"]
    count, total = _count(engine)
    assert count == before[0] + 1 and total == before[1] + 59000
    page = client.get(loc, headers={**NOTARY, "Accept": "text/html"}).get_data(as_text=True)
    assert f"/extracts/{ext}" in page and f"/notary/extracts/{ext}.pdf" in page
    doc = client.get(f"/notary/extracts/{ext}?download=1", headers=NOTARY)
    assert doc.status_code == 200 and "attachment" in doc.headers["Content-Disposition"]
    assert doc.get_json()["extract"]["extract_number"] == ext
    assert doc.get_json()["extract"]["request"]["case_number"] == "N-2026/77"
    pdf = client.get(f"/notary/extracts/{ext}.pdf", headers=NOTARY)
    assert pdf.status_code == 200 and pdf.get_data()[:5] == b"%PDF-"
    with engine.connect() as c:
        sha = c.execute(text("SELECT pdf_sha256 FROM extract WHERE number = :n"),
                        {"n": ext}).scalar_one()
    assert hashlib.sha256(pdf.get_data()).hexdigest() == sha  # the very bytes that were signed
    # the public verification page knows it; history lists it once
    assert client.get(f"/extracts/{ext}", headers={"Accept": "application/json"}
                      ).get_json()["valid"] is True
    hist = client.get("/notary", headers={**NOTARY, "Accept": "text/html"}).get_data(as_text=True)
    assert hist.count(f">{ext}<") == 1
    # the same key for another parcel is refused, nothing charged
    other = client.post("/notary", headers=NOTARY, data={**form, "cadastral_number":
                                                          _parcel(engine, 22)})
    assert other.status_code == 409 and _count(engine) == (count, total)
    assert client.get(f"/notary/extracts/{ext}.pdf", headers=CITIZEN).status_code == 403


@pytest.mark.parametrize("q", ["10:", "Amir"])
def test_parcel_search(client, q) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/notary/api/parcels?q={q}", headers=NOTARY)
    assert r.status_code == 200
    found = r.get_json()["parcels"]
    assert 0 < len(found) <= 10
    assert client.get(f"/notary/api/parcels?q={q}", headers=CITIZEN).status_code == 403
