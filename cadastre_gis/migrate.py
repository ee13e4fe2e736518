"""Run alembic migrations programmatically (``cadastre-gis migrate``)."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool, text

from .db import normalize_url

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    """An alembic Config pointing at our migrations and ``url``."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = normalize_url(url)
    return cfg


def earlier_function(revision_file: str, name: str) -> str:
    """``CREATE OR REPLACE FUNCTION name`` … ``END $$;`` as an earlier revision wrote it (its
    first definition there): for a later revision's downgrade, or to change only part of it."""
    src = (ROOT / "migrations" / "versions" / revision_file).read_text()
    m = re.search(rf"CREATE OR REPLACE FUNCTION {name}\(.*?\nEND \$\$;\n", src, re.S)
    if m is None:
        raise LookupError(f"{revision_file} defines no function {name}")
    return m.group(0)


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision``."""
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at, or None when unmigrated."""
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
        if not exists:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
