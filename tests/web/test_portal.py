"""Public portal: landing page with the map and district figures, search, parcel card."""

from __future__ import annotations

import pytest
from sqlalchemy import text

PRIVATE_WORDS = ("pinfl", "full_name", "owner", "party", "share")


@pytest.fixture(scope="module")
def sample(engine):  # type: ignore[no-untyped-def]
    """An active parcel with a building and an address."""
    with engine.connect() as c:
        row = c.execute(text("""
            SELECT p.cadastral_number, p.address, p.id FROM parcel p
             WHERE p.status = 'active' AND EXISTS (SELECT 1 FROM building b WHERE b.parcel_id = p.id)
             ORDER BY p.id LIMIT 1""")).mappings().one()
    return dict(row)


def test_landing_has_map_and_figures(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/?lang=en").get_data(as_text=True)
    assert 'id="map"' in html and "vendor/maplibre-gl.js" in html and "portal/map.js" in html
    assert "Yunusobod" in html and "By district" in html
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere


def test_landing_in_three_languages(client) -> None:  # type: ignore[no-untyped-def]
    assert "Find a parcel by cadastral number or address" in client.get("/?lang=en").get_data(as_text=True)
    ru = client.get("/?lang=ru")
    assert "Найти участок" in ru.get_data(as_text=True)
    assert "lang=ru" in ru.headers.get("Set-Cookie", "")
    uz = client.get("/?lang=uz").get_data(as_text=True)
    assert "Uchastkani kadastr raqami yoki manzil boʻyicha topish" in uz
    assert "Toshkent kadastri" in uz and "Kirish" in uz


def test_language_is_remembered_by_cookie(app) -> None:  # type: ignore[no-untyped-def]
    c = app.test_client()
    c.get("/?lang=ru")
    html = c.get("/").get_data(as_text=True)
    assert '<html lang="ru">' in html and "Найти участок" in html


def test_district_labels_geojson(client) -> None:  # type: ignore[no-untyped-def]
    fc = client.get("/api/districts/labels").get_json()
    assert len(fc["features"]) == 12
    lon, lat = fc["features"][0]["geometry"]["coordinates"]
    assert 69.0 < lon < 69.6 and 41.1 < lat < 41.5


def test_search_exact_number(client, sample) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/search", query_string={"q": sample["cadastral_number"]}).get_json()
    assert body["mode"] == "number"
    first = body["results"][0]
    assert first["cadastral_number"] == sample["cadastral_number"]
    minx, miny, maxx, maxy = first["bbox"]
    lon, lat = first["centroid"]
    assert minx <= lon <= maxx and miny <= lat <= maxy
    assert 69.0 < lon < 69.6 and 41.1 < lat < 41.5


def test_search_prefix(client, sample) -> None:  # type: ignore[no-untyped-def]
    prefix = sample["cadastral_number"][:11]  # 10:09:03:01
    body = client.get("/api/search", query_string={"q": prefix, "limit": 5}).get_json()
    assert 1 <= len(body["results"]) <= 5
    assert all(r["cadastral_number"].startswith(prefix) for r in body["results"])


def test_search_building_number_finds_its_parcel(client, engine, sample) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        bnum = c.execute(text("SELECT cadastral_number FROM building WHERE parcel_id = :p LIMIT 1"),
                         {"p": sample["id"]}).scalar()
    body = client.get("/api/search", query_string={"q": bnum}).get_json()
    assert body["results"][0]["cadastral_number"] == sample["cadastral_number"]


def test_search_address_with_typo(client, sample) -> None:  # type: ignore[no-untyped-def]
    # "Toshkent sh., Bektemir tumani, Bobur koʻchasi, 12-uy" -> street + house, one typo
    parts = [s.strip() for s in sample["address"].split(",")]
    street = parts[2].replace(" koʻchasi", "")
    house = parts[3]
    typo = street[:-2] + street[-1] if len(street) > 4 else street  # drop a letter
    q = f"{typo} ko'chasi, {house}"
    body = client.get("/api/search", query_string={"q": q, "limit": 20}).get_json()
    assert body["mode"] == "address"
    assert body["results"], q
    assert any(street in r["address"] and house in r["address"] for r in body["results"])
    assert body["results"][0]["score"] >= 0.45


def test_search_rejects_bad_input(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/search", query_string={"q": "x"}).status_code == 400
    assert client.get("/api/search", query_string={"q": "ab", "limit": 999}).status_code == 400
    assert client.get("/api/search", query_string={"q": "ab", "limit": "many"}).status_code == 400
    r = client.get("/api/search", query_string={"q": "zzzzqqqq xxxyyy"})
    assert r.status_code == 200 and r.get_json()["results"] == []


def test_parcel_card_is_public_only(client, sample) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/parcels/{sample['cadastral_number']}?lang=ru")
    assert r.status_code == 200
    card = r.get_json()
    assert card["cadastral_number"] == sample["cadastral_number"]
    assert card["geometry"]["type"] == "MultiPolygon"
    assert card["buildings"] and card["buildings"][0]["cadastral_number"].startswith(sample["cadastral_number"])
    assert card["land_category_name"].startswith("Земли")
    raw = r.get_data(as_text=True).lower()
    for word in PRIVATE_WORDS:
        assert word not in raw, word


def test_parcel_card_errors(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/parcels/not-a-number").status_code == 400
    assert client.get("/api/parcels/10:09:99:99:99:9999").status_code == 404


def test_glyphs_are_served(client) -> None:  # type: ignore[no-untyped-def]
    for stack in ("DejaVuSans", "DejaVuSans-Bold"):
        for rng in ("0-255", "512-767"):
            r = client.get(f"/static/portal/glyphs/{stack}/{rng}.pbf")
            assert r.status_code == 200 and len(r.data) > 10000
            r.close()


def test_search_address_ranks_the_house_first(client, sample) -> None:  # type: ignore[no-untyped-def]
    parts = [s.strip() for s in sample["address"].split(",")]
    q = f"{parts[2]}, {parts[3]}"  # "Bobur koʻchasi, 12-uy"
    first = client.get("/api/search", query_string={"q": q}).get_json()["results"][0]
    assert first["address"].endswith(f"{parts[2]}, {parts[3]}")


def test_search_only_common_words_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/search", query_string={"q": "Toshkent sh., koʻchasi"})
    assert r.status_code == 400 and "street" in r.get_json()["description"]


def test_language_links_keep_the_query(client, sample) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/", query_string={"parcel": sample["cadastral_number"], "lang": "en"}
                      ).get_data(as_text=True)
    assert 'href="/?parcel=' + sample["cadastral_number"].replace(":", "%3A") + '&amp;lang=ru"' in html


def test_signed_in_citizen_gets_map_tiles(app, sample) -> None:  # type: ignore[no-untyped-def]
    """A signed-in (permanent, refreshed) session must not break tile responses."""
    import morecantile

    from .portal_helpers import login

    tms = morecantile.tms.get("WebMercatorQuad")

    client = app.test_client()
    login(client)
    lon, lat = client.get(f"/api/parcels/{sample['cadastral_number']}").get_json()["centroid"]
    for coll in ("parcels", "buildings", "districts"):
        z = 14 if coll == "districts" else 16
        tz = tms.tile(lon, lat, z)
        r = client.get(f"/ogc/collections/{coll}/tiles/WebMercatorQuad/{z}/{tz.y}/{tz.x}?f=mvt")
        assert r.status_code in (200, 204), (coll, r.status_code)
