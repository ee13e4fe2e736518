"""Compression (issue 13.2): brotli/gzip by Accept-Encoding for JSON, HTML, JS, CSS and MVT;
Part 4 version ETags stay usable in If-Match / If-None-Match whatever the encoding."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from pathlib import Path

import brotli
import pytest
from sqlalchemy.engine import Engine

from tests.registry.helpers import FAR_X, free_y_of, make_parcel, rect

REGISTRAR = {"Authorization": "Basic " + base64.b64encode(b"registrar:registrar-demo-2026").decode()}
DECODE = {"br": brotli.decompress, "gzip": gzip.decompress}


@pytest.mark.parametrize("coding", ["br", "gzip"])
def test_json_html_js_css_are_compressed(client, coding: str) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/ogc/collections/parcels/items?f=json&limit=50",
                   headers={"Accept-Encoding": coding})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == coding
    assert "Accept-Encoding" in r.headers["Vary"]
    doc = json.loads(DECODE[coding](r.data))
    assert len(doc["features"]) == 50
    plain = client.get("/ogc/collections/parcels/items?f=json&limit=50")
    assert "Content-Encoding" not in plain.headers
    assert len(r.data) * 3 < len(plain.data)
    r = client.get("/", headers={"Accept-Encoding": coding, "Accept": "text/html"})
    assert r.headers["Content-Encoding"] == coding and b"<html" in DECODE[coding](r.data)
    static = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor"
    for name in ("maplibre-gl.js", "maplibre-gl.css"):
        r = client.get(f"/static/vendor/{name}", headers={"Accept-Encoding": coding})
        assert r.headers["Content-Encoding"] == coding
        assert DECODE[coding](r.data) == (static / name).read_bytes()


def test_tiles_are_compressed(client, engine) -> None:  # type: ignore[no-untyped-def]
    import mapbox_vector_tile
    import morecantile
    from sqlalchemy import text

    with engine.connect() as c:
        lon, lat = c.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) p"
            " FROM parcel WHERE status = 'active' ORDER BY id LIMIT 1) s")).one()
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/15/{t.y}/{t.x}?f=mvt"
    plain = client.get(url)
    assert plain.status_code in (200, 204)
    r = client.get(url, headers={"Accept-Encoding": "br, gzip"})
    if plain.status_code == 204 or len(plain.data) < 500:
        pytest.skip("tile too small to compress in this demo city")
    assert r.headers["Content-Encoding"] in ("br", "gzip")
    tile = mapbox_vector_tile.decode(DECODE[r.headers["Content-Encoding"]](r.data))
    assert tile["parcels"]["features"]


@pytest.fixture()
def parcel(engine: Engine) -> int:
    """A committed active parcel far from the demo ones."""
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:45"
    with engine.begin() as c:
        return make_parcel(c, f"{q}:0001", rect(FAR_X, free_y_of(engine)))


def test_version_etag_survives_encoding(client, parcel: int) -> None:  # type: ignore[no-untyped-def]
    url = f"/ogc/collections/parcels/items/{parcel}"
    r = client.get(url, headers={"Accept-Encoding": "gzip"})
    tag = r.headers["ETag"]
    # the coding is appended (caches keep encodings apart) but the version is still there
    assert tag.startswith(f'"parcels-{parcel}-v1') and r.headers.get("Content-Encoding") in (
        "gzip", None)
    # If-None-Match with the tag as received (any encoding): 304
    assert client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": tag}
                      ).status_code == 304
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    body = json.dumps({"type": "Feature", "properties": {"address": "Z-1"}})
    r = client.patch(url, data=body, content_type="application/merge-patch+json",
                     headers={**REGISTRAR, "If-Match": tag, "Accept-Encoding": "br"})
    assert r.status_code == 204, r.get_data(as_text=True)
    assert r.headers["ETag"] == f'"parcels-{parcel}-v2"'
    # the old tag, with or without its coding suffix, is stale now
    for stale in (tag, f'"parcels-{parcel}-v1"', f'"parcels-{parcel}-v1:br"'):
        r = client.patch(url, data=body, content_type="application/merge-patch+json",
                         headers={**REGISTRAR, "If-Match": stale})
        assert r.status_code == 412
    r = client.patch(url, data=body, content_type="application/merge-patch+json",
                     headers={**REGISTRAR, "If-Match": f'"parcels-{parcel}-v2:br"'})
    assert r.status_code == 204
