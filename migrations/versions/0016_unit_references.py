"""References of parcels and buildings checked once per statement, not once per row.

A foreign key is checked by PostgreSQL one row at a time (a query and a row lock per row and
per key): four keys cost a 200 000-parcel load more than its overlap rule. The references
of the registry's units to their value lists, district and registry transaction are now
checked by one statement-level trigger (``cadastre_check_references``), one anti-join per
reference over the statement's rows (only the changed values on UPDATE). It locks the
referenced rows ``FOR KEY SHARE`` as PostgreSQL's own check does, so a concurrent delete of a
code waits for the writer. The other side is kept as well: deleting or renaming a referenced
code, district or transaction is refused by a row trigger on the referenced table
(``cadastre_refuse_referenced``), and so is a TRUNCATE that would leave units pointing at
nothing. Same SQLSTATE as a foreign key (23503), with a message naming the unit and the value.

``building.parcel_id`` (a registry relation between units) keeps its foreign key.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# referencing table -> (column, referenced table, referenced column, old constraint name)
REFERENCES = {
    "parcel": [("district_id", "district", "id"), ("land_category", "land_category", "code"),
               ("permitted_use", "permitted_use", "code"),
               ("transaction_id", "registry_transaction", "id")],
    "building": [("district_id", "district", "id"), ("building_use", "building_use", "code"),
                 ("transaction_id", "registry_transaction", "id")],
}

FUNCTIONS = r"""
-- AFTER STATEMENT on a unit table: every referenced value exists (and stays: FOR KEY SHARE).
-- Arguments: 'column>table.key', one per reference. Runs as the owner, as PostgreSQL's own
-- reference check does: locking the referenced rows needs more than a QGIS login's SELECT.
CREATE OR REPLACE FUNCTION cadastre_check_references() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  ref text; col text; tbl text; key text; changed text := ''; bad text; unit text;
BEGIN
  FOREACH ref IN ARRAY TG_ARGV LOOP
    col := split_part(ref, '>', 1);
    tbl := split_part(split_part(ref, '>', 2), '.', 1);
    key := split_part(split_part(ref, '>', 2), '.', 2);
    IF TG_OP = 'UPDATE' THEN
      changed := format(' JOIN old_rows o ON o.id = n.id AND o.%1$I IS DISTINCT FROM n.%1$I', col);
    END IF;
    EXECUTE format(
      'WITH x AS MATERIALIZED (SELECT DISTINCT n.%1$I AS v FROM new_rows n%4$s'
      '                         WHERE n.%1$I IS NOT NULL) '
      'SELECT x.v::text FROM x'
      '  LEFT JOIN (SELECT r.%3$I AS v FROM %2$I r WHERE r.%3$I IN (SELECT v FROM x)'
      '             FOR KEY SHARE OF r) k ON k.v = x.v'
      ' WHERE k.v IS NULL LIMIT 1', col, tbl, key, changed) INTO bad;
    IF bad IS NOT NULL THEN
      EXECUTE format('SELECT n.cadastral_number FROM new_rows n WHERE n.%I::text = $1 LIMIT 1',
                     col) INTO unit USING bad;
      RAISE EXCEPTION USING ERRCODE = '23503', TABLE = TG_TABLE_NAME, COLUMN = col,
        MESSAGE = format('%s %s: %s %s is not in %s', TG_TABLE_NAME, unit, col,
                         quote_literal(bad), tbl),
        HINT = format('use one of the %s of %s', key, tbl);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- BEFORE DELETE OR UPDATE on a referenced table: refuse to remove or rename a key units use.
