"""The landing page renders in headless Chromium without errors or outside requests."""

from __future__ import annotations


def test_landing_in_chromium(page, live_server, artifacts) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_server + "/?lang=en")
    assert "Yunusobod" in page.content()
    page.screenshot(path=str(artifacts / "landing.png"))
    assert page.console_errors == []
    assert page.external_requests == []
