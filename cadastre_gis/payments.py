"""Paying a tax assessment through a payment provider, at most once per idempotency key.

The flow is the one real acquirers expect: (1) record a ``pending`` payment under the form's
idempotency key — the database's UNIQUE constraint turns a second submit into "here is the
first payment" instead of a second charge; (2) ask the provider to charge, passing the same
key (providers de-duplicate on it too); (3) record the outcome and a receipt number.
The built-in :class:`SandboxProvider` needs no network: it approves every card except the
test card numbers listed in :data:`SandboxProvider.DECLINED`. Every card number is checked by
its Luhn check digit first, so a mistyped number is refused before anything is recorded, and
:func:`preview` gives the "check your payment" summary shown before charging.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from .db import set_actor
from .errors import Conflict, InvalidInput, NotFound

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class ChargeResult:
    """What a provider answered."""

    ok: bool
    reference: str
    message: str = ""


class PaymentProvider(Protocol):
    """A card acquirer or payment system (Payme, Click, Uzcard, Humo... or the sandbox)."""

    name: str

    def charge(self, *, amount: Decimal, currency: str, idempotency_key: str,
               description: str, card_number: str) -> ChargeResult:
        """Charge ``amount``; the same ``idempotency_key`` must never charge twice."""
        ...


class SandboxProvider:
    """A deterministic offline provider for demos and tests (never moves money)."""

    name = "sandbox"
    TEST_CARD = "8600 0000 0000 0007"
    """Approved (Uzcard-style); so is any other Luhn-valid 16-digit number not listed below."""
    DECLINED = {"8600000000000023": "card declined (insufficient funds)",
                "8600000000000015": "card expired"}

    def charge(self, *, amount: Decimal, currency: str, idempotency_key: str,
               description: str, card_number: str) -> ChargeResult:
        """Approve unless the card is one of the declined test cards; reference from the key."""
        ref = "SBX-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16].upper()
        digits = re.sub(r"\D", "", card_number)
        if digits in self.DECLINED:
            return ChargeResult(False, ref, self.DECLINED[digits])
        return ChargeResult(True, ref, "approved")


PROVIDERS: dict[str, PaymentProvider] = {"sandbox": SandboxProvider()}


def provider(name: str = "sandbox") -> PaymentProvider:
    """The registered provider called ``name``."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise InvalidInput(f"unknown payment provider {name!r}") from None


def parse_amount(raw: Any) -> Decimal:
    """A positive whole amount of UZS from form input."""
    try:
        value = Decimal(str(raw).replace(" ", "").replace(",", "."))
    except (InvalidOperation, ValueError):
        raise InvalidInput("amount must be a number") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("1")):
        raise InvalidInput("amount must be a positive whole number of sum")
    return value


