"""Report a problem from a phone in each language (tap the map, search an address typed in
Cyrillic, use my location), follow it on its tracking page, "is it one of these?", a refusal
shown on the form. No console errors, nothing requested outside 127.0.0.1."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.browser

READY = "() => window.report && window.report.ready"
TEXTS = {
    "uz": {"h1": "Shahardagi muammo haqida xabar berish", "desc": "Quvur yorilib, suv oqyapti",
           "status": "qabul qilindi", "thanks": "Rahmat!"},
    "ru": {"h1": "Сообщить о проблеме в городе", "desc": "Прорвало трубу, течёт вода",
           "status": "получено", "thanks": "Спасибо!"},
    "en": {"h1": "Report a problem in the city", "desc": "A pipe burst, water is running",
           "status": "received", "thanks": "Thank you!"},
}


def _clean(page) -> None:  # type: ignore[no-untyped-def]
    assert page.console_errors == [], page.console_errors
    assert page.external_requests == [], page.external_requests


def _photo() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (30, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def _place_pin(page, lang: str) -> None:  # type: ignore[no-untyped-def]
    if lang == "uz":  # tap the map (the city centre is in the middle of the first view)
        page.wait_for_function("() => window.reportMap && window.reportMap.loaded()", timeout=30000)
        box = page.locator("#report-map canvas").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    elif lang == "ru":  # an address typed in Cyrillic, as Russian speakers do
        page.fill("#report-place", "Навои 12")
        page.click("#report-place-go")  # the first result places the pin
    else:  # the phone's own location
        page.context.grant_permissions(["geolocation"])
        page.context.set_geolocation({"latitude": 41.3111, "longitude": 69.2797})
        page.click("#report-locate")
    page.wait_for_function("() => document.getElementById('report-lat').value !== ''")


@pytest.mark.parametrize("lang", ["uz", "ru", "en"])
def test_report_on_phone(page, live_server, artifacts, engine, lang) -> None:  # type: ignore[no-untyped-def]
    t = TEXTS[lang]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/?lang={lang}")
    page.click("a.nav-report")  # linked from the portal header
    page.wait_for_function(READY, timeout=30000)
    assert page.inner_text("h1") == t["h1"]
    _place_pin(page, lang)
    if lang == "ru":
        assert "Navoiy" in page.input_value("#report-address")
    page.select_option("#report-category", "water")
    page.fill("#report-description", t["desc"])
    page.set_input_files("#report-photos", files=[
        {"name": "leak.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    page.fill("#report-email", f"browser.{lang}@example.uz")
    page.check("#report-consent")
    page.screenshot(path=str(artifacts / f"report-form-{lang}.png"), full_page=True)
    page.click("#report-send")
    page.wait_for_url(re.compile(r".*/reports/[A-Za-z0-9_-]{20,}\?new=1"))
    assert t["thanks"] in page.inner_text(".notice")
    assert page.inner_text("#track-status") == t["status"]
    assert page.locator("#track-timeline li").count() >= 1
    assert f"browser.{lang}" not in page.content()
    page.wait_for_function("() => window.trackMap && window.trackMap.loaded()", timeout=30000)
    page.screenshot(path=str(artifacts / f"report-tracking-{lang}.png"), full_page=True)
    token = page.url.split("/reports/")[1].split("?")[0]
    with engine.connect() as c:
        row = c.execute(text("SELECT i.source, i.district_id, i.description,"
                             " (SELECT count(*) FROM incident_photo p WHERE p.incident_id = i.id)"
                             " FROM citizen_report r JOIN incident i ON i.id = r.incident_id"
                             " WHERE r.token = :t"), {"t": token}).one()
    assert row[0] == "portal" and row[1] and row[2] == t["desc"] and row[3] == 1
    _clean(page)


def test_nearby_follow_and_desktop_tracking(page, live_server, artifacts, engine) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    with engine.connect() as c:
        lon, lat, cat = c.execute(text(
            "SELECT ST_X(ST_Transform(i.geom, 4326)), ST_Y(ST_Transform(i.geom, 4326)), i.category"
            " FROM incident i JOIN incident_category c ON c.code = i.category AND c.public"
            " WHERE i.status IN ('new', 'triaged', 'dispatched', 'in_progress')"
            " AND i.visibility = 'public' ORDER BY i.id LIMIT 1")).one()
    page.goto(f"{live_server}/report?lang=en&category={cat}&lon={lon:.6f}&lat={lat:.6f}")
    page.wait_for_function(READY, timeout=30000)
    page.wait_for_selector("#report-nearby:not([hidden])")
    assert page.locator("#report-nearby-list li").count() >= 1
    page.screenshot(path=str(artifacts / "report-is-it-one-of-these.png"), full_page=True)
    page.fill("#report-email", "follower@example.uz")
    page.check("#report-consent")
    page.locator("#report-nearby-list button.follow").first.click()
    page.wait_for_url(re.compile(r".*/reports/.*following=1"))
    assert "You are following this report" in page.inner_text(".notice")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_function("() => window.trackMap && window.trackMap.loaded()", timeout=30000)
    page.screenshot(path=str(artifacts / "report-tracking-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    _clean(page)


def test_refusal_shown_on_the_form(page, live_server, artifacts, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        before = c.execute(text("SELECT count(*) FROM incident")).scalar()
    page.goto(f"{live_server}/report?lang=en")
    page.wait_for_function(READY, timeout=30000)
    page.select_option("#report-category", "road")
    page.fill("#report-description", "<script>alert(1)</script> hole in the road")
    page.click("#report-send")
    page.wait_for_selector("#report-error")
    assert "Place a pin" in page.inner_text("#report-error")
    # a photo over 10 MB is refused in the browser before anything is sent
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as f:
        f.truncate(10 * 1024 * 1024 + 1)  # sparse: instant to make
    page.set_input_files("#report-photos", str(huge))
    assert "larger than 10 MB" in page.inner_text("#report-photos-status")
    page.screenshot(path=str(artifacts / "report-refused.png"), full_page=True)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM incident")).scalar() == before
    # the refused form comes back with its 400 status, which Chromium logs as a console error
    page.console_errors[:] = [e for e in page.console_errors if "status of 400" not in e]
    _clean(page)


@pytest.mark.parametrize(("lang", "q"), [("ru", "Навои 12"), ("uz", "Навоий 12")])
def test_search_from_cyrillic_on_the_map(page, live_server, artifacts, lang, q) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server}/?lang={lang}")
    page.fill("#search-q", q)
    page.keyboard.press("Enter")
    page.wait_for_selector("#search-results button.result")
    first = page.locator("#search-results button.result").first
    assert "Navoiy" in first.inner_text()
    number = first.get_attribute("data-number")
    page.wait_for_function(f"() => window.portal.highlighted === '{number}'")
    page.screenshot(path=str(artifacts / f"search-cyrillic-{lang}.png"))
    _clean(page)
