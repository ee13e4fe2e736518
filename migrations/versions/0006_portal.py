"""Schema for issue 7 (citizen portal, taxes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
