"""cadastre_gis/schema.py says what the migrated database says: SRID, region, statuses,
value lists and their reference tables. A migration that changes one fails here until the
module follows (and so every caller, which imports it)."""

from __future__ import annotations

import re

from sqlalchemy import create_engine, text

from cadastre_gis import migrate, schema

from .conftest import create_database, drop_database

TABLE_OF = {"land_category": "parcel", "permitted_use": "parcel", "building_use": "building",
            "category": "incident"}


def test_schema_facts_match_the_database(server_url: str) -> None:
    url = create_database(server_url, "cadastre_schema")
    eng = create_engine(url)
    try:
        migrate.upgrade(url)
        with eng.connect() as c:
            srids = dict(c.execute(text(
                "SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = 'public'"
                " AND f_table_name IN ('parcel', 'building', 'district', 'incident', 'camera',"
                " 'parcel_history', 'building_history')")).all())
            assert len(srids) == 7 and set(srids.values()) == {schema.SRID}, srids

            for (table, column), values in schema.CHECKED_LISTS.items():
                defs = c.execute(text(
                    "SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k"
                    " WHERE k.conrelid = CAST(:t AS regclass) AND k.contype = 'c'"),
                    {"t": f'"{table}"'}).scalars().all()
                found = [d for d in defs if re.search(rf"\(\(?{column}\b.*ANY \(ARRAY\[", d)]
                assert len(found) == 1, (table, column, defs)
                listed = set(re.findall(r"'([^']*)'::text", found[0]))
                assert listed == set(values), (table, column, listed)

            open_ = {s for s in schema.INCIDENT_STATUSES
                     if c.execute(text("SELECT incident_is_open(:s)"), {"s": s}).scalar_one()}
            assert open_ == set(schema.OPEN_INCIDENT_STATUSES)

            for column, ref in schema.REFERENCE_TABLES.items():
                cols = set(c.execute(text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                    {"t": ref}).scalars())
                assert {"code", "name_en", "name_ru", "name_uz", "aliases"} <= cols, ref
                # a foreign key, or (parcel, building: migration 0016) the statement-level
                # reference check's argument 'column>table.code'
                target = c.execute(text(
                    "SELECT k.confrelid::regclass::text FROM pg_constraint k"
                    " JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]"
                    " WHERE k.contype = 'f' AND k.conrelid = CAST(:t AS regclass)"
                    " AND a.attname = :c"), {"t": TABLE_OF[column], "c": column}).scalar()
                if target is None:
                    args = c.execute(text(
                        "SELECT encode(t.tgargs, 'escape') FROM pg_trigger t"
                        " JOIN pg_proc f ON f.oid = t.tgfoid"
                        " WHERE t.tgrelid = CAST(:t AS regclass)"
                        " AND f.proname = 'cadastre_check_references'"
                        " AND t.tgname LIKE '%\\_ins'"), {"t": TABLE_OF[column]}).scalar_one()
                    refs = dict(a.split(">") for a in args.split("\\000") if a)
                    target = refs[column].split(".")[0]
                assert target == ref, (column, target)

            default = c.execute(text(
                "SELECT column_default FROM information_schema.columns"
                " WHERE table_name = 'district' AND column_name = 'region_code'")).scalar_one()
            assert default.startswith(f"'{schema.REGION_CODE}'"), default
    finally:
        eng.dispose()
        drop_database(server_url, url)
