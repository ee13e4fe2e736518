"""Taxes from rates kept as data; paying once per idempotency key; receipts."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from cadastre_gis import payments, tax
from cadastre_gis.errors import Conflict, InvalidInput, NotFound

from .portal_helpers import login

KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def citizen_party(conn) -> int:  # type: ignore[no-untyped-def]
    """The demo citizen's party id."""
    return conn.execute(text("SELECT party_id FROM account WHERE username = 'citizen'")).scalar_one()


@pytest.mark.parametrize(("area", "rate"), [(150, "0.34"), (200, "0.34"), (200.01, "0.45"),
                                            (500, "0.45"), (501, "0.60"), (5000, "0.60")])
def test_property_rate_bands_2025(db, area, rate) -> None:  # type: ignore[no-untyped-def]
    r = tax.rate_for(db, "property", 2025, "person", area)
    assert r is not None and r.rate_percent == Decimal(rate)
    assert r.due_date.isoformat() == "2025-12-01"


def test_land_rate_prefers_specific_category(db) -> None:  # type: ignore[no-untyped-def]
    assert tax.rate_for(db, "land", 2025, "person", 600, "settlement").rate_percent == Decimal("0.10")
    assert tax.rate_for(db, "land", 2025, "person", 1600, "settlement").rate_percent == Decimal("0.20")
    assert tax.rate_for(db, "land", 2025, "person", 600, "industrial").rate_percent == Decimal("0.15")
    assert tax.rate_for(db, "land", 1999 + 1, "person", 600, "industrial") is None


def test_rates_are_data(db) -> None:  # type: ignore[no-untyped-def]
    db.execute(text("UPDATE tax_rate SET rate_percent = 0.5 WHERE kind = 'property' AND year = 2025"
                    " AND party_kind = 'person' AND min_area = 0"))
    assert tax.rate_for(db, "property", 2025, "person", 100).rate_percent == Decimal("0.5")


def test_compute_amount() -> None:
    assert tax.compute_amount(Decimal("600000000"), Decimal("0.34"), Decimal("0.5")) == Decimal("1020000")


def test_assessment_uses_share_and_rate(db) -> None:  # type: ignore[no-untyped-def]
    party = citizen_party(db)
    rows = tax.assess(db, party, 2025)
    assert rows, "the demo citizen owns property"
    for r in rows:
        assert r["amount"] == tax.compute_amount(r["base_value"], r["rate_percent"], r["share"])
        # (a browser test may already have paid one of them in this session)
        assert r["outstanding"] == max(r["amount"] - r["paid"], 0)
        assert r["overdue"] is (r["outstanding"] > 0)  # due 2025-12-01, before the demo date
    assert any(r["share"] == Decimal("0.5") for r in rows)
    # idempotent: assessing again keeps one row per object
    assert len(tax.assess(db, party, 2025)) == len(rows)
    s = tax.summary(rows)
    assert s["due"] == sum(r["amount"] for r in rows)
    assert s["debt"] == s["outstanding"] == s["due"] - s["paid"]


