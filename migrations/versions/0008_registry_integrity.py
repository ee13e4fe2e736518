"""Registry integrity: one clock, rights carried through splits and merges, district by geometry.

- **One clock.** ``cadastre_clock`` (one row, written only by the database owner) holds an
  offset or a fixed instant; ``cadastre_now()`` / ``cadastre_today()`` (Tashkent's calendar day)
  are the registry's and the situation center's "now" and "today": lifespans, history,
  transactions, incident deadlines and overdue state. Tests move it for every connection;
  registrar and viewer logins may only read it, and their inserts cannot backdate a lifespan.
- **Rights carried by splits and merges** kept their parent's end date *of the operation day*
  (so they lapsed the next day). The repair restores, for every carried right still active, the
  end date its source right had before the operation (from ``right_history``), following
  chains of splits and merges in order.
- **District follows the geometry, for every writer.** A statement trigger on ``parcel`` and
  ``building`` refuses a row whose number names a district other than its ``district_id``, or
  that lies mostly in another district; a building must lie (>= 95 %) in its parcel, in the same
  district, with a number extending the parcel's. Fast path: a unit covered by its district.
- **Scope for the application too.** The owner (the app) passes the acting account's districts
  per transaction (``set_config('cadastre.districts', '3,9' | 'all' | 'none', true)``) and the
  same row trigger as for QGIS logins refuses writes outside them, with one message.
- **Retired is final.** An update of a retired parcel or building is refused (SQLSTATE 55000),
  naming the active successors (``parcel_successors(id)``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CLOCK = r"""
CREATE TABLE cadastre_clock (
  only_row boolean PRIMARY KEY DEFAULT true CONSTRAINT cadastre_clock_one_row CHECK (only_row),
  offset_by interval NOT NULL DEFAULT interval '0',
  fixed_at timestamptz,
  note text
);
COMMENT ON TABLE cadastre_clock IS
  'The registry clock: now() + offset_by, or fixed_at when set. Only the database owner writes it.';
INSERT INTO cadastre_clock DEFAULT VALUES;
REVOKE ALL ON cadastre_clock FROM PUBLIC;
GRANT SELECT ON cadastre_clock TO PUBLIC;

-- The registry's "now": the transaction's start moved by the clock (STABLE: one value per
-- statement, so a statement never sees two instants).
CREATE OR REPLACE FUNCTION cadastre_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce((SELECT coalesce(c.fixed_at, now() + c.offset_by) FROM cadastre_clock c), now())
$$;

-- The registry's "today": the calendar day in Tashkent at cadastre_now().
CREATE OR REPLACE FUNCTION cadastre_today() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT (cadastre_now() AT TIME ZONE 'Asia/Tashkent')::date
$$;
GRANT EXECUTE ON FUNCTION cadastre_now(), cadastre_today() TO PUBLIC;

ALTER TABLE parcel ALTER COLUMN valid_from SET DEFAULT cadastre_now(),
  ALTER COLUMN updated_at SET DEFAULT cadastre_now();
ALTER TABLE building ALTER COLUMN valid_from SET DEFAULT cadastre_now(),
  ALTER COLUMN updated_at SET DEFAULT cadastre_now();
ALTER TABLE "right" ALTER COLUMN valid_from SET DEFAULT cadastre_now(),
  ALTER COLUMN updated_at SET DEFAULT cadastre_now();
ALTER TABLE parcel_history ALTER COLUMN changed_at SET DEFAULT cadastre_now();
ALTER TABLE building_history ALTER COLUMN changed_at SET DEFAULT cadastre_now();
ALTER TABLE right_history ALTER COLUMN changed_at SET DEFAULT cadastre_now();
ALTER TABLE registry_transaction ALTER COLUMN created_at SET DEFAULT cadastre_now();
ALTER TABLE parcel_lineage ALTER COLUMN created_at SET DEFAULT cadastre_now();
ALTER TABLE source_document ALTER COLUMN created_at SET DEFAULT cadastre_now();
ALTER TABLE incident ALTER COLUMN reported_at SET DEFAULT cadastre_now(),
  ALTER COLUMN updated_at SET DEFAULT cadastre_now();

-- BEFORE ROW on parcel and building: as in 0001, on the registry clock; a district-restricted
-- login (QGIS) cannot choose a lifespan: its rows start now.
CREATE OR REPLACE FUNCTION cadastre_unit_before_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  pattern text := CASE WHEN TG_TABLE_NAME = 'building'
    THEN '^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}:[0-9]{4}$'
    ELSE '^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}$' END;
  example text := CASE WHEN TG_TABLE_NAME = 'building'
    THEN '10:09:03:01:01:0045:0001' ELSE '10:09:03:01:01:0045' END;
  t timestamptz;
