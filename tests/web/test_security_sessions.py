"""Sessions that end, safe redirects, sign-in backoff and audit, security headers, 2FA."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cadastre_gis import accounts, sessions
from cadastre_gis.cli import cli
from cadastre_gis.db import transaction

PASSWORD = "s3cure-test-pass"


@pytest.fixture()
def user(settings) -> str:  # type: ignore[no-untyped-def]
    """A throwaway operator account (the demo accounts keep their passwords)."""
    name = "sec_" + uuid.uuid4().hex[:8]
    with transaction(settings, actor="pytest") as c:
        accounts.add_user(settings, name, "operator", PASSWORD, conn=c)
    return name


def _csrf(client, path: str = "/login", **kw) -> str:  # type: ignore[no-untyped-def]
    html = client.get(path, **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, user: str, password: str = PASSWORD, query: str = "", addr: str = "127.0.0.1",
          **kw):  # type: ignore[no-untyped-def]
    env = {"REMOTE_ADDR": addr}
    token = _csrf(client, environ_base=env, **kw)
    return client.post("/login" + query, data={"username": user, "password": password,
                                               "csrf_token": token}, environ_base=env, **kw)


def _cli(settings, *args: str):  # type: ignore[no-untyped-def]
    env = {"CADASTRE_DATABASE_URL": settings.database_url,
           "CADASTRE_DATA_DIR": str(settings.data_dir)}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _signed_in(client, user: str) -> bool:  # type: ignore[no-untyped-def]
    return f"{user} (operator)" in client.get("/account").get_data(as_text=True)


def _copy(src, dst) -> None:  # type: ignore[no-untyped-def]
    cookie = src.get_cookie("session")
    dst.set_cookie("session", cookie.value)


def test_sign_out_ends_every_copy(app, user) -> None:  # type: ignore[no-untyped-def]
    a, b = app.test_client(), app.test_client()
    assert login(a, user).status_code == 302
    _copy(a, b)
    assert _signed_in(b, user)
    a.get("/logout")
    assert not _signed_in(a, user)
    assert not _signed_in(b, user)  # the copied cookie is dead too


def test_revoke_sessions_cli_and_password_change(app, settings, user) -> None:  # type: ignore[no-untyped-def]
    a, b = app.test_client(), app.test_client()
    login(a, user)
    login(b, user)
    r = _cli(settings, "users", "revoke-sessions", user)
    assert r.exit_code == 0 and "ended 2 session(s)" in r.output
    assert not _signed_in(a, user) and not _signed_in(b, user)

    login(a, user)
    login(b, user)
    thief = app.test_client()
    _copy(b, thief)
    token = _csrf(a, "/account")
    r = a.post("/account/password?lang=en", data={"csrf_token": token, "current_password": PASSWORD,
                                           "new_password": "another-pass-1",
                                           "new_password2": "another-pass-1"})
    assert r.status_code == 200 and "signed out everywhere else" in r.get_data(as_text=True)
    assert _signed_in(a, user)
    assert not _signed_in(b, user) and not _signed_in(thief, user)
    assert login(b, user, "another-pass-1").status_code == 302


def test_idle_and_absolute_timeouts(app, engine, user) -> None:  # type: ignore[no-untyped-def]
    c = app.test_client()
    login(c, user)
    assert _signed_in(c, user)
    with engine.begin() as conn:
        conn.execute(text("UPDATE web_session SET last_seen_at = now() - interval '3 hours'"
                          " WHERE account_id = (SELECT id FROM account WHERE username = :u)"),
                     {"u": user})
    assert not _signed_in(c, user)
    login(c, user)
    with engine.begin() as conn:
        conn.execute(text("UPDATE web_session SET created_at = now() - interval '13 hours'"
                          " WHERE account_id = (SELECT id FROM account WHERE username = :u)"
                          "   AND ended_at IS NULL"), {"u": user})
    assert not _signed_in(c, user)


def test_session_valid_for_live_streams(app, engine, user) -> None:  # type: ignore[no-untyped-def]
    from web.security import session_valid

    c = app.test_client()
    login(c, user)
    with engine.connect() as conn:
        key = conn.execute(text(
            "SELECT sid_hash FROM web_session WHERE ended_at IS NULL AND account_id ="
            " (SELECT id FROM account WHERE username = :u)"), {"u": user}).scalar_one()
    with app.app_context():
        assert session_valid(key)
        c.get("/logout")
        assert not session_valid(key)
        assert session_valid(None)  # token callers re-authenticate on every request
    assert sessions.session_key("x") == sessions.sid_hash("x")


@pytest.mark.parametrize("evil", ["/%09/evil.example/", "//evil.example", "/\\evil.example",
                                  "\\\\evil.example", "https://evil.example", "/%0d%0a/evil",
                                  "javascript:alert(1)", "/ /evil.example", "http:/evil"])
def test_next_is_same_origin_only(client, user, evil) -> None:  # type: ignore[no-untyped-def]
    r = login(client, user, query="?next=" + evil)
    assert r.status_code == 302
    assert r.headers["Location"] == "/situation"  # the role's home, never off-site


def test_next_path_is_kept(client, user) -> None:  # type: ignore[no-untyped-def]
    r = login(client, user, query="?next=/analytics%3Fwindow%3D90d")
    assert r.headers["Location"] == "/analytics?window=90d"


def test_backoff_per_account_and_address_and_audit(app, engine, user) -> None:  # type: ignore[no-untyped-def]
    attacker, owner = "198.51.100.7", "203.0.113.9"
    c = app.test_client()
    codes = [login(c, user, "wrong-guess", addr=attacker).status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    # The owner, from their own address, is not locked out by someone else's guessing.
    assert login(app.test_client(), user, addr=owner).status_code == 302
    # After the wait, the attacker's address may try again (backoff, not a lock-out).
    with engine.begin() as conn:
        conn.execute(text("UPDATE login_attempt SET at = at - interval '30 seconds'"
                          " WHERE username = :u"), {"u": user})
    assert login(c, user, "wrong-guess", addr=attacker).status_code == 401
    assert login(c, user, "wrong-guess", addr=attacker).status_code == 429
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT remote_addr, ok, stage, reason FROM login_attempt"
                                 " WHERE username = :u ORDER BY id"), {"u": user}).all()
    assert (owner, True, "password", None) in rows
    assert (attacker, False, "password", "wrong password") in rows
    assert (attacker, False, "password", "throttled") in rows
    assert len(rows) == 10  # every attempt audited, refusals included


def test_security_headers_everywhere(client) -> None:  # type: ignore[no-untyped-def]
    for path in ["/", "/login", "/api/search?q=Chilonzor", "/no-such-page", "/healthz",
                 "/open311/v2/services.json", "/ogc/conformance?f=json", "/static/app.css"]:
        r = client.get(path)
        h = r.headers
        csp = h.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], path
        assert "frame-ancestors 'none'" in csp, path
        assert h.get("X-Content-Type-Options") == "nosniff", path
        assert h.get("X-Frame-Options") == "DENY", path
        assert h.get("Referrer-Policy"), path
        assert "Strict-Transport-Security" not in h, path
        assert "Server" not in h or not re.search(r"\d", h["Server"]), path


def test_https_gets_secure_cookie_and_hsts(app, user) -> None:  # type: ignore[no-untyped-def]
    c = app.test_client()
    r = login(c, user, base_url="https://cadastre.example")
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "max-age=" in r.headers["Strict-Transport-Security"]
    r = login(app.test_client(), user)
    assert "Secure" not in r.headers["Set-Cookie"]


def _second_step(client, code: str):  # type: ignore[no-untyped-def]
    token = _csrf(client)
    return client.post("/login", data={"csrf_token": token, "code": code})


def test_two_factor_cli_and_sign_in(app, settings, engine, user) -> None:  # type: ignore[no-untyped-def]
    r = _cli(settings, "users", "2fa", user)
    assert r.exit_code == 0, r.output
    uri = r.output.splitlines()[0]
    assert uri.startswith("otpauth://totp/") and "secret=" in uri
    assert "█" in r.output or "▀" in r.output  # the QR code on the terminal
    recovery = re.findall(r"^\s+([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})$", r.output, re.M)
    assert len(recovery) == 10
    totp = pyotp.parse_uri(uri)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM account_recovery_code a JOIN account"
                                   " u ON u.id = a.account_id WHERE u.username = :u"
                                   " AND a.code_hash = ANY(:c)"), {"u": user, "c": recovery}
                              ).scalar()
    assert stored == 0  # hashed, never stored as given

    c = app.test_client()
    r = login(c, user)
    assert r.status_code == 200 and 'name="code"' in r.get_data(as_text=True)
    assert not _signed_in(c, user)  # the password alone opens nothing
    assert _second_step(c, "000000" if totp.now() != "000000" else "111111").status_code == 401
    code = totp.now()
    r = _second_step(c, code)
    assert r.status_code == 302 and r.headers["Location"] == "/situation"
    assert _signed_in(c, user)
    # The same code is not accepted twice (replay).
    c2 = app.test_client()
    login(c2, user)
    assert _second_step(c2, code).status_code == 401
    # A recovery code works once.
    assert _second_step(c2, recovery[0]).status_code == 302
    c3 = app.test_client()
    login(c3, user)
    assert _second_step(c3, recovery[0]).status_code == 401
    # HTTP Basic with the password would skip the second factor: refused; tokens still work.
    import base64

    basic = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    assert app.test_client().get("/healthz", headers={"Authorization": "Basic " + basic}
                                 ).status_code == 401
    token = accounts.create_token(settings, user, label="pytest")
    assert app.test_client().get("/situation/api/incidents.geojson", headers={
        "Authorization": "Bearer " + token}).status_code == 200

    r = _cli(settings, "users", "2fa", user, "--off")
    assert r.exit_code == 0
    assert login(app.test_client(), user).status_code == 302


def test_required_roles_enrol_at_next_sign_in(settings, user) -> None:  # type: ignore[no-untyped-def]
    from web import create_app

    app = create_app(replace(settings, require_2fa_roles="admin,operator"), TESTING=True)
    c = app.test_client()
    r = login(c, user)
    assert r.status_code == 302 and r.headers["Location"] == "/account/2fa"
    assert c.get("/situation").headers.get("Location") == "/account/2fa"
    page = c.get("/account/2fa").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert "data:image/svg+xml;base64," in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/account/2fa", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200 and "recovery-codes" in r.get_data(as_text=True)
    assert c.get("/situation").status_code == 200
    # Next sign-in asks for the code.
    r = login(app.test_client(), user)
    assert r.status_code == 200 and 'name="code"' in r.get_data(as_text=True)


def test_live_stream_keys_end_with_the_session(app, engine, settings, user) -> None:  # type: ignore[no-untyped-def]
    from web.situation_live import Who, valid_keys

    c = app.test_client()
    login(c, user)
    with c.session_transaction() as s:
        key = sessions.session_key(s["sid"])
    with engine.connect() as conn:
        acc = conn.execute(text("SELECT id FROM account WHERE username = :u"), {"u": user}).scalar()
    who, token_who = Who(acc, key), Who(acc, None)
    assert valid_keys(engine, [who, token_who], settings) == {who, token_who}
    c.get("/logout")
    assert valid_keys(engine, [who, token_who], settings) == {token_who}


def test_anonymous_responses_stay_cacheable(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/14/6134/11006?f=mvt")
    assert "Cookie" not in r.headers.get("Vary", "")
    assert "no-store" not in r.headers.get("Cache-Control", "")
