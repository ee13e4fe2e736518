"""Registry: database roles for QGIS, row-level security by district, lineage helpers.

- Group roles ``cadastre_registrar`` (edits parcels, buildings and rights of its districts)
  and ``cadastre_viewer`` (reads the registry), NOLOGIN, created IF NOT EXISTS: roles are
  cluster-wide, so several databases on one cluster share them.
- ``db_user_district`` says which database login may edit which district; row-level
  security on ``parcel``, ``building`` and ``right`` enforces it for members of
  ``cadastre_registrar``. The tables' owner (the application) bypasses RLS as before.
- The history and audit trigger functions run as their owner (SECURITY DEFINER), so a QGIS
  login needs no privilege on the history and audit tables, and cannot forge them; the actor
  is still the session user (``cadastre_actor()`` reads ``session_user``).
- ``parcel_lineage_tree(id)`` — ancestors and descendants of a parcel, recursively.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROLES = ("cadastre_registrar", "cadastre_viewer")
DEFINER_FUNCTIONS = ("cadastre_history_update()", "cadastre_audit_insert()",
                     "cadastre_audit_update()", "cadastre_audit_delete()")

UPGRADE = r"""
-- Roles are cluster-wide: create them when missing, tolerate a concurrent creator, and go on
-- without them when the migrating user may not create roles (grants are then skipped).
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['cadastre_registrar', 'cadastre_viewer'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;
        WHEN insufficient_privilege THEN
          RAISE NOTICE 'cannot create role %: ask a superuser to run CREATE ROLE % NOLOGIN', r, r;
      END;
    END IF;
  END LOOP;
END $$;

-- New parcel numbers are the next free ones of a quarter, looked up by prefix in the history
-- too (a number once used is never given again).
CREATE INDEX parcel_history_number ON parcel_history (cadastral_number text_pattern_ops);

CREATE TABLE db_user_district (
  db_user text NOT NULL,
  district_id integer NOT NULL REFERENCES district ON DELETE CASCADE,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (db_user, district_id)
);
COMMENT ON TABLE db_user_district IS
  'Which database login (QGIS user) may edit which district (row-level security)';

-- May the current database user edit rows of this district? (Members of cadastre_registrar
-- only; the row-level-security policies below call it.)
CREATE OR REPLACE FUNCTION cadastre_may_edit_district(d integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT d IS NOT NULL AND EXISTS (
    SELECT 1 FROM db_user_district u
     WHERE u.district_id = d AND u.db_user IN (current_user::text, session_user::text))
$$;

CREATE OR REPLACE FUNCTION cadastre_may_edit_right(p bigint, b bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(
    (SELECT cadastre_may_edit_district(x.district_id) FROM parcel x WHERE x.id = p),
    (SELECT cadastre_may_edit_district(y.district_id) FROM building y WHERE y.id = b),
    false)
$$;

-- Ancestors (depth < 0) and descendants (depth > 0) of a parcel.
CREATE OR REPLACE FUNCTION parcel_lineage_tree(pid bigint)
RETURNS TABLE (parcel_id bigint, depth integer, kind text, transaction_id bigint)
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE up(id, depth, kind, tx, path) AS (
      SELECT l.parent_id, -1, l.kind, l.transaction_id, ARRAY[pid, l.parent_id]
        FROM parcel_lineage l WHERE l.child_id = pid
      UNION ALL
      SELECT l.parent_id, u.depth - 1, l.kind, l.transaction_id, u.path || l.parent_id
        FROM parcel_lineage l JOIN up u ON l.child_id = u.id
       WHERE NOT l.parent_id = ANY(u.path)),
    down(id, depth, kind, tx, path) AS (
      SELECT l.child_id, 1, l.kind, l.transaction_id, ARRAY[pid, l.child_id]
        FROM parcel_lineage l WHERE l.parent_id = pid
      UNION ALL
      SELECT l.child_id, d.depth + 1, l.kind, l.transaction_id, d.path || l.child_id
        FROM parcel_lineage l JOIN down d ON l.parent_id = d.id
       WHERE NOT l.child_id = ANY(d.path))
  SELECT id, depth, kind, tx FROM up UNION ALL SELECT id, depth, kind, tx FROM down
$$;

-- Is the current database user a district-restricted registrar (not a superuser)?
CREATE OR REPLACE FUNCTION cadastre_district_restricted() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cadastre_registrar') THEN
    RETURN false;
  END IF;
  RETURN NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND pg_has_role(current_user, 'cadastre_registrar', 'MEMBER');
END $$;

-- Refuse, with a message a QGIS user understands, a registrar's change to a row of a
-- district that is not theirs (old row on UPDATE/DELETE, new row on INSERT/UPDATE).
CREATE OR REPLACE FUNCTION cadastre_check_district_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  d_old integer; d_new integer; label text; mine text;
BEGIN
  -- Fast path for the application and loaders (superuser or table owner, checked cheaply).
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

CREATE TRIGGER parcel_15_district BEFORE INSERT OR UPDATE OR DELETE ON parcel
  FOR EACH ROW EXECUTE FUNCTION cadastre_check_district_row();
CREATE TRIGGER building_15_district BEFORE INSERT OR UPDATE OR DELETE ON building
  FOR EACH ROW EXECUTE FUNCTION cadastre_check_district_row();
CREATE TRIGGER right_15_district BEFORE INSERT OR UPDATE OR DELETE ON "right"
  FOR EACH ROW EXECUTE FUNCTION cadastre_check_district_row();

ALTER FUNCTION cadastre_history_update() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION cadastre_audit_insert() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION cadastre_audit_update() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION cadastre_audit_delete() SECURITY DEFINER SET search_path = public, pg_temp;

-- Row-level security: everyone who may read reads everything (the overlap rule must see
-- every parcel); registrars write only in their districts. Owners bypass RLS (not FORCEd).
ALTER TABLE parcel ENABLE ROW LEVEL SECURITY;
ALTER TABLE building ENABLE ROW LEVEL SECURITY;
ALTER TABLE "right" ENABLE ROW LEVEL SECURITY;

DO $$
DECLARE has_reg boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cadastre_registrar');
        has_view boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cadastre_viewer');
        t text;
BEGIN
  IF has_view THEN
    EXECUTE 'GRANT SELECT ON district, land_category, permitted_use, parcel, building, "right",'
            ' parcel_lineage, parcel_history, building_history, source_document,'
            ' registry_transaction TO cadastre_viewer';
    FOREACH t IN ARRAY ARRAY['parcel', 'building', 'right'] LOOP
      EXECUTE format('CREATE POLICY viewer_read ON %I FOR SELECT TO cadastre_viewer USING (true)', t);
    END LOOP;
  END IF;
  IF has_reg THEN
    EXECUTE 'GRANT SELECT ON district, land_category, permitted_use, party, parcel_lineage,'
            ' parcel_history, building_history, right_history, db_user_district TO cadastre_registrar';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON parcel, building, "right" TO cadastre_registrar';
    EXECUTE 'GRANT SELECT, INSERT ON source_document, registry_transaction, parcel_lineage'
            ' TO cadastre_registrar';
    EXECUTE 'GRANT USAGE ON SEQUENCE parcel_id_seq, building_id_seq, right_id_seq,'
            ' source_document_id_seq, registry_transaction_id_seq, parcel_lineage_id_seq'
            ' TO cadastre_registrar';
    EXECUTE 'GRANT EXECUTE ON FUNCTION cadastre_may_edit_district(integer),'
            ' cadastre_may_edit_right(bigint, bigint), parcel_lineage_tree(bigint)'
            ' TO cadastre_registrar';
    FOREACH t IN ARRAY ARRAY['parcel', 'building'] LOOP
      EXECUTE format('CREATE POLICY registrar_read ON %I FOR SELECT TO cadastre_registrar USING (true)', t);
      EXECUTE format('CREATE POLICY registrar_insert ON %I FOR INSERT TO cadastre_registrar'
                     ' WITH CHECK (cadastre_may_edit_district(district_id))', t);
      -- USING (true): rows of other districts stay visible to UPDATE/DELETE so that the
      -- *_15_district trigger refuses them with a clear message instead of a silent no-op;
      -- WITH CHECK is the backstop for the new row.
      EXECUTE format('CREATE POLICY registrar_update ON %I FOR UPDATE TO cadastre_registrar'
                     ' USING (true) WITH CHECK (cadastre_may_edit_district(district_id))', t);
      EXECUTE format('CREATE POLICY registrar_delete ON %I FOR DELETE TO cadastre_registrar'
                     ' USING (true)', t);
    END LOOP;
    CREATE POLICY registrar_read ON "right" FOR SELECT TO cadastre_registrar USING (true);
    CREATE POLICY registrar_insert ON "right" FOR INSERT TO cadastre_registrar
      WITH CHECK (cadastre_may_edit_right(parcel_id, building_id));
    CREATE POLICY registrar_update ON "right" FOR UPDATE TO cadastre_registrar
      USING (true) WITH CHECK (cadastre_may_edit_right(parcel_id, building_id));
    CREATE POLICY registrar_delete ON "right" FOR DELETE TO cadastre_registrar USING (true);
  END IF;
END $$;
"""

DOWNGRADE = r"""
DO $$
DECLARE t text; p text;
BEGIN
  FOREACH t IN ARRAY ARRAY['parcel', 'building', 'right'] LOOP
    FOREACH p IN ARRAY ARRAY['viewer_read', 'registrar_read', 'registrar_insert',
                             'registrar_update', 'registrar_delete'] LOOP
      EXECUTE format('DROP POLICY IF EXISTS %I ON %I', p, t);
    END LOOP;
    EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
  END LOOP;
END $$;

ALTER FUNCTION cadastre_history_update() SECURITY INVOKER RESET search_path;
ALTER FUNCTION cadastre_audit_insert() SECURITY INVOKER RESET search_path;
ALTER FUNCTION cadastre_audit_update() SECURITY INVOKER RESET search_path;
ALTER FUNCTION cadastre_audit_delete() SECURITY INVOKER RESET search_path;

-- Revoke what this database granted; the roles themselves are cluster-wide: drop them only
-- when no other database still grants them anything and no login is a member.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['cadastre_registrar', 'cadastre_viewer'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', r);
      EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', r);
      EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM %I', r);
      IF NOT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                      WHERE g.rolname = r) THEN
        BEGIN
          EXECUTE format('DROP ROLE %I', r);
        EXCEPTION
          WHEN dependent_objects_still_exist OR insufficient_privilege OR undefined_object THEN
            NULL;
        END;
      END IF;
    END IF;
  END LOOP;
END $$;

DROP TRIGGER IF EXISTS parcel_15_district ON parcel;
DROP TRIGGER IF EXISTS building_15_district ON building;
DROP TRIGGER IF EXISTS right_15_district ON "right";
DROP FUNCTION IF EXISTS cadastre_check_district_row(), cadastre_district_restricted();
DROP FUNCTION IF EXISTS parcel_lineage_tree(bigint), cadastre_may_edit_right(bigint, bigint),
  cadastre_may_edit_district(integer);
DROP TABLE IF EXISTS db_user_district;
DROP INDEX IF EXISTS parcel_history_number;
"""


def upgrade() -> None:
    """Roles, grants, row-level security and lineage helpers."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Remove them again, leaving cluster-wide roles that other databases still use."""
    op.execute(DOWNGRADE)
