"""Schema for issue 3 (OGC API Features and Tiles).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op  # noqa: F401

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