BEGIN
  IF NEW.cadastral_number IS NULL OR NEW.cadastral_number !~ pattern THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('%s cadastral number %s is not in the form %s', TG_TABLE_NAME,
                       coalesce(quote_literal(NEW.cadastral_number), 'NULL'), example);
  END IF;
  IF NEW.geom IS NULL OR ST_IsEmpty(NEW.geom) OR ST_SRID(NEW.geom) <> 32642
     OR NOT ST_IsValid(NEW.geom) THEN
    PERFORM cadastre_check_geometry(format('%s %s', TG_TABLE_NAME, NEW.cadastral_number),
                                    NEW.geom, 32642);
  END IF;
  IF NEW.district_id IS NULL THEN
    SELECT d.id INTO NEW.district_id FROM district d
     WHERE d.code = split_part(NEW.cadastral_number, ':', 2);
  END IF;
  IF TG_OP = 'INSERT' AND current_setting('is_superuser') = 'off'
     AND cadastre_district_restricted() THEN
    t := cadastre_now();
    NEW.valid_from := t; NEW.updated_at := t;
    NEW.valid_to := CASE WHEN NEW.status = 'retired' THEN t END;
  END IF;
  IF NEW.status IN ('retired') AND NEW.valid_to IS NULL THEN
    NEW.valid_to := greatest(cadastre_now(), NEW.valid_from);
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF OLD.status = 'retired' THEN
      RAISE EXCEPTION USING ERRCODE = '55000',
        MESSAGE = format('%s %s is retired%s; it cannot be changed', TG_TABLE_NAME,
          OLD.cadastral_number,
          CASE WHEN TG_TABLE_NAME = 'parcel' THEN
            coalesce(' (successors: ' || parcel_successors(OLD.id) || ')', '') ELSE '' END);
    END IF;
    t := cadastre_now();
    NEW.version := OLD.version + 1;
    NEW.valid_from := greatest(t, OLD.valid_from);
    NEW.updated_at := t;
    NEW.updated_by := cadastre_actor();
    IF NEW.status = 'active' THEN NEW.valid_to := NULL; END IF;
    IF NEW.status = 'retired' THEN NEW.valid_to := greatest(NEW.valid_to, NEW.valid_from); END IF;
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION right_before_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz;
BEGIN
  IF TG_OP = 'INSERT' AND current_setting('is_superuser') = 'off'
     AND cadastre_district_restricted() THEN
    NEW.valid_from := cadastre_now(); NEW.updated_at := NEW.valid_from; NEW.valid_to := NULL;
  END IF;
  IF NEW.status = 'ended' AND NEW.valid_to IS NULL THEN
    NEW.valid_to := greatest(cadastre_now(), NEW.valid_from);
  END IF;
  IF TG_OP = 'UPDATE' THEN
    t := cadastre_now();
    NEW.version := OLD.version + 1;
    NEW.valid_from := greatest(t, OLD.valid_from);
    NEW.updated_at := t;
    NEW.updated_by := cadastre_actor();
    IF NEW.status = 'ended' THEN NEW.valid_to := greatest(NEW.valid_to, NEW.valid_from); END IF;
  END IF;
  RETURN NEW;
END $$;

-- History: the previous version closes at the registry clock's now.
CREATE OR REPLACE FUNCTION cadastre_history_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  cols text;
  vals text;
BEGIN
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
         string_agg(CASE WHEN a.attname = 'valid_to'
                         THEN 'greatest(cadastre_now(), o.valid_from)'
                         ELSE 'o.' || quote_ident(a.attname) END, ', ' ORDER BY a.attnum)
    INTO cols, vals
    FROM pg_attribute a
   WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped;
  EXECUTE format('INSERT INTO %I (%s, operation, changed_at, changed_by)'
                 ' SELECT %s, %L, cadastre_now(), cadastre_actor() FROM old_rows o',
                 TG_TABLE_NAME || '_history', cols, vals,
                 CASE TG_OP WHEN 'UPDATE' THEN 'U' ELSE 'D' END);
  RETURN NULL;
END $$;

