"""Bulk writes through the registry's rules at the cost of the rules, not of their plans.

Same rules, same messages; cheaper for a statement of many rows (a 200 000-parcel load):

- **District rule** (0008): the fast path "the unit lies in a piece of its district" is one
  btree probe on ``district_part (district_id, i, j)`` — the 1 km square holding the unit's
  lower-left corner — and is evaluated *before* anything is measured (PostgreSQL pushed the
  measurement of 0008 below the fast path's anti-joins, so every row was measured). Only units
  not covered by one piece of their district are measured piece by piece. A second table,
  ``district_cell``, lists the 250 m cells wholly inside a district within the 1 km squares
  its border crosses: a unit in such a cell needs no geometry test either.
- **Overlap rule** (0001): plan-proof and probed per group. PostgreSQL chose, right after a
  rolled-back load had left ``parcel`` with pages but statistics of 0 rows, to scan every
  active parcel through the partial number index once and compare it with every new row:
  83 s for 20 000 parcels, hours for 200 000. The new parcels are now grouped in squares four
  times their median size; each group's extent probes the GiST index once (a LATERAL fenced
  with OFFSET 0; sequential scans, merge joins and other nested loops disabled for the function, so no
  statistic can turn it into a whole-table pass) and its members are paired with those
  candidates by a hash join — the same pairs as one probe per parcel, at about half the cost
  for a bulk load. Neighbours that only touch (shared boundaries) are set aside before any
  intersection is computed: by the area their boxes share (arithmetic), then ``ST_Relate``.
- **Row checks of new units** (0001/0008): the BEFORE INSERT row function of parcels and
  buildings runs only when it has something to do — a number not in form, a geometry that is
  missing, empty, in another SRID or invalid, no district, a status other than active, or a
  writer that is not the database's owner (a QGIS login, whose lifespan it sets) — decided by
  the trigger's WHEN condition, which PostgreSQL evaluates without calling PL/pgSQL. Updates
  always run it. The district-scope row trigger (0004/0008) likewise runs only for a writer it
  may restrict: an acting account's districts are set, or the writer is not the owner.
- **Tile changes** (0011): the changed rows' envelopes are first merged per 1 km square in the
  table's own CRS, and only those boxes are transformed to EPSG:3857 (widened by 1 m against
  the curvature of a transformed edge), instead of one transformation per row.
- **Audit of inserts into history-keeping tables** (parcel, building, right): the audit row
  (who, when, transaction, table, row, operation) points at the inserted version
  (``{"version": 1}``) instead of copying it; that version is the row itself until it
  changes and then its ``*_history`` row, both kept for ever; :func:`cadastre_audit_image`
  returns it. Updates and deletes keep their full before/after images, and inserts into tables
  without history (parties, documents, transactions, …) keep their full image. The log's
  time index is a BRIN index (the log is appended in time order).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from cadastre_gis.migrate import earlier_function

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

DISTRICT = r"""
CREATE INDEX district_part_square ON district_part (district_id, i, j);

-- The 250 m cells lying wholly in a district, inside the 1 km squares its border crosses (a
-- second, finer fast path: no geometry test for a unit inside such a cell).
CREATE TABLE district_cell (
  district_id integer NOT NULL REFERENCES district ON DELETE CASCADE,
  i integer NOT NULL,       -- the 250 m cell [i, i+1) × [j, j+1) × 250 m
  j integer NOT NULL,
  PRIMARY KEY (district_id, i, j)
);
GRANT SELECT ON district_cell TO PUBLIC;

CREATE OR REPLACE FUNCTION district_cell_fill() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  INSERT INTO district_cell (district_id, i, j)
  SELECT DISTINCT p.district_id, p.i * 4 + a, p.j * 4 + b
    FROM district_part p, generate_series(0, 3) a, generate_series(0, 3) b
   WHERE NOT p.is_box
     AND ST_CoveredBy(ST_MakeEnvelope((p.i * 4 + a) * 250.0, (p.j * 4 + b) * 250.0,
                                      (p.i * 4 + a + 1) * 250.0, (p.j * 4 + b + 1) * 250.0,
                                      32642), p.geom)
