"""App skeleton: health, landing page with real figures, sign-in, tokens, CSRF, policy."""

from __future__ import annotations

import re

from sqlalchemy import text

from cadastre_gis import accounts, policy
from cadastre_gis.demo import DEMO_PASSWORDS


def test_healthz(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok" and body["postgis"].startswith("3")
    assert body["postgresql"] and body["schema_revision"]


def test_landing_page_shows_real_figures(client, db) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/?lang=en")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    n = db.execute(text("SELECT count(*) FROM parcel p JOIN district d ON d.id = p.district_id"
                        " WHERE d.name = 'Chilonzor' AND p.status = 'active'")).scalar_one()
    row = re.search(r"<td>Chilonzor</td><td>[^<]*</td><td>(\d+)</td>", html)
    assert row and int(row.group(1)) == n > 0
    assert "Yunusobod" in html


def _login(client, user: str, password: str):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": token})


def test_login_logout(client) -> None:  # type: ignore[no-untyped-def]
    r = _login(client, "operator", DEMO_PASSWORDS["operator"])
    assert r.status_code == 302
    assert "operator (operator)" in client.get("/").get_data(as_text=True)
    client.get("/logout")
    assert "operator (operator)" not in client.get("/").get_data(as_text=True)


def test_wrong_password_and_rate_limit(client, app) -> None:  # type: ignore[no-untyped-def]
    # Backoff per account and address (tests/web/test_security_sessions.py has the rest).
    client.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    for _ in range(5):
        r = _login(client, "ratelimited-user", "wrong-password")
        assert r.status_code == 401
    r = _login(client, "ratelimited-user", "wrong-password")
    assert r.status_code == 429


def test_login_without_csrf_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/login", data={"username": "admin", "password": DEMO_PASSWORDS["admin"]})
    assert r.status_code == 400


def test_bearer_token_identifies_and_bad_token_is_401(client, settings) -> None:  # type: ignore[no-untyped-def]
    token = accounts.create_token(settings, "notary", label="pytest")
    assert token.startswith("cgt_")
    r = client.get("/healthz", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    r = client.get("/healthz", headers={"Authorization": "Bearer cgt_nope"})
    assert r.status_code == 401
    assert r.get_json()["code"] == "NotAuthenticated"


def test_token_is_stored_hashed_and_revocable(settings, engine) -> None:  # type: ignore[no-untyped-def]
    token = accounts.create_token(settings, "registrar", label="pytest")
    with engine.connect() as c:
        stored = c.execute(text("SELECT token_hash FROM api_token WHERE prefix = :p"),
                           {"p": token[:10]}).scalar_one()
        assert token not in stored and stored == accounts.token_hash(token)
    assert accounts.revoke_token(settings, token[:12]) == 1
    with engine.connect() as c:
        import pytest

        from cadastre_gis.errors import NotAuthenticated

        with pytest.raises(NotAuthenticated):
            accounts.account_for_token(c, token)


def test_passwords_are_argon2(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        h = c.execute(text("SELECT password_hash FROM account WHERE username = 'admin'")).scalar_one()
    assert h.startswith("$argon2id$")


def test_policy_table() -> None:
    assert policy.allowed("notary", "extract.issue")
    assert not policy.allowed("citizen", "extract.issue")
    assert not policy.allowed(None, "situation.view")
    assert policy.allowed("operator", "camera.stream")
    assert not policy.allowed("registrar", "camera.stream")
    assert policy.may_edit_district("registrar", [9], 9)
    assert not policy.may_edit_district("registrar", [9], 2)


def test_users_add_cli(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    env = {"CADASTRE_DATABASE_URL": settings.database_url, "CADASTRE_DATA_DIR": str(settings.data_dir),
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "cadastre_gis.cli", "users", "add", "nilufar",
                          "--role", "registrar", "--district", "Chilonzor"],
                         input="long-enough-pw\n", capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, "-m", "cadastre_gis.cli", "tokens", "create", "nilufar"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip().startswith("cgt_")
    out = subprocess.run([sys.executable, "-m", "cadastre_gis.cli", "users", "add", "x",
                          "--role", "citizen"], input="long-enough-pw\n", capture_output=True,
                         text=True, env=env)
    assert out.returncode != 0 and "user name" in out.stderr


def test_expired_token_is_refused(client, settings) -> None:  # type: ignore[no-untyped-def]
    token = accounts.create_token(settings, "notary", label="expired", days=0)
    r = client.get("/healthz", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_basic_auth_with_password_and_with_token(client, settings) -> None:  # type: ignore[no-untyped-def]
    import base64

    cred = base64.b64encode(f"registrar:{DEMO_PASSWORDS['registrar']}".encode()).decode()
    assert client.get("/healthz", headers={"Authorization": f"Basic {cred}"}).status_code == 200
    token = accounts.create_token(settings, "registrar", label="qgis")
    cred = base64.b64encode(f"anything:{token}".encode()).decode()
    assert client.get("/healthz", headers={"Authorization": f"Basic {cred}"}).status_code == 200
    bad = base64.b64encode(b"registrar:wrong-password").decode()
    assert client.get("/healthz", headers={"Authorization": f"Basic {bad}"}).status_code == 401


def test_unknown_route_is_json_404_for_api_clients(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.get_json()["code"] == "Not Found"
