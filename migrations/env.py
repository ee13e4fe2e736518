"""Alembic environment: URL from our settings, GeoAlchemy2 helpers for spatial columns.

The schema is written as SQL in the revisions (triggers, functions, CHECKs and reference
data are most of it); there is no ORM metadata to autogenerate from. The facts Python needs
(SRID, statuses, value lists) live in ``cadastre_gis/schema.py`` and ``tests/test_schema.py``
checks them against the migrated database.
"""

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from cadastre_gis.db import normalize_url
from cadastre_gis.settings import Settings

config = context.config
target_metadata = None


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return normalize_url(url or Settings.from_env().url())


def run_migrations_offline() -> None:
    """Emit SQL without a database."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      include_object=alembic_helpers.include_object,
                      process_revision_directives=alembic_helpers.writer,
                      render_item=alembic_helpers.render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the database, in one transaction per migration run."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      include_object=alembic_helpers.include_object,
                      process_revision_directives=alembic_helpers.writer,
                      render_item=alembic_helpers.render_item,
                      transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
