"""HTML views work offline: no request leaves the server, MapLibre draws our own data."""

from __future__ import annotations

from typing import Any

import pytest

PAGES = ["/ogc/", "/ogc/collections", "/ogc/collections/parcels",
         "/ogc/collections/parcels/items?limit=20", "/ogc/collections/parcels/items/1",
         "/ogc/collections/parcels/tiles", "/ogc/openapi", "/ogc/TileMatrixSets",
         "/ogc/collections/incidents/items?limit=20"]


@pytest.mark.browser
def test_html_pages_offline(page: Any, live_server: str) -> None:
    for path in PAGES:
        resp = page.goto(live_server + path + ("&" if "?" in path else "?") + "f=html")
        assert resp is not None and resp.status == 200, path
        page.wait_for_load_state("networkidle")
        assert page.external_requests == [], (path, page.external_requests)
        assert page.console_errors == [], (path, page.console_errors)
    # the items page draws its features on a MapLibre canvas (vendored library)
    page.goto(live_server + "/ogc/collections/parcels/items?limit=20&f=html")
    page.wait_for_selector("#ogc-map canvas", timeout=20000)
    assert page.locator("table tbody tr").count() == 20
