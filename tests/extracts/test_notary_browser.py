"""Headless Chromium: a notary fills the form on a phone and downloads the signed extract."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text


@pytest.mark.browser
def test_notary_form_to_downloaded_extract(page, live_server, engine, artifacts) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        number = c.execute(text("SELECT cadastral_number FROM parcel WHERE status = 'active'"
                                " ORDER BY id LIMIT 1 OFFSET 30")).scalar_one()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/logout")
    page.goto(live_server + "/login?next=/notary&lang=uz")
    page.fill("input[name=username]", "notary")
    page.fill("input[name=password]", "notary-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url("**/notary*")
    assert page.locator("header a[href='/notary']").count() == 1  # linked in the header
    # without a case number the form says so (in Uzbek) and keeps what was typed
    page.fill("#cadastral_number", number)
    page.click("#issue")
    page.wait_for_selector("#form-error")
    assert "notarial ish raqami" in page.inner_text("#form-error")
    assert page.input_value("#cadastral_number") == number
    # search: the beginning of the number offers parcels
    page.fill("#cadastral_number", "")
    page.type("#cadastral_number", number[:8])
    page.wait_for_function("() => document.querySelectorAll('#parcel-options option').length > 0",
                           timeout=10000)
    page.fill("#cadastral_number", number)
    page.fill("#case_number", "N-2026/501")
    page.fill("#purpose", "oldi-sotdi")
    fees = page.inner_text("#fees")
    assert "Davlat boji" in fees and "Xizmat haqi" in fees
    page.screenshot(path=str(artifacts / "notary-form-phone-uz.png"), full_page=True)
    page.click("#issue")
    page.wait_for_url("**/notary/issued/**")
    ext = page.inner_text("#extract-number").strip()
    assert ext.startswith("EX-")
    with page.expect_download() as dl:
        page.click("#download-pdf")
    data = open(dl.value.path(), "rb").read()
    assert data[:5] == b"%PDF-"
    with engine.connect() as c:
        sha = c.execute(text("SELECT pdf_sha256 FROM extract WHERE number = :n"),
                        {"n": ext}).scalar_one()
    assert hashlib.sha256(data).hexdigest() == sha
    page.screenshot(path=str(artifacts / "notary-issued-phone-uz.png"), full_page=True)
    page.click("#verify-link")
    page.wait_for_url(f"**/extracts/{ext}")
    # history: the extract is listed once
    page.goto(live_server + "/notary?lang=uz")
    assert page.locator(f"#history a:text-is('{ext}')").count() == 1
    # the only console error is the refused form's own 400 status
    assert all("400" in e for e in page.console_errors), page.console_errors
    assert page.external_requests == []
