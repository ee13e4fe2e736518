"""Operator and notary views: one extract per notary form submission (idempotency keys).

A notary's web form carries a key generated when the form is shown; submitting it twice (a
double click, a reload, asking for the PDF after the JSON) returns the first extract instead
of issuing and charging a second one. The ``extract`` table itself stays immutable.

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-03
"""

from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``extract_request_key``."""
    op.execute("""
CREATE TABLE extract_request_key (
  account_id integer NOT NULL REFERENCES account ON DELETE CASCADE,
  key text NOT NULL CHECK (key ~ '^[A-Za-z0-9_-]{16,64}$'),
  extract_number text NOT NULL UNIQUE REFERENCES extract (number),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, key)
);
""")


def downgrade() -> None:
    """Drop ``extract_request_key``."""
    op.execute("DROP TABLE IF EXISTS extract_request_key")
