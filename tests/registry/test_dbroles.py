"""Database login roles for QGIS and row-level security by district, as a real login."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from cadastre_gis import dbroles
from cadastre_gis.settings import Settings

from .helpers import FAR_X, free_y_of, make_parcel, rect

PASSWORD = "qgis-registrar-2026"


@pytest.fixture()
def login(settings: Settings) -> Iterator[str]:
    """A registrar login role for district 09 (Yakkasaroy)."""
    name = f"qreg_{uuid.uuid4().hex[:8]}"
    notes = dbroles.create_login_role(settings, name, "registrar", PASSWORD, [9])
    assert any("ready for QGIS" in n for n in notes), notes
    yield name
    dbroles.drop_login_role(settings, name)


def connect(settings: Settings, user: str):  # type: ignore[no-untyped-def]
    u = make_url(settings.database_url)
    return psycopg2.connect(host=u.host, port=u.port, dbname=u.database, user=user,
                            password=PASSWORD)


def test_scram_verifier_format() -> None:
    v = dbroles.scram_verifier("secret")
    assert v.startswith("SCRAM-SHA-256$4096:") and v.count("$") == 2


def test_registrar_login_edits_own_district_only(settings: Settings, engine: Engine,
                                                 login: str) -> None:
    y = free_y_of(engine)
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:77:77"
    with engine.begin() as c:
        mine = make_parcel(c, f"{q}:0001", rect(FAR_X, y))
        make_parcel(c, f"{q}:0002", rect(FAR_X + 30, y))
        other = c.execute(text("SELECT id, cadastral_number FROM parcel WHERE status = 'active'"
                               " AND district_id = 2 ORDER BY id LIMIT 1")).one()
    conn = connect(settings, login)
    try:
        with conn.cursor() as cur:
            # move one vertex of my parcel by 1 m
            cur.execute("UPDATE parcel SET geom = ST_Multi(ST_GeomFromText(%s, 32642)) WHERE id = %s",
                        (f"POLYGON(({FAR_X} {y},{FAR_X + 21} {y},{FAR_X + 20} {y + 20},"
                         f"{FAR_X} {y + 20},{FAR_X} {y}))", mine))
            assert cur.rowcount == 1
        conn.commit()
        # an overlap gets the database's message and changes nothing
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as info:
            cur.execute("UPDATE parcel SET geom = ST_Multi(ST_Buffer(geom, 15, 'join=mitre'))"
                        " WHERE id = %s", (mine,))
        conn.rollback()
        assert f"overlaps {q}:0002" in str(info.value)
        # a parcel of another district is refused with a clear message
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as info:
            cur.execute("UPDATE parcel SET address = 'x' WHERE id = %s", (other[0],))
        conn.rollback()
        assert "district Chilonzor" in str(info.value) and "may edit only Yakkasaroy" in str(info.value)
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as info:
            cur.execute("DELETE FROM parcel WHERE id = %s", (other[0],))
        conn.rollback()
        assert "may edit only Yakkasaroy" in str(info.value)
        # the audit cannot be forged
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as info:
            cur.execute("INSERT INTO audit_log (actor, table_name, operation) VALUES ('x', 'y', 'I')")
        conn.rollback()
        assert "permission denied" in str(info.value)
    finally:
        conn.close()
    with engine.connect() as c:
        hist = c.execute(text("SELECT changed_by, version FROM parcel_history WHERE id = :i"),
                         {"i": mine}).all()
        assert [tuple(h) for h in hist] == [(login, 1)]
        actors = c.execute(text("SELECT actor FROM audit_log WHERE table_name = 'parcel' AND"
                                " row_id = :i AND operation = 'U'"), {"i": mine}).scalars().all()
        assert actors == [login]
        assert c.execute(text("SELECT address FROM parcel WHERE id = :i"),
                         {"i": other[0]}).scalar() != "x"


def test_without_privilege_prints_sql(settings: Settings, login: str) -> None:
    u = make_url(settings.database_url).set(username=login, password=PASSWORD)
    weak = replace(settings, database_url=u.render_as_string(hide_password=False))
    notes = dbroles.create_login_role(weak, "someone_else", "registrar", "pw-12345678", [9])
    assert "superuser" in notes[0]
    assert any(n.startswith('CREATE ROLE "someone_else" LOGIN PASSWORD \'SCRAM-SHA-256$')
               for n in notes)
    assert 'GRANT cadastre_registrar TO "someone_else";' in notes
    assert "pw-12345678" not in " ".join(notes)


def test_users_add_creates_login_role(settings: Settings, engine: Engine) -> None:
    from click.testing import CliRunner

    from cadastre_gis.cli import cli

    name = f"clireg_{uuid.uuid4().hex[:6]}"
    env = {"CADASTRE_DATABASE_URL": settings.database_url,
           "CADASTRE_DATA_DIR": str(settings.data_dir)}
    try:
        res = CliRunner().invoke(cli, ["users", "add", name, "--role", "registrar",
                                       "--district", "Yakkasaroy"], input=PASSWORD + "\n", env=env)
        assert res.exit_code == 0, res.output
        assert f"database login role {name} (cadastre_registrar: edits districts 9)" in res.output
        with engine.connect() as c:
            assert c.execute(text("SELECT pg_has_role(:r, 'cadastre_registrar', 'MEMBER')"),
                             {"r": name}).scalar()
            assert c.execute(text("SELECT district_id FROM db_user_district WHERE db_user = :r"),
                             {"r": name}).scalars().all() == [9]
        connect(settings, name).close()  # the password works for a real login
    finally:
        dbroles.drop_login_role(settings, name)
        with engine.begin() as c:  # the session's demo city keeps its five accounts
            c.execute(text("DELETE FROM account WHERE username = :u"), {"u": name})
