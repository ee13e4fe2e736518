"""Tile cache invalidation: every edit of a tiled table announces the boxes it touched.

Statement-level triggers with transition tables (one query per statement, however many rows)
collect the old and new bounding boxes of the changed rows in EPSG:3857, coalesce them (one box
per row for small statements; one box per ~10 km grid cell for bulk loads; at most 64 boxes,
so the NOTIFY payload stays far below PostgreSQL's 8000-byte limit), record them in
``tile_change`` (so a cache that was not listening can catch up) and send them on the
``tile_change`` channel. An edit from Part 4, a process, a loader, QGIS or psql is announced the
same way. TRUNCATE announces the whole layer.

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# table -> tile layer (collection id)
TILED_TABLES = {"parcel": "parcels", "building": "buildings", "district": "districts"}

UPGRADE = r"""
CREATE TABLE tile_change (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  layer text NOT NULL,
  boxes jsonb            -- [[xmin, ymin, xmax, ymax], ...] in EPSG:3857; NULL = whole layer
);
CREATE INDEX tile_change_at ON tile_change (at);
COMMENT ON TABLE tile_change IS
  'Boxes (EPSG:3857) touched by edits of tiled tables, for the tile cache; pruned after a week';

-- Coalesce envelopes: up to 64 distinct boxes as they are, more grouped by ~z12 grid cell,
-- and still more than 64 cells as one extent.
CREATE OR REPLACE FUNCTION tile_change_coalesce(b box2d[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  WITH e AS (
    SELECT floor(ST_XMin(x)) AS x0, floor(ST_YMin(x)) AS y0,
           ceil(ST_XMax(x)) AS x1, ceil(ST_YMax(x)) AS y1, count(*) OVER () AS n
      FROM unnest(b) AS x WHERE x IS NOT NULL
  ), g AS (
    SELECT min(x0) AS x0, min(y0) AS y0, max(x1) AS x1, max(y1) AS y1
      FROM e
     GROUP BY CASE WHEN n <= 64 THEN ARRAY[x0, y0, x1, y1]
                   ELSE ARRAY[floor((x0 + x1) / 2 / 9784), floor((y0 + y1) / 2 / 9784)] END
  )
  SELECT CASE WHEN count(*) = 0 THEN NULL
              WHEN count(*) <= 64 THEN jsonb_agg(jsonb_build_array(x0, y0, x1, y1))
              ELSE jsonb_build_array(jsonb_build_array(min(x0), min(y0), max(x1), max(y1)))
         END
    FROM g
$$;

-- SECURITY DEFINER: an edit by a registrar's or viewer's own login (QGIS, psql) records its
-- tile change too, without those logins being able to write tile_change themselves.
CREATE OR REPLACE FUNCTION tile_change_note() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  lyr text := TG_ARGV[0];
  bx jsonb;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO tile_change (layer, boxes) VALUES (lyr, NULL);
    PERFORM pg_notify('tile_change', json_build_object('layer', lyr, 'all', true)::text);
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT tile_change_coalesce(array_agg(ST_Transform(ST_Envelope(geom), 3857)::box2d))
      INTO bx FROM new_rows WHERE geom IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT tile_change_coalesce(array_agg(ST_Transform(ST_Envelope(geom), 3857)::box2d))
      INTO bx FROM old_rows WHERE geom IS NOT NULL;
  ELSE
    SELECT tile_change_coalesce(array_agg(ST_Transform(ST_Envelope(g), 3857)::box2d))
      INTO bx
      FROM (SELECT geom AS g FROM old_rows UNION ALL SELECT geom FROM new_rows) s
     WHERE g IS NOT NULL;
  END IF;
  IF bx IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO tile_change (layer, boxes) VALUES (lyr, bx);
  PERFORM pg_notify('tile_change', json_build_object('layer', lyr, 'boxes', bx)::text);
  RETURN NULL;
END $$;
"""


def _triggers(table: str, layer: str) -> str:
    return f"""
CREATE TRIGGER {table}_95_tiles_ins AFTER INSERT ON {table}
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tile_change_note('{layer}');
CREATE TRIGGER {table}_95_tiles_upd AFTER UPDATE ON {table}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tile_change_note('{layer}');
CREATE TRIGGER {table}_95_tiles_del AFTER DELETE ON {table}
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tile_change_note('{layer}');
CREATE TRIGGER {table}_95_tiles_trunc AFTER TRUNCATE ON {table}
  FOR EACH STATEMENT EXECUTE FUNCTION tile_change_note('{layer}');
"""


def _drop_triggers(table: str) -> str:
    return "".join(f"DROP TRIGGER IF EXISTS {table}_95_tiles_{k} ON {table};\n"
                   for k in ("ins", "upd", "del", "trunc"))


DOWNGRADE = "".join(_drop_triggers(t) for t in TILED_TABLES) + r"""
DROP FUNCTION IF EXISTS tile_change_note();
DROP FUNCTION IF EXISTS tile_change_coalesce(box2d[]);
DROP TABLE IF EXISTS tile_change;
"""


def upgrade() -> None:
    """Create the change log, the coalescing function and the statement triggers."""
    op.execute(UPGRADE + "".join(_triggers(t, lyr) for t, lyr in TILED_TABLES.items()))


def downgrade() -> None:
    """Drop them."""
    op.execute(DOWNGRADE)
