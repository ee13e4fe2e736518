"""The public verification page and the upload form in headless Chromium."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import text

from cadastre_gis import extracts


@pytest.mark.browser
def test_public_page_and_verify_form(page, live_server, settings, engine, artifacts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = replace(settings, base_url=live_server)
    with engine.begin() as c:
        acc = dict(c.execute(text("SELECT id, username, role, full_name FROM account"
                                  " WHERE username = 'notary'")).one()._mapping)
        number = c.execute(text("SELECT cadastral_number FROM parcel WHERE status = 'active'"
                                " ORDER BY id LIMIT 1 OFFSET 11")).scalar_one()
        issued = extracts.issue(c, s, account=acc, cadastral_number=number,
                                case_number="B-2026/9", purpose="gift", fmt="pdf")
    page.goto(f"{live_server}/extracts/{issued.number}?lang=en")
    body = page.inner_text("main")
    assert "Valid" in body and number in body and issued.signature["sha256"] in body
    for owner in issued.content["owners"]:
        assert owner["name"] not in body and owner["identifier"]["value"] not in body
    assert "B-2026/9" not in body
    page.screenshot(path=str(artifacts / "extract-status.png"), full_page=True)
    # upload the PDF through the form
    pdf = tmp_path / f"{issued.number}.pdf"
    assert issued.pdf is not None
    pdf.write_bytes(issued.pdf)
    page.goto(f"{live_server}/extracts/verify?lang=en")
    page.set_input_files("input[name=file]", str(pdf))
    page.click("button[type=submit]")
    page.wait_for_selector("[role=status]")
    assert "Authentic" in page.inner_text("[role=status]")
    page.screenshot(path=str(artifacts / "extract-verify.png"), full_page=True)
    assert page.console_errors == [] and page.external_requests == []
