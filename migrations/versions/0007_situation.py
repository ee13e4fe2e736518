"""Schema for issue 8 (situation center).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op  # noqa: F401

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