-- Arguments: the key column, then 'table.column' of each unit reference.
CREATE OR REPLACE FUNCTION cadastre_refuse_referenced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  key text := TG_ARGV[0]; same boolean; unit text; v text; i integer;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    EXECUTE format('SELECT ($1).%1$I IS NOT DISTINCT FROM ($2).%1$I', key) INTO same
      USING OLD, NEW;
    IF same THEN RETURN NEW; END IF;
  END IF;
  FOR i IN 1 .. TG_NARGS - 1 LOOP
    EXECUTE format('SELECT t.cadastral_number FROM %I t WHERE t.%I = ($1).%I LIMIT 1',
                   split_part(TG_ARGV[i], '.', 1), split_part(TG_ARGV[i], '.', 2), key)
      INTO unit USING OLD;
    IF unit IS NOT NULL THEN
      EXECUTE format('SELECT ($1).%I::text', key) INTO v USING OLD;
      RAISE EXCEPTION USING ERRCODE = '23503', TABLE = TG_TABLE_NAME,
        MESSAGE = format('%s %s %s is still used by %s %s', TG_TABLE_NAME, key, quote_literal(v),
                         split_part(TG_ARGV[i], '.', 1), unit);
    END IF;
  END LOOP;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

-- AFTER TRUNCATE on a referenced table: the units that used it must have gone with it.
CREATE OR REPLACE FUNCTION cadastre_refuse_truncate_referenced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  i integer; found boolean;
BEGIN
  FOR i IN 0 .. TG_NARGS - 1 LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', TG_ARGV[i]) INTO found;
    IF found THEN
      RAISE EXCEPTION USING ERRCODE = '23503', TABLE = TG_TABLE_NAME,
        MESSAGE = format('%s cannot be emptied while %s uses it; truncate both together',
                         TG_TABLE_NAME, TG_ARGV[i]);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;
"""


def _referenced() -> dict[str, tuple[str, list[str]]]:
    """Referenced table -> (its key, the 'table.column' references to it)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for table, refs in REFERENCES.items():
        for col, ref, key in refs:
            out.setdefault(ref, (key, []))[1].append(f"{table}.{col}")
    return out


def _quoted(args: list[str]) -> str:
    return ", ".join(f"'{a}'" for a in args)


def upgrade() -> None:
    """Drop the per-row foreign keys; add the statement-level check and its reverse side."""
    sql = FUNCTIONS
    for table, refs in REFERENCES.items():
        for col, _ref, _key in refs:
            sql += f"ALTER TABLE {table} DROP CONSTRAINT {table}_{col}_fkey;\n"
        args = _quoted([f"{c}>{r}.{k}" for c, r, k in refs])
        sql += f"""
CREATE TRIGGER {table}_12_refs_ins AFTER INSERT ON {table}
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION cadastre_check_references({args});
CREATE TRIGGER {table}_12_refs_upd AFTER UPDATE ON {table}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION cadastre_check_references({args});
"""
    for ref, (key, users) in _referenced().items():
        tables = sorted({u.split(".")[0] for u in users})
        sql += f"""
CREATE TRIGGER {ref}_05_referenced BEFORE DELETE OR UPDATE OF {key} ON {ref}
  FOR EACH ROW EXECUTE FUNCTION cadastre_refuse_referenced({_quoted([key, *users])});
CREATE TRIGGER {ref}_05_truncate AFTER TRUNCATE ON {ref}
  FOR EACH STATEMENT EXECUTE FUNCTION cadastre_refuse_truncate_referenced({_quoted(tables)});
"""
    op.execute(sql)


def downgrade() -> None:
    """Back to foreign keys."""
    sql = ""
    for ref in _referenced():
        sql += (f"DROP TRIGGER IF EXISTS {ref}_05_referenced ON {ref};\n"
                f"DROP TRIGGER IF EXISTS {ref}_05_truncate ON {ref};\n")
    for table, refs in REFERENCES.items():
        sql += (f"DROP TRIGGER IF EXISTS {table}_12_refs_ins ON {table};\n"
                f"DROP TRIGGER IF EXISTS {table}_12_refs_upd ON {table};\n")
        for col, ref, key in refs:
            sql += (f"ALTER TABLE {table} ADD CONSTRAINT {table}_{col}_fkey FOREIGN KEY ({col})"
                    f" REFERENCES {ref} ({key});\n")
    sql += ("DROP FUNCTION IF EXISTS cadastre_check_references(), cadastre_refuse_referenced(),"
            " cadastre_refuse_truncate_referenced();\n")
    op.execute(sql)