$$;

CREATE OR REPLACE FUNCTION district_part_refresh() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  DELETE FROM district_cell;
  DELETE FROM district_part;
  PERFORM district_part_fill();
  PERFORM district_cell_fill();
  RETURN NULL;
END $$;
SELECT district_cell_fill();

"""

# 0008's district rule with its measurement preceded by three fast paths, cheapest first
DISTRICT_FAST_PATHS = r"""  -- The units not covered by one piece of their district (three fast paths, cheapest first),
  -- then their area per district from the small indexed pieces: the named district's share
  -- first; only when it is below half can another district hold more.
  WITH c1 AS MATERIALIZED (
    -- fast path 1 (btree probe): the unit lies in a 1 km square wholly in its district
    SELECT n.num, n.district_id, n.geom, n.bx
      FROM (SELECT cadastral_number AS num, district_id, geom, geom::box3d AS bx
              FROM new_rows WHERE status = 'active' AND district_id IS NOT NULL OFFSET 0) n
     WHERE NOT EXISTS (
         SELECT 1 FROM district_part b
          WHERE b.district_id = n.district_id AND b.is_box
            AND b.i = floor(ST_XMin(n.bx) / 1000)::int
            AND b.j = floor(ST_YMin(n.bx) / 1000)::int
            AND ST_XMax(n.bx) <= (b.i + 1) * 1000.0
            AND ST_YMax(n.bx) <= (b.j + 1) * 1000.0)
  ), c2 AS MATERIALIZED (
    -- fast path 2 (btree probe): in a 250 m cell wholly in its district
    SELECT c1.* FROM c1
     WHERE NOT EXISTS (
         SELECT 1 FROM district_cell q
          WHERE q.district_id = c1.district_id
            AND q.i = floor(ST_XMin(c1.bx) / 250)::int
            AND q.j = floor(ST_YMin(c1.bx) / 250)::int
            AND ST_XMax(c1.bx) <= (q.i + 1) * 250.0
            AND ST_YMax(c1.bx) <= (q.j + 1) * 250.0)
  ), c AS MATERIALIZED (
    -- fast path 3: covered by the piece of its district in its 1 km square
    SELECT c2.* FROM c2
     WHERE NOT EXISTS (
         SELECT 1 FROM district_part b
          WHERE b.district_id = c2.district_id AND NOT b.is_box
            AND b.i = floor(ST_XMin(c2.bx) / 1000)::int
            AND b.j = floor(ST_YMin(c2.bx) / 1000)::int
            AND ST_XMax(c2.bx) <= (b.i + 1) * 1000.0
            AND ST_YMax(c2.bx) <= (b.j + 1) * 1000.0
            AND ST_CoveredBy(c2.geom, b.geom))
  ), s AS MATERIALIZED (
    SELECT c.num, c.district_id, c.geom, ST_Area(c.geom) AS a,
           coalesce((SELECT sum(ST_Area(ST_Intersection(c.geom, dp.geom))) FROM district_part dp
                      WHERE dp.district_id = c.district_id AND dp.geom && c.geom), 0) AS own
      FROM c
  )
"""

# 0001's overlap rule, its query replaced (its message and hint stay 0001's)
OVERLAPS_HEAD = r"""
CREATE OR REPLACE FUNCTION parcel_check_overlaps() RETURNS trigger
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_nestloop = off SET enable_mergejoin = off
SET work_mem = '256MB' AS $$
DECLARE
  r record;
  tol double precision := cadastre_overlap_tolerance();
  cell double precision;
