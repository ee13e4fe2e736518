"""Schema for issue 6 (signed extracts).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op  # noqa: F401

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