-- Incidents: resolution/closing stamps and the overdue state on the registry clock.
CREATE OR REPLACE FUNCTION incident_lifecycle() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  allowed text;
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NOT EXISTS (SELECT 1 FROM incident_transition t
                    WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
      SELECT string_agg(t.to_status, ', ' ORDER BY t.to_status) INTO allowed
        FROM incident_transition t WHERE t.from_status = OLD.status;
      RAISE EXCEPTION USING ERRCODE = '23514',
        MESSAGE = format('incident %s cannot go from %s to %s (allowed: %s)',
                         OLD.id, OLD.status, NEW.status, coalesce(allowed, 'none'));
    END IF;
    IF NEW.status = 'duplicate' AND NEW.duplicate_of IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '23514',
        MESSAGE = format('incident %s: a duplicate needs duplicate_of', OLD.id);
    END IF;
    IF NEW.status = 'resolved' THEN NEW.resolved_at := coalesce(NEW.resolved_at, cadastre_now()); END IF;
    IF NEW.status = 'closed' THEN NEW.closed_at := coalesce(NEW.closed_at, cadastre_now()); END IF;
    IF incident_is_open(NEW.status) THEN
      NEW.resolved_at := NULL; NEW.closed_at := NULL;
    END IF;
    IF NEW.status <> 'duplicate' AND OLD.status = 'duplicate' THEN NEW.duplicate_of := NULL; END IF;
  END IF;
  IF NEW.duplicate_of IS NOT NULL AND NEW.duplicate_of = NEW.id THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('incident %s cannot be a duplicate of itself', OLD.id);
  END IF;
  IF (NEW.status, NEW.priority, NEW.category, NEW.geom, NEW.service_id, NEW.duplicate_of,
      NEW.title, NEW.description, NEW.address, NEW.visibility, NEW.deadline)
     IS DISTINCT FROM
     (OLD.status, OLD.priority, OLD.category, OLD.geom, OLD.service_id, OLD.duplicate_of,
      OLD.title, OLD.description, OLD.address, OLD.visibility, OLD.deadline) THEN
    NEW.version := OLD.version + 1;
    NEW.updated_at := cadastre_now();
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE VIEW ogc_public_incident AS
SELECT i.id, i.category, i.status, i.priority, i.district_id, i.reported_at, i.deadline,
       i.resolved_at, i.closed_at, i.version,
       (i.deadline IS NOT NULL AND i.deadline < cadastre_now()
        AND i.status NOT IN ('resolved', 'closed', 'duplicate', 'rejected')) AS overdue,
       i.geom
  FROM incident i
  JOIN incident_category c ON c.code = i.category
 WHERE i.visibility = 'public' AND c.public;
"""

SUCCESSORS = r"""
-- The active parcels a retired parcel lives on in (through any chain of splits and merges),
-- as a comma-separated list of numbers; NULL when there are none.
CREATE OR REPLACE FUNCTION parcel_successors(pid bigint) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT string_agg(DISTINCT p.cadastral_number, ', ' ORDER BY p.cadastral_number)
    FROM parcel_lineage_tree(pid) t JOIN parcel p ON p.id = t.parcel_id
   WHERE t.depth > 0 AND p.status = 'active'
$$;
"""

REPAIR = r"""
-- Rights carried by a split or merge copied the parent's end date set by the operation
-- itself. Restore the end date the source right had before the operation, in operation order
-- (a right carried twice takes the value restored the first time).
DO $$
DECLARE
  t record;
  n integer := 0;
BEGIN
  PERFORM set_config('cadastre.actor', 'migration 0008 (carried rights repair)', true);
  CREATE TEMP TABLE carried_fix (right_id bigint PRIMARY KEY, ends_on date) ON COMMIT DROP;
  FOR t IN SELECT id FROM registry_transaction WHERE kind IN ('split', 'merge') ORDER BY id LOOP
    INSERT INTO carried_fix (right_id, ends_on)
    SELECT DISTINCT ON (c.id) c.id,
           CASE WHEN f.right_id IS NOT NULL THEN f.ends_on ELSE
             (SELECT h.ends_on FROM right_history h
               WHERE h.id = p.id AND h.status = 'active'
               ORDER BY h.version DESC LIMIT 1) END
      FROM "right" c
      JOIN parcel_lineage lc ON lc.child_id = c.parcel_id AND lc.transaction_id = t.id
      JOIN parcel_lineage lp ON lp.transaction_id = t.id
      JOIN "right" p ON p.parcel_id = lp.parent_id AND p.transaction_id = t.id
       AND p.status = 'ended' AND p.kind = c.kind
       AND p.party_id IS NOT DISTINCT FROM c.party_id
       AND p.share_num IS NOT DISTINCT FROM c.share_num
       AND p.share_den IS NOT DISTINCT FROM c.share_den
       AND p.holder IS NOT DISTINCT FROM c.holder
       AND p.registration_number IS NOT DISTINCT FROM c.registration_number
       AND p.starts_on IS NOT DISTINCT FROM c.starts_on
       AND p.ends_on IS NOT DISTINCT FROM c.ends_on
      LEFT JOIN carried_fix f ON f.right_id = p.id
     WHERE c.transaction_id = t.id OR EXISTS (
             SELECT 1 FROM right_history hc WHERE hc.id = c.id AND hc.transaction_id = t.id)
     ORDER BY c.id, p.id
    ON CONFLICT (right_id) DO NOTHING;
  END LOOP;
  UPDATE "right" r SET ends_on = f.ends_on
    FROM carried_fix f
   WHERE r.id = f.right_id AND r.status = 'active'
     AND r.ends_on IS DISTINCT FROM f.ends_on
     AND (f.ends_on IS NULL OR r.starts_on IS NULL OR f.ends_on >= r.starts_on);
  GET DIAGNOSTICS n = ROW_COUNT;
  RAISE NOTICE 'migration 0008: % carried right(s) got their end date back', n;
END $$;

-- Registrar accounts without districts used to edit the whole city; now they edit nothing
-- until given districts (fail closed). Say who they are.
DO $$
DECLARE names text;
BEGIN
  SELECT string_agg(username, ', ' ORDER BY username) INTO names FROM account
   WHERE role = 'registrar' AND cardinality(district_ids) = 0;
  IF names IS NOT NULL THEN
    RAISE NOTICE 'migration 0008: registrar account(s) % have no district and may no longer'
                 ' edit anything; give them districts (account.district_ids)', names;
  END IF;
END $$;
"""

DISTRICT = r"""
-- District cells cut into small indexed pieces: the fast path "this unit lies inside its
-- district" is then one index probe and a cheap ST_CoveredBy (a whole district polygon would be
-- detoasted for every row). Rebuilt from district by a statement trigger.
CREATE TABLE district_part (
  id serial PRIMARY KEY,
  district_id integer NOT NULL REFERENCES district ON DELETE CASCADE,
  i integer NOT NULL,       -- the 1 km grid square [i, i+1) × [j, j+1) km holding the piece
  j integer NOT NULL,
  is_box boolean NOT NULL,  -- the piece is the whole square: lying in the square decides
  geom geometry(Polygon, 32642) NOT NULL
);
CREATE INDEX district_part_box ON district_part (district_id, i, j) WHERE is_box;
CREATE INDEX district_part_geom ON district_part USING gist (geom);
GRANT SELECT ON district_part TO PUBLIC;

