"""Citizen portal: tax rates kept as data, tax assessments, payments with idempotency keys.

Rates are rows, not code: a new year or a changed rate is an INSERT, and the tax of an object
is computed from its cadastral value, its area and the row that matches. A payment carries the
idempotency key of the form that submitted it; the UNIQUE constraint makes a double submit
(two clicks, a reload, a retry after a timeout) find the first payment instead of charging again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE tax_rate (
  id serial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('property', 'land')),
  year integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
  party_kind text NOT NULL CHECK (party_kind IN ('person', 'organization', 'state')),
  land_category text REFERENCES land_category,      -- NULL: any category
  min_area numeric(14, 2) NOT NULL DEFAULT 0 CHECK (min_area >= 0),   -- area > min_area
  max_area numeric(14, 2) CHECK (max_area IS NULL OR max_area > min_area),  -- area <= max_area
  rate_percent numeric(8, 4) NOT NULL CHECK (rate_percent >= 0 AND rate_percent <= 100),
  due_date date NOT NULL,
  note text,
  UNIQUE NULLS NOT DISTINCT (kind, year, party_kind, land_category, min_area)
);
COMMENT ON TABLE tax_rate IS 'Tax rates as data: percent of the cadastral value, by area band';

-- Tashkent, individuals, property tax 2025 (percent of the cadastral value of a building,
-- banded by its floor area); the same rates carried into 2026 for the demo.
INSERT INTO tax_rate (kind, year, party_kind, land_category, min_area, max_area, rate_percent,
                      due_date, note)
SELECT 'property', y, 'person', NULL, lo, hi, r, make_date(y, 12, 1), n
  FROM (VALUES (0, 200, 0.34, 'up to 200 m²'), (200, 500, 0.45, '200–500 m²'),
               (500, NULL, 0.60, 'above 500 m²')) AS b(lo, hi, r, n),
       (VALUES (2025), (2026)) AS yr(y);
INSERT INTO tax_rate (kind, year, party_kind, land_category, min_area, max_area, rate_percent,
                      due_date, note)
SELECT 'property', y, 'organization', NULL, 0, NULL, 1.5, make_date(y, 12, 1), 'legal entities'
  FROM (VALUES (2025), (2026)) AS yr(y);
-- Land tax (plausible demo table): percent of the parcel's cadastral value by land category,
-- with a higher band for large household plots.
INSERT INTO tax_rate (kind, year, party_kind, land_category, min_area, max_area, rate_percent,
                      due_date, note)
SELECT 'land', y, pk, cat, lo, hi, r, make_date(y, 12, 1), n
  FROM (VALUES ('person', 'settlement', 0, 1000, 0.10, 'household plot up to 1000 m²'),
               ('person', 'settlement', 1000, NULL, 0.20, 'household plot above 1000 m²'),
               ('person', 'agricultural', 0, NULL, 0.05, 'garden and farm land'),
               ('person', NULL, 0, NULL, 0.15, 'other categories'),
               ('organization', NULL, 0, NULL, 0.50, 'legal entities')) AS b(pk, cat, lo, hi, r, n),
       (VALUES (2025), (2026)) AS yr(y);

-- What a party owes for one object and year (computed from tax_rate, refreshed while unpaid).
CREATE TABLE tax_assessment (
  id bigserial PRIMARY KEY,
  party_id bigint NOT NULL REFERENCES party,
  kind text NOT NULL CHECK (kind IN ('property', 'land')),
  year integer NOT NULL,
  parcel_id bigint REFERENCES parcel,
  building_id bigint REFERENCES building,
  cadastral_number text NOT NULL,
  base_value numeric(18, 2) NOT NULL CHECK (base_value >= 0),
  area_m2 numeric(14, 2),
  share numeric NOT NULL CHECK (share > 0 AND share <= 1),
  tax_rate_id integer NOT NULL REFERENCES tax_rate,
  rate_percent numeric(8, 4) NOT NULL,
  amount numeric(18, 2) NOT NULL CHECK (amount >= 0),
  due_date date NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tax_assessment_one_object CHECK (num_nonnulls(parcel_id, building_id) = 1),
  UNIQUE NULLS NOT DISTINCT (party_id, kind, year, parcel_id, building_id)
);
CREATE INDEX tax_assessment_party ON tax_assessment (party_id, year);

CREATE TABLE payment (
  id bigserial PRIMARY KEY,
  idempotency_key text NOT NULL CONSTRAINT payment_idempotency_key UNIQUE
    CHECK (idempotency_key ~ '^[A-Za-z0-9_-]{16,64}$'),
  assessment_id bigint NOT NULL REFERENCES tax_assessment,
  account_id integer REFERENCES account,
  party_id bigint NOT NULL REFERENCES party,
  amount numeric(18, 2) NOT NULL CHECK (amount > 0),
  currency text NOT NULL DEFAULT 'UZS' CHECK (currency = 'UZS'),
  provider text NOT NULL,
  provider_reference text,
  card_last4 text CHECK (card_last4 ~ '^[0-9]{4}$'),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_reason text,
  receipt_number text UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);
CREATE INDEX payment_assessment ON payment (assessment_id);
CREATE INDEX payment_party ON payment (party_id, created_at);

CREATE TRIGGER payment_90_audit_ins AFTER INSERT ON payment
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cadastre_audit_insert();
CREATE TRIGGER payment_90_audit_upd AFTER UPDATE ON payment
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION cadastre_audit_update();
CREATE TRIGGER tax_rate_90_audit_ins AFTER INSERT ON tax_rate
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cadastre_audit_insert();
CREATE TRIGGER tax_rate_90_audit_upd AFTER UPDATE ON tax_rate
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION cadastre_audit_update();
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS payment, tax_assessment, tax_rate CASCADE;
"""


def upgrade() -> None:
    """Create tax rates (seeded), tax assessments and payments."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop the portal's tables."""
    op.execute(DOWNGRADE)
