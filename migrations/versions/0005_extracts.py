"""Signed parcel extracts: the extract register and the request log (issue 6).

An issued extract is immutable: only its revocation columns may change afterwards (trigger).
Every request that reaches the extract process is logged with the notary, the notarial case
number, the time and the outcome, so an owner can see who asked about their property.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE SEQUENCE extract_number_seq;

CREATE TABLE extract (
  id bigserial PRIMARY KEY,
  number text NOT NULL UNIQUE CONSTRAINT extract_number_format
    CHECK (number ~ '^EX-[0-9]{4}-[0-9]{7}-[0-9A-Z]{4}$'),
  parcel_id bigint NOT NULL REFERENCES parcel,
  cadastral_number text NOT NULL,
  as_of timestamptz NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(),
  account_id integer REFERENCES account,
  requested_by text NOT NULL,
  case_number text NOT NULL CHECK (length(trim(case_number)) > 0),
  purpose text,
  format text NOT NULL CHECK (format IN ('json', 'pdf')),
  content text NOT NULL,
  content_sha256 text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
  signature text NOT NULL,
  key_id text NOT NULL,
  pdf_sha256 text CHECK (pdf_sha256 ~ '^[0-9a-f]{64}$'),
  pdf_signature text,
  state_duty_uzs numeric(18, 2) NOT NULL CHECK (state_duty_uzs >= 0),
  service_fee_uzs numeric(18, 2) NOT NULL CHECK (service_fee_uzs >= 0),
  revoked_at timestamptz,
  revoked_reason text,
  CONSTRAINT extract_as_of_not_future CHECK (as_of <= issued_at + interval '1 minute')
);
CREATE INDEX extract_parcel ON extract (parcel_id);
CREATE INDEX extract_account ON extract (account_id, issued_at DESC);
CREATE INDEX extract_pdf_sha ON extract (pdf_sha256) WHERE pdf_sha256 IS NOT NULL;

-- Signed content never changes; only a revocation may be recorded.
CREATE OR REPLACE FUNCTION extract_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('extract %s was issued and cannot be deleted (revoke it instead)', OLD.number);
  END IF;
  IF (to_jsonb(NEW) - 'revoked_at' - 'revoked_reason')
     IS DISTINCT FROM (to_jsonb(OLD) - 'revoked_at' - 'revoked_reason') THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('extract %s was issued and signed; only its revocation may change', OLD.number);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER extract_10_immutable BEFORE UPDATE OR DELETE ON extract
  FOR EACH ROW EXECUTE FUNCTION extract_immutable();

CREATE TABLE extract_request_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  account_id integer REFERENCES account,
  username text,
  role text,
  cadastral_number text,
  parcel_id bigint REFERENCES parcel,
  case_number text,
  purpose text,
  as_of timestamptz,
  format text,
  outcome text NOT NULL CHECK (outcome IN ('issued', 'invalid', 'not_found', 'denied', 'error')),
  detail text,
  extract_number text,
  remote_addr text
);
CREATE INDEX extract_request_log_parcel ON extract_request_log (parcel_id, at DESC);
CREATE INDEX extract_request_log_account ON extract_request_log (account_id, at DESC);
"""

DOWNGRADE = r"""
DROP TABLE IF EXISTS extract_request_log;
DROP TABLE IF EXISTS extract;
DROP FUNCTION IF EXISTS extract_immutable();
DROP SEQUENCE IF EXISTS extract_number_seq;
"""


def upgrade() -> None:
    """Create the extract register and the request log."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them again."""
    op.execute(DOWNGRADE)