def luhn_ok(digits: str) -> bool:
    """True when the last digit of ``digits`` is its Luhn check digit (ISO/IEC 7812)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def card_digits(card_number: str) -> str:
    """The digits of a card number (16, with a valid Luhn check digit), or InvalidInput."""
    digits = re.sub(r"[\s-]", "", card_number or "")
    if not re.fullmatch(r"[0-9]{16}", digits):
        raise InvalidInput("card number must have 16 digits", field="card_number")
    if not luhn_ok(digits):
        raise InvalidInput("card number is not valid (check the digits)", field="card_number")
    return digits


@dataclass(frozen=True)
class Payee:
    """Who receives a tax payment (printed on the summary and the receipt)."""

    name: str
    inn: str
    bank: str
    mfo: str
    account: str


PAYEE = Payee(name="Toshkent shahar Davlat soliq boshqarmasi (mahalliy byudjet)",
              inn="200000001", bank="Oʻzbekiston Respublikasi Markaziy banki",
              mfo="00014", account="23402000300100001010")
"""The payee of property and land tax in Tashkent (demo bank details)."""


def _outstanding(c: Connection, assessment_id: int, party_id: int, value: Decimal,
                 lock: bool = False) -> tuple[Any, Decimal]:
    """The party's assessment and what is still owed on it, refusing a paid one or an amount
    above it (``lock``: hold the assessment row until the payment is written)."""
    a = c.execute(text("SELECT * FROM tax_assessment WHERE id = :i"
                       + (" FOR UPDATE" if lock else "")),
                  {"i": assessment_id}).mappings().first()
    if a is None or a["party_id"] != party_id:
        raise NotFound("no such tax assessment for you")
    paid = c.execute(text("SELECT coalesce(sum(amount), 0) FROM payment WHERE assessment_id"
                          " = :i AND status IN ('succeeded', 'pending')"),
                     {"i": assessment_id}).scalar_one()
    outstanding = Decimal(a["amount"]) - Decimal(paid)
    if outstanding <= 0:
        raise Conflict("this tax is already paid")
    if value > outstanding:
        raise InvalidInput(f"amount is above what is owed ({outstanding:.0f} UZS)")
    return a, outstanding


def preview(c: Connection, *, assessment_id: int, party_id: int, amount: Any,
            card_number: str, provider_name: str = "sandbox") -> dict[str, Any]:
    """The "check your payment" summary: what, to whom, how much, from which card — checked
    like :func:`pay` but charging nothing and storing nothing."""
    value = parse_amount(amount)
    digits = card_digits(card_number)
    prov = provider(provider_name)
    a, outstanding = _outstanding(c, assessment_id, party_id, value)
    return {"assessment_id": assessment_id, "kind": a["kind"], "year": a["year"],
            "cadastral_number": a["cadastral_number"], "due_date": a["due_date"],
            "assessed": Decimal(a["amount"]), "outstanding": outstanding, "amount": value,
            "remaining": outstanding - value, "fee": Decimal(0), "card_last4": digits[-4:],
            "card_number": digits, "provider": prov.name, "payee": PAYEE}


def pay(engine: Engine, *, assessment_id: int, party_id: int, account_id: int | None,
        amount: Any, idempotency_key: str, card_number: str, actor: str,
        provider_name: str = "sandbox") -> dict[str, Any]:
    """Pay (part of) an assessment once per idempotency key; returns the payment row.

    A repeated key returns the payment made with it (``repeated`` = True) without charging.
    """
    if not KEY_RE.match(idempotency_key or ""):
        raise InvalidInput("missing or malformed idempotency key; reload the form")
    value = parse_amount(amount)
    digits = card_digits(card_number)
    prov = provider(provider_name)
    with engine.begin() as c:
        set_actor(c, actor)
        existing = _by_key(c, idempotency_key)
        if existing is not None:
            return _repeat(existing, party_id)
        a, outstanding = _outstanding(c, assessment_id, party_id, value, lock=True)
        row = c.execute(text("""
            INSERT INTO payment (idempotency_key, assessment_id, account_id, party_id, amount,
                                 provider, card_last4)
            VALUES (:k, :a, :acc, :p, :amt, :prov, :last4)
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"""),
            {"k": idempotency_key, "a": assessment_id, "acc": account_id, "p": party_id,
             "amt": value, "prov": prov.name, "last4": digits[-4:]}).first()
        if row is None:  # a concurrent submit with the same key won the race
            return _repeat(_by_key(c, idempotency_key), party_id)  # type: ignore[arg-type]
        payment_id = int(row[0])
    result = prov.charge(amount=value, currency="UZS", idempotency_key=idempotency_key,
                         description=f"{a['kind']} tax {a['year']} {a['cadastral_number']}",
                         card_number=digits)
    with engine.begin() as c:
        set_actor(c, actor)
        c.execute(text("""
            UPDATE payment SET status = :st, provider_reference = :ref, completed_at = now(),
                   failure_reason = :why,
                   receipt_number = CASE WHEN :ok THEN
                     'R' || to_char(now(), 'YYYY') || '-' || lpad(id::text, 8, '0') END
             WHERE id = :i AND status = 'pending'"""),
            {"st": "succeeded" if result.ok else "failed", "ref": result.reference,
             "why": None if result.ok else result.message, "ok": result.ok, "i": payment_id})
        out = get(c, payment_id)
    out["repeated"] = False
    return out


def by_key(c: Connection, key: str) -> dict[str, Any] | None:
    """The payment made with idempotency key ``key``, or None."""
    return _by_key(c, key)


def _by_key(c: Connection, key: str) -> dict[str, Any] | None:
    row = c.execute(text("SELECT id FROM payment WHERE idempotency_key = :k"), {"k": key}).first()
    return get(c, int(row[0])) if row else None


def _repeat(existing: dict[str, Any], party_id: int) -> dict[str, Any]:
    if existing["party_id"] != party_id:
        raise Conflict("this idempotency key was used by another payment")
    existing["repeated"] = True
    return existing


def get(c: Connection, payment_id: int) -> dict[str, Any]:
    """A payment with its assessment (for receipts)."""
    row = c.execute(text("""
        SELECT x.*, a.kind, a.year, a.cadastral_number, a.amount AS assessed,
               a.due_date, a.rate_percent, a.base_value, a.share
          FROM payment x JOIN tax_assessment a ON a.id = x.assessment_id
         WHERE x.id = :i"""), {"i": payment_id}).mappings().first()
    if row is None:
        raise NotFound("no such payment")
    return dict(row)


def by_receipt(c: Connection, receipt_number: str) -> dict[str, Any]:
    """The payment with ``receipt_number``."""
    if not re.fullmatch(r"R[0-9]{4}-[0-9]{8}", receipt_number or ""):
        raise NotFound("no such receipt")
    row = c.execute(text("SELECT id FROM payment WHERE receipt_number = :r"),
                    {"r": receipt_number}).first()
    if row is None:
        raise NotFound("no such receipt")
    return get(c, int(row[0]))


def history(c: Connection, party_id: int) -> list[dict[str, Any]]:
    """A party's payments, newest first."""
    rows = c.execute(text("""
        SELECT x.*, a.kind, a.year, a.cadastral_number FROM payment x
          JOIN tax_assessment a ON a.id = x.assessment_id
         WHERE x.party_id = :p ORDER BY x.created_at DESC, x.id DESC"""), {"p": party_id})
    return [dict(r) for r in rows.mappings()]
