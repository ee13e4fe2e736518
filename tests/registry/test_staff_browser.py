"""The split preview in headless Chromium: draw a cut line on the map, preview, confirm."""

from __future__ import annotations

import pytest

from cadastre_gis.demo import DEMO_PASSWORDS

from .test_staff import fresh  # noqa: F401 - fixture

pytestmark = pytest.mark.browser


def test_split_with_map_preview(page, live_server, fresh, engine, artifacts) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from sqlalchemy import text

    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(live_server + "/login?lang=en")
    page.fill("input[name=username]", "registrar")
    page.fill("input[name=password]", DEMO_PASSWORDS["registrar"])
    page.click("button[type=submit]")
    page.goto(f"{live_server}/staff/parcels/{fresh}/split?lang=en")
    page.wait_for_selector("#map[data-ready='1']")
    box = page.locator("#map").bounding_box()
    cx = box["x"] + box["width"] / 2
    page.mouse.click(cx, box["y"] + 15)
    page.mouse.click(cx + 3, box["y"] + box["height"] - 15)
    assert "LineString" in page.input_value("#cut_line")
    page.fill("input[name=doc_number]", "Q-BROWSER-1")
    assert page.is_disabled("#confirm")
    page.click("#preview")
    page.wait_for_selector("#map[data-previewed='3']")
    assert "split into" in page.inner_text("#preview-msg")
    page.screenshot(path=str(artifacts / "staff-split-preview.png"))
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM parcel WHERE cadastral_number = :n"),
                         {"n": fresh}).scalar() == "active"
    page.click("#confirm")
    page.wait_for_selector("text=split into")
    with engine.connect() as c:
        assert c.execute(text("SELECT status FROM parcel WHERE cadastral_number = :n"),
                         {"n": fresh}).scalar() == "retired"
    assert page.console_errors == []
    assert page.external_requests == []
