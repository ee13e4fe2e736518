"""The citizen portal in headless Chromium: map, search, sign in → my property → pay → receipt,
language switch. Every test checks no console errors and no request leaving localhost."""

from __future__ import annotations

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.browser

PARCELS_DRAWN = "() => window.portal && window.portal.renderedParcels().length > 0"
MAP_IDLE = "() => window.portalMap && window.portalMap.loaded() && !window.portalMap.isMoving()"


def _clean(page) -> None:  # type: ignore[no-untyped-def]
    assert page.console_errors == [], page.console_errors
    assert page.external_requests == [], page.external_requests


@pytest.fixture(scope="module")
def target(engine):  # type: ignore[no-untyped-def]
    """A parcel with a building, its number and address."""
    with engine.connect() as c:
        row = c.execute(text("""
            SELECT p.cadastral_number, p.address,
                   ST_X(ST_Transform(ST_PointOnSurface(p.geom), 4326)) AS lon,
                   ST_Y(ST_Transform(ST_PointOnSurface(p.geom), 4326)) AS lat FROM parcel p
             WHERE p.status = 'active' AND p.district_id = 9
               AND EXISTS (SELECT 1 FROM building b WHERE b.parcel_id = p.id)
             ORDER BY p.id LIMIT 1""")).mappings().one()
    return dict(row)


