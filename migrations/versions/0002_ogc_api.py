"""OGC API: privacy views for the public incident and camera collections, read indexes.

The views are the database side of the privacy boundary: whatever reads them (our OGC API,
a public database role, a tile server) sees only public categories and public columns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE VIEW ogc_public_incident AS
SELECT i.id, i.category, i.status, i.priority, i.district_id, i.reported_at, i.deadline,
       i.resolved_at, i.closed_at, i.version,
       (i.deadline IS NOT NULL AND i.deadline < now()
        AND i.status NOT IN ('resolved', 'closed', 'duplicate', 'rejected')) AS overdue,
       i.geom
  FROM incident i
  JOIN incident_category c ON c.code = i.category
 WHERE i.visibility = 'public' AND c.public;
COMMENT ON VIEW ogc_public_incident IS
  'Public incidents (public categories, visibility public): no reporter data, no free text';

CREATE VIEW ogc_public_camera AS
SELECT c.id, c.status, c.geom FROM camera c;
COMMENT ON VIEW ogc_public_camera IS 'Camera locations and status only (never the stream URL)';

CREATE INDEX IF NOT EXISTS building_history_span ON building_history (valid_from, valid_to);
CREATE INDEX IF NOT EXISTS parcel_span ON parcel (valid_from, valid_to);
CREATE INDEX IF NOT EXISTS building_span ON building (valid_from, valid_to);
CREATE INDEX IF NOT EXISTS incident_district ON incident (district_id);
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS incident_district;
DROP INDEX IF EXISTS building_span;
DROP INDEX IF EXISTS parcel_span;
DROP INDEX IF EXISTS building_history_span;
DROP VIEW IF EXISTS ogc_public_camera;
DROP VIEW IF EXISTS ogc_public_incident;
"""


def upgrade() -> None:
    """Create the privacy views and read indexes."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Drop them."""
    op.execute(DOWNGRADE)
