"""Migrations go base → head → base → head on a real PostGIS."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from cadastre_gis import migrate

from .conftest import create_database, drop_database


def test_round_trip(server_url: str) -> None:
    url = create_database(server_url, "cadastre_mig")
    try:
        migrate.upgrade(url)
        head = migrate.current(url)
        assert head is not None
        migrate.downgrade(url, "base")
        eng = create_engine(url)
        with eng.connect() as c:
            left = c.execute(text("SELECT count(*) FROM information_schema.tables WHERE"
                                  " table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT IN"
                                  " ('spatial_ref_sys', 'alembic_version')")).scalar()
            assert left == 0
        eng.dispose()
        assert migrate.current(url) is None
        migrate.upgrade(url)
        assert migrate.current(url) == head
    finally:
        drop_database(server_url, url)