def _highlighted(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate("""() => window.portalMap.queryRenderedFeatures({layers: ['highlight-fill']})
                                    .map(f => f.properties.cadastral_number)""")


def test_map_draws_parcels_offline(page, live_server, artifacts, target) -> None:  # type: ignore[no-untyped-def]
    page.requests_seen = []
    page.on("request", lambda r: page.requests_seen.append(r.url))
    page.goto(live_server + "/?lang=en")
    page.wait_for_function(MAP_IDLE, timeout=30000)
    page.screenshot(path=str(artifacts / "portal-city.png"))
    # district names come from our glyphs; districts from our tiles
    assert page.evaluate("window.portalMap.queryRenderedFeatures({layers:['district-fill']}).length") > 0
    assert page.evaluate("window.portalMap.queryRenderedFeatures({layers:['district-label']}).length") > 0
    page.goto(live_server + f"/?lang=en#17/{target['lat']:.5f}/{target['lon']:.5f}")
    page.wait_for_function(PARCELS_DRAWN, timeout=30000)
    page.wait_for_function(MAP_IDLE, timeout=30000)
    numbers = page.evaluate("window.portal.renderedParcels()")
    assert all(n.startswith("10:") for n in numbers)
    # symbols are placed after their glyphs arrive: give a busy machine time to place them
    page.wait_for_function(
        "() => window.portalMap.queryRenderedFeatures({layers:['parcel-label']}).length > 0",
        timeout=30000)
    labels = page.evaluate("window.portalMap.queryRenderedFeatures({layers:['parcel-label']}).length")
    assert labels > 0, "plot numbers are labelled at high zoom"
    # named streets between the blocks, from our own tiles, labelled along the line
    page.wait_for_function(
        "() => window.portalMap.queryRenderedFeatures({layers:['street-label']}).length > 0",
        timeout=30000)
    streets = page.evaluate("""() => window.portalMap.queryRenderedFeatures({layers: ['street-line']})
                                      .map(f => f.properties.name)""")
    assert streets and all(streets)
    legend = page.locator("#map-legend-list li")
    assert legend.count() >= 5 and "Individual housing" in legend.first.text_content()
    assert page.locator(".maplibregl-ctrl-scale").count() == 1
    assert page.locator(".maplibregl-ctrl-geolocate").count() == 1
    page.screenshot(path=str(artifacts / "portal-parcels-z17.png"))
    # the view is in the URL (shareable)
    assert f"#17/{target['lat']:.4f}"[:9] in page.url
    tiles = [u for u in page.requests_seen if "/tiles/WebMercatorQuad/" in u]
    assert any("/collections/parcels/" in u for u in tiles)
    assert any("/collections/buildings/" in u for u in tiles)
    _clean(page)


def test_search_by_number_highlights_parcel(page, live_server, artifacts, target, engine) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_server + "/?lang=en")
    page.wait_for_function(MAP_IDLE, timeout=30000)
    page.fill("#search-q", target["cadastral_number"])
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => window.portal.highlighted === '{target['cadastral_number']}'")
    page.wait_for_function("() => window.portalMap.getZoom() > 16", timeout=15000)
    page.wait_for_function(MAP_IDLE, timeout=30000)
    assert _highlighted(page) and set(_highlighted(page)) == {target["cadastral_number"]}
    card = page.locator("#parcel-card")
    assert card.is_visible()
    assert target["cadastral_number"] in card.inner_text()
    # on a phone the card is a bottom sheet: on screen, at the bottom, over the map
    box = card.bounding_box()
    assert box["y"] + box["height"] >= 843 and box["y"] > 844 * 0.4
    page.wait_for_function(  # the selected parcel carries its full number
        "() => window.portalMap.queryRenderedFeatures({layers:['highlight-label']}).length > 0",
        timeout=30000)
    assert card.locator("dt").all_inner_texts() == [
        "Address", "District", "Area", "Land category", "Permitted use", "Cadastral value"]
    with engine.connect() as c:  # never an owner's name
        owners = c.execute(text("""SELECT pt.full_name FROM "right" r JOIN party pt ON pt.id = r.party_id
            JOIN parcel p ON p.id = r.parcel_id WHERE p.cadastral_number = :n"""),
            {"n": target["cadastral_number"]}).scalars().all()
    assert owners and not any(o in card.inner_text() for o in owners)
    # the parcel under the map centre is the one found
    centre = page.evaluate("""() => { const m = window.portalMap, c = m.project(m.getCenter());
        return m.queryRenderedFeatures([c.x, c.y], {layers: ['parcel-fill']})
                .map(f => f.properties.cadastral_number); }""")
    assert target["cadastral_number"] in centre
    page.screenshot(path=str(artifacts / "portal-search-number.png"))
    page.set_viewport_size({"width": 1280, "height": 800})  # the desktop layout too
    page.wait_for_timeout(300)
    page.wait_for_function(MAP_IDLE, timeout=30000)
    assert page.locator("#parcel-card").is_visible() and page.locator("#map").is_visible()
    page.screenshot(path=str(artifacts / "portal-desktop.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    _clean(page)


def test_search_by_address_highlights_parcel(page, live_server, artifacts, target) -> None:  # type: ignore[no-untyped-def]
    parts = [s.strip() for s in target["address"].split(",")]
    street, house = parts[2].replace(" koʻchasi", ""), parts[3]
    page.goto(live_server + "/?lang=en")
    page.fill("#search-q", f"{parts[1]} {street[:-1]} {house}")  # typo: last letter missing
    page.click("button[type=submit]")
    page.wait_for_selector("#search-results button.result")
    first = page.locator("#search-results button.result").first.get_attribute("data-number")
    page.wait_for_function(f"() => window.portal.highlighted === '{first}'")
    page.wait_for_function("() => window.portalMap.getZoom() > 16", timeout=15000)
    page.wait_for_function(MAP_IDLE, timeout=30000)
    assert set(_highlighted(page)) == {first}
    assert target["cadastral_number"] in [
        b.get_attribute("data-number") for b in page.locator("#search-results button.result").all()]
    # keyboard: pick the expected result with Tab/Enter
    btn = page.locator(f"#search-results button[data-number='{target['cadastral_number']}']")
    btn.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => window.portal.highlighted === '{target['cadastral_number']}'")
    page.wait_for_function(MAP_IDLE, timeout=30000)
    page.screenshot(path=str(artifacts / "portal-search-address.png"))
    _clean(page)


def test_sign_in_my_property_pay_receipt(page, live_server, artifacts, engine) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_server + "/login?lang=en")
    page.fill("input[name=username]", "citizen")
    page.fill("input[name=password]", "citizen-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url("**/my")
    assert "My property" in page.inner_text("h1")
    assert page.locator("td.share", has_text="1/2").count() >= 1
    page.screenshot(path=str(artifacts / "portal-my-property.png"), full_page=True)
    with page.expect_download() as dl:
        page.evaluate("""() => { const a = document.querySelector("a[href*='/my/passport/']");
                               a.setAttribute('download', ''); a.click(); }""")
    assert dl.value.suggested_filename.endswith(".pdf")
    # "Show on map" opens the public map on that parcel
    mine = page.locator("a.button.secondary", has_text="Show on map").first
    number_mine = mine.get_attribute("href").split("parcel=")[1].replace("%3A", ":")
    mine.click()
    page.wait_for_function(f"() => window.portal && window.portal.highlighted === '{number_mine}'")
    page.wait_for_function(PARCELS_DRAWN, timeout=30000)  # tiles load for a signed-in user too
    page.wait_for_function(MAP_IDLE, timeout=30000)
    _clean(page)
    page.go_back()
    page.wait_for_url("**/my")
    page.click("text=See and pay your taxes")
    page.wait_for_url("**/taxes")
    page.select_option("#year", "2025")
    page.wait_for_url("**/taxes?year=2025")
    page.screenshot(path=str(artifacts / "portal-taxes.png"), full_page=True)
    form = page.locator("form.pay-form").first
    key = form.locator("input[name=idempotency_key]").get_attribute("value")
    amount = form.locator("input[name=amount]").input_value()
    # the same form posted twice (a double click that got through, a retry): one charge
    assert page.locator("#sandbox-cards li").count() >= 3  # the decline cards are listed
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#pay-summary")  # first the "check your payment" summary
    assert "Check your payment" in page.inner_text("h1")
    assert page.inner_text("#pay-card").startswith("****")
    page.screenshot(path=str(artifacts / "portal-pay-check.png"), full_page=True)
    with engine.connect() as c:  # nothing charged yet
        assert c.execute(text("SELECT count(*) FROM payment WHERE idempotency_key = :k"),
                         {"k": key}).scalar() == 0
    # the confirmation posted twice (a double click that got through, a retry): one charge
    fields = page.evaluate(
        "() => Object.fromEntries(new FormData(document.querySelector('form.pay-confirm')))")
    r1 = page.request.post(live_server + "/taxes/pay", form=fields, max_redirects=0)
    r2 = page.request.post(live_server + "/taxes/pay", form=fields, max_redirects=0)
    assert r1.status == r2.status == 303
    assert r1.headers["location"] == r2.headers["location"]
    page.click("#pay-confirm")  # and a third time, from the page itself
    page.wait_for_url("**/taxes/receipts/R*")
    assert page.locator("#receipt-qr svg").count() == 1 and "INN" in page.inner_text("#receipt-payee")
    assert "Payment successful" in page.content()
    number = page.inner_text("#receipt-number")
    page.screenshot(path=str(artifacts / "portal-receipt.png"), full_page=True)
    with engine.connect() as c:
        n = c.execute(text("SELECT count(*) FROM payment WHERE idempotency_key = :k"),
                      {"k": key}).scalar()
        paid = c.execute(text("SELECT amount FROM payment WHERE receipt_number = :r"),
                         {"r": number}).scalar()
    assert n == 1 and int(paid) == int(amount)
    resp = page.request.get(f"{live_server}/taxes/receipts/{number}.pdf")
    assert resp.ok and resp.headers["content-type"] == "application/pdf"
    _clean(page)
    page.goto(live_server + "/logout")


def test_language_switch_is_remembered(page, live_server, artifacts) -> None:  # type: ignore[no-untyped-def]
    page.goto(live_server + "/?lang=en")
    assert page.inner_text("label[for=search-q]").startswith("Find a parcel")
    page.click(".langs a[lang=ru]")
    page.wait_for_function("() => document.documentElement.lang === 'ru'")
    assert "Найти участок" in page.inner_text("label[for=search-q]")
    page.goto(live_server + "/")  # no ?lang: the cookie remembers
    assert page.evaluate("document.documentElement.lang") == "ru"
    page.wait_for_function(MAP_IDLE, timeout=30000)
    names = page.evaluate("""() => window.portalMap.queryRenderedFeatures({layers: ['district-label']})
                                     .map(f => f.properties.name_ru)""")
    assert "Юнусабад" in names or "Чиланзар" in names  # Cyrillic labels from our glyphs
    page.screenshot(path=str(artifacts / "portal-ru.png"))
    page.click(".langs a[lang=uz]")
    page.wait_for_function("() => document.documentElement.lang === 'uz'")
    assert "kadastr raqami" in page.inner_text("label[for=search-q]")
    page.wait_for_function(MAP_IDLE, timeout=30000)
    page.wait_for_function(
        "() => window.portalMap.queryRenderedFeatures({layers: ['district-label']}).length > 0")
    page.screenshot(path=str(artifacts / "portal-uz.png"))
    page.goto(live_server + "/login")
    assert page.inner_text("h1") == "Kirish"
    page.goto(live_server + "/?lang=en")
    _clean(page)