BEGIN
  -- The new parcels grouped in squares four times their median size: one index probe per
  -- group (its extent) finds every active parcel that can meet a member; members are then
  -- paired with their group's candidates by a hash join. A parcel larger than a square
  -- probes the index on its own.
  SELECT greatest(4 * percentile_cont(0.5) WITHIN GROUP (
           ORDER BY greatest(ST_XMax(geom) - ST_XMin(geom), ST_YMax(geom) - ST_YMin(geom))), 1.0)
    INTO cell FROM new_rows WHERE status = 'active';
  IF cell IS NULL THEN
    RETURN NULL;
  END IF;
  WITH n AS MATERIALIZED (
    SELECT id, cadastral_number, geom, x0, y0, x1, y1,
           floor(x0 / cell) AS gx, floor(y0 / cell) AS gy, greatest(x1 - x0, y1 - y0) > cell AS big
      FROM (SELECT id, cadastral_number, geom, ST_XMin(b) AS x0, ST_YMin(b) AS y0,
                   ST_XMax(b) AS x1, ST_YMax(b) AS y1
              FROM (SELECT id, cadastral_number, geom, geom::box3d AS b FROM new_rows
                     WHERE status = 'active' OFFSET 0) q) r
  ), g AS MATERIALIZED (
    SELECT gx, gy, ST_SetSRID(ST_Extent(geom)::geometry, 32642) AS e
      FROM n WHERE NOT big GROUP BY gx, gy
  ), c AS MATERIALIZED (
    SELECT g.gx, g.gy, p.id, p.cadastral_number, p.geom, ST_XMin(p.b) AS x0,
           ST_YMin(p.b) AS y0, ST_XMax(p.b) AS x1, ST_YMax(p.b) AS y1
      FROM g CROSS JOIN LATERAL (
        SELECT p.id, p.status, p.cadastral_number, p.geom, p.geom::box3d AS b FROM parcel p
         WHERE p.geom && g.e OFFSET 0) p
     WHERE p.status = 'active'
  ), pairs AS (
    -- with the width and height of the part their boxes share
    SELECT n.cadastral_number AS a, c.cadastral_number AS b, n.geom AS ng, c.geom AS pg,
           least(n.x1, c.x1) - greatest(n.x0, c.x0) AS w,
           least(n.y1, c.y1) - greatest(n.y0, c.y0) AS h
      FROM n JOIN c ON c.gx = n.gx AND c.gy = n.gy
     WHERE NOT n.big AND c.id <> n.id
    UNION ALL
    SELECT n.cadastral_number, p.cadastral_number, n.geom, p.geom,
           least(n.x1, ST_XMax(p.geom)) - greatest(n.x0, ST_XMin(p.geom)),
           least(n.y1, ST_YMax(p.geom)) - greatest(n.y0, ST_YMin(p.geom))
      FROM n CROSS JOIN LATERAL (
        SELECT p.id, p.status, p.cadastral_number, p.geom FROM parcel p
         WHERE p.geom && n.geom OFFSET 0) p
     WHERE n.big AND p.status = 'active' AND p.id <> n.id
  )
  -- The area two parcels share is at most the area their boxes share: neighbours that only
  -- touch are set aside by arithmetic, then by ST_Relate, before any intersection is built.
  SELECT a, b, ST_Area(ST_Intersection(ng, pg)) AS area
    INTO r
    FROM pairs
   WHERE w > 0 AND h > 0 AND w * h > tol
     AND ST_Relate(ng, pg, 'T********') AND ST_Area(ST_Intersection(ng, pg)) > tol
   LIMIT 1;
"""

# 0011's tile note with its INSERT/DELETE/UPDATE branches replaced
TILE_BRANCHES = r"""  END IF;
  -- Envelopes merged per 1 km square in the table's CRS, then transformed (1 m wider).
  IF TG_OP = 'INSERT' THEN
    SELECT {boxes} INTO bx FROM {per_square_of_new_rows};
  ELSIF TG_OP = 'DELETE' THEN
    SELECT {boxes} INTO bx FROM {per_square_of_old_rows};
  ELSE
    SELECT {boxes} INTO bx
      FROM (SELECT e FROM {per_square_of_old_rows} UNION ALL SELECT e FROM {per_square_of_new_rows}) u;
  END IF;