-- Each district cut by a 1 km square grid: inner pieces are exact boxes.
CREATE OR REPLACE FUNCTION district_part_fill() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  INSERT INTO district_part (district_id, i, j, is_box, geom)
  SELECT x.id, x.i, x.j, abs(ST_Area(x.g) - 1e6) < 1e-3, x.g
    FROM (SELECT d.id, floor(ST_XMin(sq.geom) / 1000)::int AS i,
                 floor(ST_YMin(sq.geom) / 1000)::int AS j,
                 (ST_Dump(ST_CollectionExtract(ST_Intersection(ST_Force2D(d.geom),
                                                               sq.geom), 3))).geom AS g
            FROM district d, ST_SquareGrid(1000, d.geom) sq
           WHERE d.geom IS NOT NULL AND ST_Intersects(d.geom, sq.geom)) x
   WHERE NOT ST_IsEmpty(x.g)
$$;

CREATE OR REPLACE FUNCTION district_part_refresh() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  DELETE FROM district_part;
  PERFORM district_part_fill();
  RETURN NULL;
END $$;
CREATE TRIGGER district_50_parts AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON district
  FOR EACH STATEMENT EXECUTE FUNCTION district_part_refresh();
SELECT district_part_fill();

-- The districts the current writer may edit: NULL = unrestricted. A district-restricted login
-- (QGIS) is held to db_user_district whatever it sets; the owner (the application) is held
-- to the acting account's districts when it passes them in cadastre.districts.
CREATE OR REPLACE FUNCTION cadastre_allowed_districts() RETURNS integer[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
  g text;
BEGIN
  IF current_setting('is_superuser') = 'off' AND cadastre_district_restricted() THEN
    RETURN ARRAY(SELECT DISTINCT u.district_id FROM db_user_district u
                  WHERE u.db_user IN (current_user::text, session_user::text));
  END IF;
  g := nullif(current_setting('cadastre.districts', true), '');
  IF g IS NULL OR g = 'all' THEN RETURN NULL; END IF;
  IF g = 'none' THEN RETURN '{}'::integer[]; END IF;
  RETURN string_to_array(g, ',')::integer[];
END $$;

-- Raise the one scope message when d_old or d_new is outside the writer's districts.
CREATE OR REPLACE FUNCTION cadastre_check_scope(label text, d_old integer, d_new integer,
                                                allowed integer[])
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
  bad integer; mine text; who text;
BEGIN
  IF allowed IS NULL THEN RETURN; END IF;
  IF d_old IS NOT NULL AND NOT d_old = ANY(allowed) THEN bad := d_old;
  ELSIF d_new IS NOT NULL AND NOT d_new = ANY(allowed) THEN bad := d_new;
  ELSIF d_old IS NULL AND d_new IS NULL AND cardinality(allowed) = 0 THEN bad := -1;
  ELSE RETURN;
  END IF;
  SELECT string_agg(d.name, ', ' ORDER BY d.name) INTO mine FROM district d
   WHERE d.id = ANY(allowed);
  who := CASE WHEN current_setting('is_superuser') = 'off' AND cadastre_district_restricted()
              THEN 'database user ' || session_user ELSE cadastre_actor() END;
  RAISE EXCEPTION USING ERRCODE = '42501',
    MESSAGE = format('%s is in district %s; %s may edit only %s', label,
      coalesce((SELECT name FROM district WHERE id = bad), 'unknown'), who,
      coalesce(mine, 'no district'));
END $$;

-- Row trigger of 0004, now also for the application's acting account (cadastre.districts).
-- It stays a BEFORE ROW trigger: for a QGIS login it must speak before row-level security's
-- WITH CHECK does (with its own, less clear message); the owner without an acting account
-- (loaders, bulk loads) leaves at the first test, so it costs nothing set-based would save.
CREATE OR REPLACE FUNCTION cadastre_check_district_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  d_old integer; d_new integer; label text; allowed integer[];
BEGIN
  -- Fast path: owner or superuser without an acting account (loaders, migrations).
  IF nullif(current_setting('cadastre.districts', true), '') IS NULL
     AND (current_setting('is_superuser') = 'on' OR NOT cadastre_district_restricted()) THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  allowed := cadastre_allowed_districts();
  IF allowed IS NULL THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_TABLE_NAME = 'right' THEN
    IF TG_OP <> 'INSERT' THEN
      SELECT coalesce((SELECT district_id FROM parcel WHERE id = OLD.parcel_id),
                      (SELECT district_id FROM building WHERE id = OLD.building_id)) INTO d_old;
    END IF;
    IF TG_OP <> 'DELETE' THEN
      SELECT coalesce((SELECT district_id FROM parcel WHERE id = NEW.parcel_id),
                      (SELECT district_id FROM building WHERE id = NEW.building_id)) INTO d_new;
    END IF;
    label := format('right %s', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  ELSE
    IF TG_OP <> 'INSERT' THEN d_old := OLD.district_id; END IF;
    IF TG_OP <> 'DELETE' THEN
      d_new := coalesce(NEW.district_id, (SELECT d.id FROM district d
                                           WHERE d.code = split_part(NEW.cadastral_number, ':', 2)));
    END IF;
    label := format('%s %s', TG_TABLE_NAME,
                    CASE WHEN TG_OP = 'DELETE' THEN OLD.cadastral_number ELSE NEW.cadastral_number END);
  END IF;
  PERFORM cadastre_check_scope(label, d_old, d_new, allowed);
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- AFTER STATEMENT on parcel and building: the district a unit's number names is its
-- district_id and holds the larger part of its area; a building lies (>= 95 %) in its
-- parcel, in the same district, its number extending the parcel's. A parcel whose boundary or
-- number changes keeps its buildings so. Fast path: units covered by their district/parcel.
CREATE OR REPLACE FUNCTION cadastre_check_district_geometry() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  what text := TG_TABLE_NAME;
BEGIN
  SELECT n.cadastral_number AS num, n.district_id, nd.id AS named, nd.name AS named_name
    INTO r
    FROM new_rows n LEFT JOIN district nd ON nd.code = split_part(n.cadastral_number, ':', 2)
   WHERE n.status = 'active' AND n.district_id IS DISTINCT FROM nd.id
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('%s %s: its number names district %s, but it is recorded in %s', what,
        r.num, coalesce(r.named_name, split_part(r.num, ':', 2) || ' (unknown)'),
        coalesce((SELECT name FROM district WHERE id = r.district_id), 'no district'));
  END IF;

  -- Area per district from the small indexed pieces: the named district's share first; only
  -- when it is below half can another district hold more.
  WITH s AS (
    SELECT n.cadastral_number AS num, n.district_id, n.geom, ST_Area(n.geom) AS a,
           coalesce((SELECT sum(ST_Area(ST_Intersection(n.geom, dp.geom))) FROM district_part dp
                      WHERE dp.district_id = n.district_id AND dp.geom && n.geom), 0) AS own
      FROM new_rows n
     WHERE n.status = 'active' AND n.district_id IS NOT NULL
       -- fast path 1 (a hash join): the unit lies in one whole 1 km square of its district
       AND NOT EXISTS (SELECT 1 FROM district_part b WHERE b.is_box
                        AND b.district_id = n.district_id
                        AND b.i = floor(ST_XMin(n.geom) / 1000)::int
                        AND b.j = floor(ST_YMin(n.geom) / 1000)::int
                        AND ST_XMax(n.geom) <= (b.i + 1) * 1000.0
                        AND ST_YMax(n.geom) <= (b.j + 1) * 1000.0)
       -- fast path 2: covered by one (edge) piece of its district
       AND NOT EXISTS (SELECT 1 FROM district_part dp WHERE dp.geom ~ n.geom
                        AND dp.district_id = n.district_id AND ST_CoveredBy(n.geom, dp.geom)))
  SELECT s.num, nd.name AS named, d.name AS actual,
         round((100 * b.area / s.a)::numeric, 1) AS pct,
         round((100 * s.own / s.a)::numeric, 1) AS named_pct
    INTO r
    FROM s
    JOIN district nd ON nd.id = s.district_id
    CROSS JOIN LATERAL (
      SELECT dp.district_id, sum(ST_Area(ST_Intersection(s.geom, dp.geom))) AS area
        FROM district_part dp WHERE dp.geom && s.geom AND dp.district_id <> s.district_id
       GROUP BY dp.district_id ORDER BY 2 DESC LIMIT 1) b
    JOIN district d ON d.id = b.district_id
   WHERE 2 * s.own < s.a AND b.area > s.own
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('%s %s lies mostly in district %s (%s %% of its area, %s %% in %s);'
                       ' its number names %s', what, r.num, r.actual, r.pct, r.named_pct,
                       r.named, r.named);
  END IF;

  IF TG_TABLE_NAME = 'building' THEN
    SELECT n.cadastral_number AS num, p.cadastral_number AS pnum, p.status AS pstatus,
           (n.cadastral_number NOT LIKE p.cadastral_number || ':%') AS bad_number,
           (n.district_id IS DISTINCT FROM p.district_id) AS bad_district,
           round((100 * ST_Area(ST_Intersection(n.geom, p.geom)) / ST_Area(n.geom))::numeric, 1)
             AS pct
      INTO r
      FROM new_rows n JOIN parcel p ON p.id = n.parcel_id
     WHERE n.status = 'active'
       AND (n.cadastral_number NOT LIKE p.cadastral_number || ':%'
            OR n.district_id IS DISTINCT FROM p.district_id
            OR (NOT ST_CoveredBy(n.geom, p.geom)
                AND ST_Area(ST_Intersection(n.geom, p.geom)) < 0.95 * ST_Area(n.geom)))
     LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = '23514',
        MESSAGE = CASE
          WHEN r.bad_number THEN format('building %s: its number does not extend the number of'
                                        ' its parcel %s', r.num, r.pnum)
          WHEN r.bad_district THEN format('building %s is not in the district of its parcel %s',
                                          r.num, r.pnum)
          ELSE format('building %s lies only %s %% in its parcel %s (at least 95 %% required)',
                      r.num, r.pct, r.pnum) END;
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    SELECT b.cadastral_number AS bnum, n.cadastral_number AS pnum,
           (b.cadastral_number NOT LIKE n.cadastral_number || ':%') AS bad_number,
           round((100 * ST_Area(ST_Intersection(b.geom, n.geom)) / ST_Area(b.geom))::numeric, 1)
             AS pct
      INTO r
      FROM new_rows n JOIN old_rows o ON o.id = n.id
      JOIN building b ON b.parcel_id = n.id AND b.status = 'active'
     WHERE n.status = 'active'
       AND (o.geom IS DISTINCT FROM n.geom OR o.cadastral_number <> n.cadastral_number)
       AND (b.cadastral_number NOT LIKE n.cadastral_number || ':%'
            OR (NOT ST_CoveredBy(b.geom, n.geom)
                AND ST_Area(ST_Intersection(b.geom, n.geom)) < 0.95 * ST_Area(b.geom)))
     LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = '23514',
        MESSAGE = CASE WHEN r.bad_number
          THEN format('parcel %s: building %s on it would no longer extend its number', r.pnum, r.bnum)
          ELSE format('parcel %s: building %s would lie only %s %% in it (at least 95 %% required)',
                      r.pnum, r.bnum, r.pct) END;
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER parcel_25_district_ins AFTER INSERT ON parcel
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cadastre_check_district_geometry();
CREATE TRIGGER parcel_25_district_upd AFTER UPDATE ON parcel
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cadastre_check_district_geometry();
CREATE TRIGGER building_25_district_ins AFTER INSERT ON building
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cadastre_check_district_geometry();
CREATE TRIGGER building_25_district_upd AFTER UPDATE ON building
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cadastre_check_district_geometry();

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cadastre_registrar') THEN
    GRANT EXECUTE ON FUNCTION cadastre_allowed_districts(), parcel_successors(bigint)
      TO cadastre_registrar;
  END IF;
END $$;
"""

DOWNGRADE = r"""
DROP TRIGGER IF EXISTS parcel_25_district_ins ON parcel;
DROP TRIGGER IF EXISTS parcel_25_district_upd ON parcel;
DROP TRIGGER IF EXISTS building_25_district_ins ON building;
DROP TRIGGER IF EXISTS building_25_district_upd ON building;
DROP FUNCTION IF EXISTS cadastre_check_district_geometry();
DROP TRIGGER IF EXISTS district_50_parts ON district;
DROP TABLE IF EXISTS district_part;
DROP FUNCTION IF EXISTS district_part_refresh();
DROP FUNCTION IF EXISTS district_part_fill();

-- 0004's row trigger function, as it was.
CREATE OR REPLACE FUNCTION cadastre_check_district_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  d_old integer; d_new integer; label text; mine text;
BEGIN
  IF current_setting('is_superuser') = 'on' OR NOT cadastre_district_restricted() THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_TABLE_NAME = 'right' THEN
    IF TG_OP <> 'INSERT' THEN
      SELECT coalesce((SELECT district_id FROM parcel WHERE id = OLD.parcel_id),
                      (SELECT district_id FROM building WHERE id = OLD.building_id)) INTO d_old;
    END IF;
    IF TG_OP <> 'DELETE' THEN
      SELECT coalesce((SELECT district_id FROM parcel WHERE id = NEW.parcel_id),
                      (SELECT district_id FROM building WHERE id = NEW.building_id)) INTO d_new;
    END IF;
    label := format('right %s', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  ELSE
    IF TG_OP <> 'INSERT' THEN d_old := OLD.district_id; END IF;
    IF TG_OP <> 'DELETE' THEN d_new := NEW.district_id; END IF;
    label := format('%s %s', TG_TABLE_NAME,
                    CASE WHEN TG_OP = 'DELETE' THEN OLD.cadastral_number ELSE NEW.cadastral_number END);
  END IF;
  IF (TG_OP <> 'INSERT' AND NOT cadastre_may_edit_district(d_old))
     OR (TG_OP <> 'DELETE' AND NOT cadastre_may_edit_district(d_new)) THEN
    SELECT string_agg(d.name, ', ' ORDER BY d.name) INTO mine
      FROM db_user_district u JOIN district d ON d.id = u.district_id
     WHERE u.db_user = session_user::text;
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('%s is in district %s; database user %s may edit only %s', label,
        coalesce((SELECT name FROM district WHERE id = CASE WHEN TG_OP <> 'INSERT'
                  AND NOT cadastre_may_edit_district(d_old) THEN d_old ELSE d_new END), 'unknown'),
        session_user, coalesce(mine, 'no district'));
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
DROP FUNCTION IF EXISTS cadastre_check_scope(text, integer, integer, integer[]);
DROP FUNCTION IF EXISTS cadastre_allowed_districts();

CREATE OR REPLACE FUNCTION cadastre_unit_before_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  pattern text := CASE WHEN TG_TABLE_NAME = 'building'
    THEN '^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}:[0-9]{4}$'
    ELSE '^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}$' END;
  example text := CASE WHEN TG_TABLE_NAME = 'building'
    THEN '10:09:03:01:01:0045:0001' ELSE '10:09:03:01:01:0045' END;
BEGIN
  IF NEW.cadastral_number IS NULL OR NEW.cadastral_number !~ pattern THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('%s cadastral number %s is not in the form %s', TG_TABLE_NAME,
                       coalesce(quote_literal(NEW.cadastral_number), 'NULL'), example);
  END IF;
  IF NEW.geom IS NULL OR ST_IsEmpty(NEW.geom) OR ST_SRID(NEW.geom) <> 32642
     OR NOT ST_IsValid(NEW.geom) THEN
    PERFORM cadastre_check_geometry(format('%s %s', TG_TABLE_NAME, NEW.cadastral_number),
                                    NEW.geom, 32642);
  END IF;
  IF NEW.district_id IS NULL THEN
    SELECT d.id INTO NEW.district_id FROM district d
     WHERE d.code = split_part(NEW.cadastral_number, ':', 2);
  END IF;
  IF NEW.status IN ('retired') AND NEW.valid_to IS NULL THEN
    NEW.valid_to := now();
  END IF;
  IF TG_OP = 'UPDATE' THEN
    NEW.version := OLD.version + 1;
    NEW.valid_from := greatest(now(), OLD.valid_from);
    NEW.updated_at := now();
    NEW.updated_by := cadastre_actor();
    IF NEW.status = 'active' THEN NEW.valid_to := NULL; END IF;
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION right_before_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'ended' AND NEW.valid_to IS NULL THEN
    NEW.valid_to := now();
  END IF;
  IF TG_OP = 'UPDATE' THEN
    NEW.version := OLD.version + 1;
    NEW.valid_from := greatest(now(), OLD.valid_from);
    NEW.updated_at := now();
    NEW.updated_by := cadastre_actor();
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION cadastre_history_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  cols text;
  vals text;
BEGIN
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
         string_agg(CASE WHEN a.attname = 'valid_to' THEN 'now()'
                         ELSE 'o.' || quote_ident(a.attname) END, ', ' ORDER BY a.attnum)
    INTO cols, vals
    FROM pg_attribute a
   WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped;
  EXECUTE format('INSERT INTO %I (%s, operation, changed_at, changed_by)'
                 ' SELECT %s, %L, now(), cadastre_actor() FROM old_rows o',
                 TG_TABLE_NAME || '_history', cols, vals,
                 CASE TG_OP WHEN 'UPDATE' THEN 'U' ELSE 'D' END);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION incident_lifecycle() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  allowed text;
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NOT EXISTS (SELECT 1 FROM incident_transition t
                    WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
      SELECT string_agg(t.to_status, ', ' ORDER BY t.to_status) INTO allowed
        FROM incident_transition t WHERE t.from_status = OLD.status;
      RAISE EXCEPTION USING ERRCODE = '23514',
        MESSAGE = format('incident %s cannot go from %s to %s (allowed: %s)',
                         OLD.id, OLD.status, NEW.status, coalesce(allowed, 'none'));
    END IF;
    IF NEW.status = 'duplicate' AND NEW.duplicate_of IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '23514',
        MESSAGE = format('incident %s: a duplicate needs duplicate_of', OLD.id);
    END IF;
    IF NEW.status = 'resolved' THEN NEW.resolved_at := coalesce(NEW.resolved_at, now()); END IF;
    IF NEW.status = 'closed' THEN NEW.closed_at := coalesce(NEW.closed_at, now()); END IF;
    IF incident_is_open(NEW.status) THEN
      NEW.resolved_at := NULL; NEW.closed_at := NULL;
    END IF;
    IF NEW.status <> 'duplicate' AND OLD.status = 'duplicate' THEN NEW.duplicate_of := NULL; END IF;
  END IF;
  IF NEW.duplicate_of IS NOT NULL AND NEW.duplicate_of = NEW.id THEN
    RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = format('incident %s cannot be a duplicate of itself', OLD.id);
  END IF;
  IF (NEW.status, NEW.priority, NEW.category, NEW.geom, NEW.service_id, NEW.duplicate_of,
      NEW.title, NEW.description, NEW.address, NEW.visibility, NEW.deadline)
     IS DISTINCT FROM
     (OLD.status, OLD.priority, OLD.category, OLD.geom, OLD.service_id, OLD.duplicate_of,
      OLD.title, OLD.description, OLD.address, OLD.visibility, OLD.deadline) THEN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE VIEW ogc_public_incident AS
SELECT i.id, i.category, i.status, i.priority, i.district_id, i.reported_at, i.deadline,
       i.resolved_at, i.closed_at, i.version,
       (i.deadline IS NOT NULL AND i.deadline < now()
        AND i.status NOT IN ('resolved', 'closed', 'duplicate', 'rejected')) AS overdue,
       i.geom
  FROM incident i
  JOIN incident_category c ON c.code = i.category
 WHERE i.visibility = 'public' AND c.public;

ALTER TABLE parcel ALTER COLUMN valid_from SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE building ALTER COLUMN valid_from SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE "right" ALTER COLUMN valid_from SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE parcel_history ALTER COLUMN changed_at SET DEFAULT now();
ALTER TABLE building_history ALTER COLUMN changed_at SET DEFAULT now();
ALTER TABLE right_history ALTER COLUMN changed_at SET DEFAULT now();
ALTER TABLE registry_transaction ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE parcel_lineage ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE source_document ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE incident ALTER COLUMN reported_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
DROP FUNCTION IF EXISTS parcel_successors(bigint);
DROP FUNCTION IF EXISTS cadastre_today();
DROP FUNCTION IF EXISTS cadastre_now();
DROP TABLE IF EXISTS cadastre_clock;
"""


def upgrade() -> None:
    """The clock, the carried-rights repair, district-by-geometry and scope rules."""
    op.execute(CLOCK)
    op.execute(SUCCESSORS)
    op.execute(REPAIR)
    op.execute(DISTRICT)


def downgrade() -> None:
    """Back to 0007's functions and defaults (repaired end dates stay: they are correct)."""
    op.execute(DOWNGRADE)
