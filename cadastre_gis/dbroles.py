"""PostgreSQL login roles for QGIS users (registrars edit, other staff read).

``cadastre-gis users add alice --role registrar --district Yakkasaroy`` calls
:func:`create_login_role`: it creates (or updates) the login role ``alice``, member of
``cadastre_registrar``, and records her districts in ``db_user_district`` so row-level
security lets her edit only there. When the platform's database user may not create roles,
nothing is changed and the exact SQL for a superuser is returned instead. The password is
sent (and printed) only as a SCRAM-SHA-256 verifier, never in clear text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import text

from .db import get_engine
from .settings import Settings

GROUP_FOR_ROLE = {"registrar": "cadastre_registrar", "admin": "cadastre_registrar",
                  "notary": "cadastre_viewer"}
"""Account role → database group role; other roles get no database login."""


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802 / 7677)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def login_role_sql(username: str, group: str, password: str, district_ids: list[int],
                   exists: bool = False) -> list[str]:
    """The statements that create (or update) the login role and its districts."""
    role = _ident(username)
    verifier = _literal(scram_verifier(password))
    stmts = [f"ALTER ROLE {role} LOGIN PASSWORD {verifier}" if exists else
             f"CREATE ROLE {role} LOGIN PASSWORD {verifier}",
             f"GRANT {group} TO {role}",
             f"DELETE FROM db_user_district WHERE db_user = {_literal(username)}"]
    for d in district_ids:
        stmts.append(f"INSERT INTO db_user_district (db_user, district_id) VALUES"
                     f" ({_literal(username)}, {int(d)})")
    return stmts


def create_login_role(settings: Settings, username: str, role: str, password: str,
                      district_ids: list[int]) -> list[str]:
    """Create the PostgreSQL login role of an account; returns notes for the operator.

    Registrars (and admins, for every district) join ``cadastre_registrar``; notaries join
    ``cadastre_viewer``; other roles get no database login. Without the privilege to create
    roles, returns the exact SQL to run as a superuser.
    """
    group = GROUP_FOR_ROLE.get(role)
    if group is None:
        return []
    engine = get_engine(settings)
    with engine.connect() as c:
        if role == "admin":
            # An admin edits every district; a registrar only the ones listed (none: none).
            district_ids = list(c.execute(text("SELECT id FROM district ORDER BY id")).scalars())
        if group == "cadastre_viewer":
            district_ids = []
        exists = c.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                           {"r": username}).first() is not None
        can = c.execute(text(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")).scalar()
        has_group = c.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :g"),
                              {"g": group}).first() is not None
        dbname = c.execute(text("SELECT current_database()")).scalar()
    stmts = login_role_sql(username, group, password, district_ids, exists)
    if not can or not has_group:
        missing = [] if has_group else [f"CREATE ROLE {group} NOLOGIN  -- then: cadastre-gis migrate"]
        return ([f"note: the database user may not create roles; as a superuser, run in"
                 f" database {dbname}:"] + [s + ";" for s in missing + stmts])
    with engine.begin() as c:
        for s in stmts:
            c.exec_driver_sql(s)
    kind = "edits districts " + ",".join(map(str, district_ids)) if district_ids else "reads"
    return [f"database login role {username} ({group}: {kind}) ready for QGIS"]


def drop_login_role(settings: Settings, username: str) -> None:
    """Remove a login role created by :func:`create_login_role` (tests, account removal)."""
    with get_engine(settings).begin() as c:
        c.execute(text("DELETE FROM db_user_district WHERE db_user = :u"), {"u": username})
        if c.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": username}).first():
            c.execute(text(f"DROP OWNED BY {_ident(username)}"))
            c.execute(text(f"DROP ROLE {_ident(username)}"))
