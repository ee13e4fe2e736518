"""The readable map: named streets in the demo city and their tile layer, the land-use legend,
Babel number formats on the landing page."""

from __future__ import annotations

import gzip

import mapbox_vector_tile
import morecantile
from sqlalchemy import text

from cadastre_gis.demo import STREETS


def test_demo_city_has_named_streets_between_blocks(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        n, names, bad, on_parcels = c.execute(text("""
            SELECT count(*), count(DISTINCT name), count(*) FILTER (WHERE NOT ST_IsValid(geom)),
                   (SELECT count(*) FROM street s JOIN parcel p
                      ON ST_Intersects(p.geom, ST_Buffer(s.geom, -0.1))) FROM street""")).one()
        ru = c.execute(text("SELECT name_ru FROM street WHERE name = 'Alisher Navoiy' LIMIT 1")).scalar()
    assert n > 50 and names > 20 and bad == 0
    assert on_parcels == 0 or on_parcels < n * 0.05  # centre lines run between the blocks
    with engine.connect() as c:
        assert set(c.execute(text("SELECT DISTINCT name FROM street")).scalars()) <= set(STREETS)
    assert ru in (None, "Алишера Навои")


def test_streets_tile_layer(client, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        lon, lat = c.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_LineInterpolatePoint("
            "ST_GeometryN(geom, 1), 0.5), 4326) AS p FROM street ORDER BY id LIMIT 1) x")).one()
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 16)
    r = client.get(f"/ogc/collections/streets/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}?f=mvt")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    data = r.data
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    layers = mapbox_vector_tile.decode(data)
    feats = layers["streets"]["features"]
    assert feats and all(f["properties"]["name"] in STREETS for f in feats)
    assert {"name", "name_ru", "kind"} <= set(feats[0]["properties"])
    assert client.get("/ogc/collections/streets?f=json").status_code == 200


def test_landing_has_legend_and_one_number_format(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/?lang=en").get_data(as_text=True)
    assert 'id="map-legend"' in html and "Individual housing" in html and "portal/basemap.js" in html
    ru = client.get("/?lang=ru").get_data(as_text=True)
    assert "Условные обозначения" in ru
    import re

    # thousands grouped by the language's own separator (Babel): 3,000 / 3 000
    assert re.search(r"<strong>\d{1,3},\d{3}</strong>", html)
    assert re.search(r"<strong>\d{1,3}\u00a0\d{3}</strong>", ru)
