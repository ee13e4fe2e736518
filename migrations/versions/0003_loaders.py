"""Schema for issue 4 (loaders).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
