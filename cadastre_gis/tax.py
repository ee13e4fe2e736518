"""Property and land tax per object and year, from cadastral values and rates kept as data.

Property tax is due on buildings, land tax on parcels, by each owner in proportion to their
share: ``amount = cadastral value × rate % / 100 × share``. The rate is the ``tax_rate`` row
of the tax kind, year and owner kind whose area band holds the object's area (floor area for
buildings, parcel area for land) and whose land category matches (a row with no category
matches any; a specific one wins). Nothing about rates lives in this code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .errors import InvalidInput, NotFound

MIN_YEAR, MAX_YEAR = 2000, 2100

# One row per owned object: what it is worth, how big it is, which share the party holds.
_OBJECTS = """
WITH owner AS (SELECT id, kind FROM party WHERE id = :party)
SELECT 'property' AS kind, NULL::bigint AS parcel_id, b.id AS building_id, b.cadastral_number,
       b.cadastral_value AS base_value, coalesce(b.floor_area_m2, b.footprint_m2) AS area_m2,
       p.land_category, sum(r.share) AS share, o.kind AS party_kind
  FROM owner o JOIN "right" r ON r.party_id = o.id
  JOIN building b ON b.id = r.building_id AND b.status = 'active'
  LEFT JOIN parcel p ON p.id = b.parcel_id
 WHERE r.kind = 'ownership' AND r.status = 'active'
   AND (r.ends_on IS NULL OR r.ends_on >= cadastre_today())
 GROUP BY b.id, p.land_category, o.kind
UNION ALL
SELECT 'land', p.id, NULL, p.cadastral_number, p.cadastral_value, p.area_m2, p.land_category,
       sum(r.share), o.kind
  FROM owner o JOIN "right" r ON r.party_id = o.id
  JOIN parcel p ON p.id = r.parcel_id AND p.status = 'active'
 WHERE r.kind = 'ownership' AND r.status = 'active'
   AND (r.ends_on IS NULL OR r.ends_on >= cadastre_today())
 GROUP BY p.id, o.kind
"""

_RATE = """
SELECT id, rate_percent, due_date FROM tax_rate
 WHERE kind = :kind AND year = :year AND party_kind = :party_kind
   AND (land_category IS NULL OR land_category = :category)
   AND :area > min_area AND (max_area IS NULL OR :area <= max_area)
 ORDER BY land_category NULLS LAST, min_area DESC
 LIMIT 1
"""


@dataclass(frozen=True)
class Rate:
    """The tax_rate row that applies to one object."""

    id: int
    rate_percent: Decimal
    due_date: date


def check_year(year: int) -> int:
    """Validate a tax year."""
    if not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(f"tax year must be between {MIN_YEAR} and {MAX_YEAR}")
    return year


def rate_for(conn: Connection, kind: str, year: int, party_kind: str, area_m2: Decimal | float,
             land_category: str | None = None) -> Rate | None:
    """The rate row for an object of ``area_m2`` (None when the table has none)."""
    if kind not in ("property", "land"):
        raise InvalidInput("tax kind must be property or land")
    row = conn.execute(text(_RATE), {"kind": kind, "year": check_year(year),
                                     "party_kind": party_kind, "category": land_category,
                                     "area": Decimal(str(area_m2))}).first()
    return Rate(int(row.id), Decimal(row.rate_percent), row.due_date) if row else None


def compute_amount(base_value: Decimal, rate_percent: Decimal, share: Decimal) -> Decimal:
    """Tax in UZS, rounded to whole sum: value × rate% / 100 × share."""
    amount = Decimal(base_value) * Decimal(rate_percent) / Decimal(100) * Decimal(share)
    return amount.quantize(Decimal("1"))


def current_year(conn: Connection) -> int:
    """The tax year of today on the registry's clock."""
    return int(conn.execute(text("SELECT extract(year FROM cadastre_today())::int")).scalar_one())