"""

AUDIT = r"""
-- The audit log is append-only in time order: a BRIN index answers time ranges as well as
-- the btree did, and costs next to nothing per audited row.
DROP INDEX audit_log_at;
CREATE INDEX audit_log_at ON audit_log USING brin (at);
-- SECURITY DEFINER as 0004 made it: a QGIS login's insert is audited too.
CREATE OR REPLACE FUNCTION cadastre_audit_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF to_regclass(quote_ident(TG_TABLE_NAME || '_history')) IS NOT NULL THEN
    -- The inserted version is kept by the table and its history: point at it.
    EXECUTE format('INSERT INTO audit_log (actor, table_name, operation, row_id, before, after)'
                   ' SELECT %L, %L, ''I'', n.id, NULL, jsonb_build_object(''version'', n.version)'
                   '   FROM new_rows n', cadastre_actor(), TG_TABLE_NAME);
  ELSE
    EXECUTE format('INSERT INTO audit_log (actor, table_name, operation, row_id, before, after)'
                   ' SELECT %L, %L, ''I'', n.id, NULL, %s FROM new_rows n',
                   cadastre_actor(), TG_TABLE_NAME, cadastre_row_json_expr(TG_RELID, 'n'));
  END IF;
  RETURN NULL;
END $$;

-- The image of one audited row version: the full image an audit row holds, or, for an insert
-- into a history-keeping table, that version as the table or its history keeps it.
CREATE OR REPLACE FUNCTION cadastre_audit_image(audit_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  a audit_log;
  img jsonb;
BEGIN
  SELECT * INTO a FROM audit_log WHERE id = audit_id;
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF a.operation = 'D' THEN RETURN a.before; END IF;
  IF a.operation = 'U' OR a.after IS NULL OR NOT (a.after ? 'version')
     OR (SELECT count(*) FROM jsonb_object_keys(a.after)) > 1 THEN
    RETURN a.after;
  END IF;
  EXECUTE format('SELECT %s FROM %I n WHERE n.id = $1 AND n.version = $2',
                 cadastre_row_json_expr(a.table_name::regclass, 'n'), a.table_name)
     INTO img USING a.row_id, (a.after->>'version')::int;
  IF img IS NULL THEN
    EXECUTE format('SELECT %s FROM %I n WHERE n.id = $1 AND n.version = $2 ORDER BY n.valid_from'
                   ' LIMIT 1', cadastre_row_json_expr(a.table_name::regclass, 'n'),
                   a.table_name || '_history')
       INTO img USING a.row_id, (a.after->>'version')::int;
    -- the history row's lifespan was closed when it was replaced; as inserted it was open
    img := img || jsonb_build_object('valid_to', NULL);
  END IF;
  RETURN img;
END $$;
"""


UNIT_NUMBER = {"parcel": r"^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}$",
               "building": r"^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}:[0-9]{4}$"}


def _before_row(table: str) -> str:
    """0001's BEFORE INSERT OR UPDATE row trigger, split: INSERT gated by a WHEN condition."""
    return f"""
DROP TRIGGER {table}_10_before ON {table};
CREATE TRIGGER {table}_10_before_ins BEFORE INSERT ON {table} FOR EACH ROW
  WHEN (NEW.cadastral_number IS NULL OR NEW.cadastral_number !~ '{UNIT_NUMBER[table]}'
        OR NEW.geom IS NULL OR ST_IsEmpty(NEW.geom) OR ST_SRID(NEW.geom) <> 32642
        OR NOT ST_IsValid(NEW.geom) OR NEW.district_id IS NULL OR NEW.status <> 'active'
        OR NOT pg_has_role('pg_database_owner', 'USAGE'))
  EXECUTE FUNCTION cadastre_unit_before_row();
CREATE TRIGGER {table}_10_before_upd BEFORE UPDATE ON {table} FOR EACH ROW
  EXECUTE FUNCTION cadastre_unit_before_row();
"""


SCOPED = {"parcel": "parcel", "building": "building", "right": '"right"'}


def _scope(table: str, gated: bool) -> str:
    """0004/0008's district-scope row trigger; gated: only for a writer it may restrict."""
    q = SCOPED[table]
    when = ("\n  WHEN (nullif(current_setting('cadastre.districts', true), '') IS NOT NULL"
            "\n        OR NOT pg_has_role('pg_database_owner', 'USAGE'))" if gated else "")
    return f"""
DROP TRIGGER {table}_15_district ON {q};
CREATE TRIGGER {table}_15_district BEFORE INSERT OR UPDATE OR DELETE ON {q} FOR EACH ROW{when}
  EXECUTE FUNCTION cadastre_check_district_row();
"""


def _before_row_back(table: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS {table}_10_before_ins ON {table};
DROP TRIGGER IF EXISTS {table}_10_before_upd ON {table};
CREATE TRIGGER {table}_10_before BEFORE INSERT OR UPDATE ON {table}
  FOR EACH ROW EXECUTE FUNCTION cadastre_unit_before_row();
"""


def _tiles() -> str:
    per_square = ("(SELECT ST_SetSRID(ST_Expand(ST_Extent(geom), 1)::geometry, ST_SRID(geom)) AS e"
                  " FROM {} WHERE geom IS NOT NULL GROUP BY ST_SRID(geom),"
                  " floor(ST_XMin(geom) / 1000), floor(ST_YMin(geom) / 1000)) s")
    branches = TILE_BRANCHES.format(boxes="tile_change_coalesce(array_agg(ST_Transform(e, 3857)::box2d))",
                        per_square_of_new_rows=per_square.format("new_rows"),
                        per_square_of_old_rows=per_square.format("old_rows"))
    return _between(earlier_function("0011_tile_cache.py", "tile_change_note"),
                    "  ELSIF TG_OP = 'INSERT' THEN", "  IF bx IS NULL THEN", branches)


def _between(text: str, start: str, end: str, new: str) -> str:
    """``text`` with what lies from ``start`` up to ``end`` replaced by ``new``."""
    i = text.index(start)
    return text[:i] + new + text[text.index(end, i):]


def _district() -> str:
    return _between(earlier_function("0008_registry_integrity.py",
                                     "cadastre_check_district_geometry"),
                    "  -- Area per district from the small indexed pieces",
                    "  SELECT s.num, nd.name AS named, d.name AS actual,", DISTRICT_FAST_PATHS)


def _overlaps() -> str:
    old = earlier_function("0001_foundation.py", "parcel_check_overlaps")
    return OVERLAPS_HEAD + old[old.index("  IF FOUND THEN"):]


def upgrade() -> None:
    """Replace the four rule functions (same rules, same messages)."""
    op.execute(DISTRICT + _district() + _overlaps() + _tiles() + AUDIT
               + "".join(_before_row(t) for t in UNIT_NUMBER)
               + "".join(_scope(t, True) for t in SCOPED))


def downgrade() -> None:
    """Back to the functions of 0008, 0011 and 0001."""
    op.execute("".join(_before_row_back(t) for t in UNIT_NUMBER)
               + "".join(_scope(t, False) for t in SCOPED)
               + "DROP INDEX audit_log_at; CREATE INDEX audit_log_at ON audit_log (at);"
               "DROP FUNCTION IF EXISTS cadastre_audit_image(bigint);"
               "DROP INDEX IF EXISTS district_part_square;"
               + earlier_function("0008_registry_integrity.py", "district_part_refresh")
               + "DROP TABLE IF EXISTS district_cell; DROP FUNCTION IF EXISTS district_cell_fill();"
               + earlier_function("0001_foundation.py", "parcel_check_overlaps")
               + earlier_function("0008_registry_integrity.py", "cadastre_check_district_geometry")
               + earlier_function("0011_tile_cache.py", "tile_change_note")
               + earlier_function("0001_foundation.py", "cadastre_audit_insert")
               + "ALTER FUNCTION cadastre_audit_insert() SECURITY DEFINER"
                 " SET search_path = public, pg_temp;")
