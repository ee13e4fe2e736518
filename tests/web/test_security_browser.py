"""Two-step sign-in in headless Chromium: password, then the authenticator code; enrolment
from the account page; sign-out ends the session."""

from __future__ import annotations

import re
import uuid

import pyotp
import pytest

from cadastre_gis import accounts, signin
from cadastre_gis.db import transaction

pytestmark = pytest.mark.browser
PASSWORD = "browser-2fa-pass"


def _user(settings, role: str = "operator") -> str:  # type: ignore[no-untyped-def]
    name = "b2fa_" + uuid.uuid4().hex[:8]
    with transaction(settings, actor="pytest") as c:
        accounts.add_user(settings, name, role, PASSWORD, conn=c)
    return name


def _password_step(page, base: str, user: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/logout")
    page.goto(base + "/login?lang=en&next=/account")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def test_two_step_sign_in(page, live_server, settings, artifacts) -> None:  # type: ignore[no-untyped-def]
    user = _user(settings)
    secret = signin.cli_enable(settings, user)["secret"]
    _password_step(page, live_server, user)
    code_input = page.locator("input[name=code]")
    assert code_input.is_visible()
    assert page.locator("input[name=password]").count() == 0
    page.screenshot(path=str(artifacts / "sign-in-code-step.png"))
    code_input.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.click("button[type=submit]")
    assert "Wrong code" in page.inner_text("main")
    page.console_errors.clear()  # the refused code is a 401 page, which Chromium logs
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/account$"))
    assert page.locator("#totp-status").get_attribute("data-state") == "on"
    assert page.console_errors == [], page.console_errors
    page.goto(live_server + "/logout")
    page.goto(live_server + "/account")
    assert "/login" in page.url


def test_enrol_from_the_account_page(page, live_server, settings) -> None:  # type: ignore[no-untyped-def]
    user = _user(settings, "notary")
    _password_step(page, live_server, user)
    assert page.url.endswith("/account")
    page.click("#totp-status a")
    secret = page.inner_text("#totp-secret").strip()
    assert page.locator("img.qr").evaluate("i => i.complete && i.naturalWidth > 0")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    # The next sign-in asks for a code; a recovery code works once.
    _password_step(page, live_server, user)
    page.fill("input[name=code]", codes[0])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/account$"))
    assert page.console_errors == [], page.console_errors
    page.goto(live_server + "/logout")