def years_with_rates(conn: Connection) -> list[int]:
    """Tax years for which the rate table has rows, newest first."""
    return [int(y) for (y,) in conn.execute(
        text("SELECT DISTINCT year FROM tax_rate ORDER BY year DESC"))]


def assess(conn: Connection, party_id: int, year: int) -> list[dict[str, Any]]:
    """Compute (and store) the party's assessments for ``year``; returns them with paid/debt.

    Unpaid assessments are refreshed from the current values and rates; an assessment with
    a payment keeps its amount (what was billed is what was paid against).
    """
    check_year(year)
    if conn.execute(text("SELECT 1 FROM party WHERE id = :p"), {"p": party_id}).first() is None:
        raise NotFound(f"no party {party_id}")
    for obj in conn.execute(text(_OBJECTS), {"party": party_id}).mappings():
        if obj["base_value"] is None or obj["area_m2"] is None:
            continue
        rate = rate_for(conn, obj["kind"], year, obj["party_kind"], obj["area_m2"],
                        obj["land_category"])
        if rate is None:
            continue
        share = min(Decimal(obj["share"]), Decimal(1))
        amount = compute_amount(obj["base_value"], rate.rate_percent, share)
        conn.execute(text("""
            INSERT INTO tax_assessment (party_id, kind, year, parcel_id, building_id,
                cadastral_number, base_value, area_m2, share, tax_rate_id, rate_percent, amount,
                due_date)
            VALUES (:party, :kind, :year, :parcel, :building, :number, :base, :area, :share,
                    :rate_id, :rate, :amount, :due)
            ON CONFLICT (party_id, kind, year, parcel_id, building_id) DO UPDATE SET
                base_value = EXCLUDED.base_value, area_m2 = EXCLUDED.area_m2,
                share = EXCLUDED.share, tax_rate_id = EXCLUDED.tax_rate_id,
                rate_percent = EXCLUDED.rate_percent, amount = EXCLUDED.amount,
                due_date = EXCLUDED.due_date, computed_at = cadastre_now()
            WHERE NOT EXISTS (SELECT 1 FROM payment x WHERE x.assessment_id = tax_assessment.id
                                AND x.status IN ('succeeded', 'pending'))"""),
            {"party": party_id, "kind": obj["kind"], "year": year, "parcel": obj["parcel_id"],
             "building": obj["building_id"], "number": obj["cadastral_number"],
             "base": obj["base_value"], "area": obj["area_m2"], "share": share,
             "rate_id": rate.id, "rate": rate.rate_percent, "amount": amount,
             "due": rate.due_date})
    return assessments(conn, party_id, year)


def assessments(conn: Connection, party_id: int, year: int | None = None) -> list[dict[str, Any]]:
    """Stored assessments of a party with paid and outstanding amounts."""
    rows = conn.execute(text("""
        SELECT a.*, coalesce(pay.paid, 0) AS paid,
               greatest(a.amount - coalesce(pay.paid, 0), 0) AS outstanding,
               (a.due_date < cadastre_today() AND a.amount > coalesce(pay.paid, 0)) AS overdue
          FROM tax_assessment a
          LEFT JOIN LATERAL (SELECT sum(amount) AS paid FROM payment x
                              WHERE x.assessment_id = a.id AND x.status = 'succeeded') pay ON true
         WHERE a.party_id = :p AND (CAST(:y AS integer) IS NULL OR a.year = :y)
         ORDER BY a.year DESC, a.kind, a.cadastral_number"""), {"p": party_id, "y": year})
    return [dict(r) for r in rows.mappings()]


def summary(rows: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Totals of due, paid and debt (outstanding after the due date) over assessment rows."""
    due = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
    paid = sum((Decimal(r["paid"]) for r in rows), Decimal(0))
    outstanding = sum((Decimal(r["outstanding"]) for r in rows), Decimal(0))
    debt = sum((Decimal(r["outstanding"]) for r in rows if r["overdue"]), Decimal(0))
    return {"due": due, "paid": paid, "outstanding": outstanding, "debt": debt}