def test_bad_year(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        tax.assess(db, citizen_party(db), 1800)
    with pytest.raises(NotFound):
        tax.assess(db, 10**9, 2025)


def test_idempotency_key_is_unique_in_the_database(db) -> None:  # type: ignore[no-untyped-def]
    party = citizen_party(db)
    a = tax.assess(db, party, 2025)[0]
    ins = text("INSERT INTO payment (idempotency_key, assessment_id, party_id, amount, provider)"
               " VALUES ('same-key-1234567890', :a, :p, 1, 'sandbox')")
    db.execute(ins, {"a": a["id"], "p": party})
    with pytest.raises(Exception, match="payment_idempotency_key"):
        with db.begin_nested():
            db.execute(ins, {"a": a["id"], "p": party})


def test_pay_twice_with_one_key_charges_once(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as c:
        party = citizen_party(c)
        a = tax.assess(c, party, 2026)[0]
    key = "test-double-submit-0001"
    kw = {"assessment_id": a["id"], "party_id": party, "account_id": None, "amount": "1000",
          "idempotency_key": key, "card_number": payments.SandboxProvider.TEST_CARD,
          "actor": "pytest"}
    try:
        first = payments.pay(engine, **kw)
        second = payments.pay(engine, **kw)
        assert first["status"] == "succeeded" and not first["repeated"]
        assert second["repeated"] and second["id"] == first["id"]
        assert first["receipt_number"] == second["receipt_number"]
        with engine.connect() as c:
            n = c.execute(text("SELECT count(*) FROM payment WHERE idempotency_key = :k"),
                          {"k": key}).scalar()
            paid = tax.assessments(c, party, 2026)
        assert n == 1
        assert next(r for r in paid if r["id"] == a["id"])["paid"] == Decimal("1000")
        # another party cannot reuse the key
        with pytest.raises(Conflict):
            payments.pay(engine, **{**kw, "party_id": party + 1})
        # more than owed is refused, nothing recorded
        with pytest.raises(InvalidInput):
            payments.pay(engine, **{**kw, "idempotency_key": "test-too-much-0000001",
                                    "amount": str(a["amount"] + 1)})
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM payment WHERE assessment_id = :a"), {"a": a["id"]})


def test_declined_card_records_failure(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as c:
        party = citizen_party(c)
        a = tax.assess(c, party, 2026)[0]
    try:
        res = payments.pay(engine, assessment_id=a["id"], party_id=party, account_id=None,
                           amount="500", idempotency_key="test-declined-000001",
                           card_number="8600 0000 0000 0023", actor="pytest")
        assert res["status"] == "failed" and "declined" in res["failure_reason"]
        assert res["receipt_number"] is None
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM payment WHERE assessment_id = :a"), {"a": a["id"]})


def test_bad_payment_input(engine) -> None:  # type: ignore[no-untyped-def]
    for kw in ({"idempotency_key": "short"}, {"amount": "-5"}, {"amount": "1.5"},
               {"card_number": "1234"}, {"card_number": "8600 0000 0000 0001"}):  # Luhn
        args = {"assessment_id": 1, "party_id": 1, "account_id": None, "amount": "10",
                "idempotency_key": "valid-key-0000000001", "card_number": "8600000000000007",
                "actor": "pytest", **kw}
        with pytest.raises(InvalidInput):
            payments.pay(engine, **args)


def test_taxes_page_pay_and_receipt(app, engine) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert client.get("/taxes").status_code == 302  # anonymous -> sign in
    login(client)
    page = client.get("/taxes?year=2025&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Property tax" in html and "overdue" in html
    form = re.search(r'<form method="post" action="/taxes/pay".*?</form>', html, re.S).group(0)
    fields = dict(re.findall(r'name="([a-z_]+)" (?:inputmode="numeric" )?(?:autocomplete="[^"]+" )?value="([^"]*)"', form))
    assert KEY.search(form)
    assert fields["step"] == "check"
    # step 1: the "check your payment" summary — payee, amount, card; nothing charged yet
    check = client.post("/taxes/pay?lang=en", data=fields)
    summary = check.get_data(as_text=True)
    assert check.status_code == 200 and "Check your payment" in summary
    assert payments.PAYEE.inn in summary and "**** " + fields["card_number"][-4:] in summary
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM payment WHERE idempotency_key = :k"),
                         {"k": fields["idempotency_key"]}).scalar() == 0
    confirm = re.search(r'<form method="post" action="/taxes/pay" class="pay-confirm".*?</form>',
                        summary, re.S).group(0)
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', confirm))
    assert fields["step"] == "confirm"
    try:
        r1 = client.post("/taxes/pay", data=fields)
        r2 = client.post("/taxes/pay", data=fields)  # double submit: same form, same key
        assert r1.status_code == 303 and r2.status_code == 303
        assert r1.headers["Location"] == r2.headers["Location"]
        receipt = client.get(r1.headers["Location"])
        rhtml = receipt.get_data(as_text=True)
        assert receipt.status_code == 200 and "Payment successful" in rhtml
        assert payments.PAYEE.name in rhtml and 'id="receipt-qr"' in rhtml and "<svg" in rhtml
        pdf = client.get(r1.headers["Location"] + ".pdf")
        assert pdf.mimetype == "application/pdf"
        import io

        txt = PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
        assert payments.PAYEE.inn in txt
        assert "Payment receipt" in txt and fields["amount"] in txt.replace(" ", "")
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM payment WHERE idempotency_key = :k"),
                             {"k": fields["idempotency_key"]}).scalar() == 1
        # someone else cannot see the receipt
        other = app.test_client()
        login(other, "notary", "notary-demo-2026")
        assert other.get(r1.headers["Location"]).status_code == 403
        # a CSRF-less post is refused
        bad = dict(fields, csrf_token="nope", idempotency_key="another-key-000000001")
        assert client.post("/taxes/pay", data=bad).status_code == 400
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM payment WHERE idempotency_key = :k"),
                      {"k": fields["idempotency_key"]})


class CountingProvider(payments.SandboxProvider):
    """The sandbox, counting how often it is asked to charge."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def charge(self, **kw):  # type: ignore[no-untyped-def,override]
        self.calls += 1
        return super().charge(**kw)


def test_concurrent_double_submit_charges_once(engine) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    prov = CountingProvider()
    payments.PROVIDERS["counting"] = prov
    with engine.begin() as c:
        party = citizen_party(c)
        a = tax.assess(c, party, 2026)[-1]
    key = "test-concurrent-submit-01"

    def submit(_i: int) -> dict:
        return payments.pay(engine, assessment_id=a["id"], party_id=party, account_id=None,
                            amount="700", idempotency_key=key, provider_name="counting",
                            card_number=payments.SandboxProvider.TEST_CARD, actor="pytest")

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(submit, range(6)))
        assert prov.calls == 1
        assert len({r["id"] for r in results}) == 1
        assert sum(1 for r in results if not r["repeated"]) == 1
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*), sum(amount) FROM payment WHERE assessment_id = :a"),
                             {"a": a["id"]}).one() == (1, Decimal("700"))
    finally:
        payments.PROVIDERS.pop("counting", None)
        with engine.begin() as c:
            c.execute(text("DELETE FROM payment WHERE assessment_id = :a"), {"a": a["id"]})


def test_declined_card_on_the_page(app, engine) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    login(client)
    html = client.get("/taxes?year=2026&lang=en").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/taxes/pay".*?</form>', html, re.S).group(0)
    fields = dict(re.findall(r'name="([a-z_]+)" (?:inputmode="numeric" )?(?:autocomplete="[^"]+" )?value="([^"]*)"', form))
    fields["card_number"] = "8600 0000 0000 0023"
    fields["step"] = "confirm"
    try:
        luhn = client.post("/taxes/pay?lang=en", data=dict(fields, step="check",
                                                           card_number="8600 0000 0000 0024"))
        assert luhn.status_code == 400 and "check the digits" in luhn.get_data(as_text=True)
        r = client.post("/taxes/pay?lang=en", data=fields)
        assert r.status_code == 402
        assert "Payment failed: card declined" in r.get_data(as_text=True)
        bad = client.post("/taxes/pay?lang=en", data=dict(fields, idempotency_key="x"))
        assert bad.status_code == 400 and "idempotency key" in bad.get_data(as_text=True)
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM payment WHERE idempotency_key = :k"),
                      {"k": fields["idempotency_key"]})
