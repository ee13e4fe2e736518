"""Schema for issue 5 (registry operations, roles, RLS).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op  # noqa: F401

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
