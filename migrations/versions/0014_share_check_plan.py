"""Ownership-share check driven by the statement's own rows (plan-proof for bulk loads).

The statement-level check of 0001 joined ``right`` against ``IN (SELECT … FROM new_rows)``.
Transition tables carry no statistics, and in a bulk load the just-filled ``right`` table has
none yet either; PostgreSQL then may pick a nested loop over the whole table per new row: the
demo city's 125 000-right COPY ran for over 20 minutes at 50 000 parcels (10 s at 20 000).
Here each distinct object of the statement sums its shares through a LATERAL lookup on the
``right_parcel`` / ``right_building`` indexes, so the cost is one index probe per object
whatever the planner believes. Same rule, same message.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from alembic import op

from cadastre_gis.migrate import earlier_function

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BODY = r"""
CREATE OR REPLACE FUNCTION right_check_shares() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  SELECT coalesce(p.cadastral_number, b.cadastral_number) AS obj, s.total
    INTO r
    FROM (
      SELECT n.parcel_id, NULL::bigint AS building_id, t.total
        FROM (SELECT DISTINCT parcel_id FROM new_rows WHERE parcel_id IS NOT NULL) n
        CROSS JOIN LATERAL (
          SELECT sum(x.share_num::numeric / x.share_den) AS total
            FROM "right" x
           WHERE x.parcel_id = n.parcel_id AND x.kind = 'ownership' AND x.status = 'active'
           OFFSET 0) t
      UNION ALL
      SELECT NULL::bigint, n.building_id, t.total
        FROM (SELECT DISTINCT building_id FROM new_rows WHERE building_id IS NOT NULL) n
        CROSS JOIN LATERAL (
          SELECT sum(x.share_num::numeric / x.share_den) AS total
            FROM "right" x
           WHERE x.building_id = n.building_id AND x.kind = 'ownership' AND x.status = 'active'
           OFFSET 0) t
    ) s
    LEFT JOIN parcel p ON p.id = s.parcel_id
    LEFT JOIN building b ON b.id = s.building_id
   WHERE s.total > 1.000000001
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('ownership shares of %s would sum to %s, above 1', r.obj, round(r.total, 4));
  END IF;
  RETURN NULL;
END $$;
"""

def upgrade() -> None:
    """The share check probes the indexes per object of the statement."""
    op.execute(BODY)


def downgrade() -> None:
    """The share check of 0001."""
    op.execute(earlier_function("0001_foundation.py", "right_check_shares"))
