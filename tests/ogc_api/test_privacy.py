"""Privacy walker: no personal data anywhere in the public OGC API (JSON, HTML, tiles).

Forbidden strings come from the database itself: party names, PINFL/INN, phones and e-mails,
rights (registration numbers, holders), incident reporter contacts, camera stream URLs.
"""

from __future__ import annotations

import re
from typing import Any

import mapbox_vector_tile
import morecantile
import pytest
from sqlalchemy import text

COLLECTIONS = ["parcels", "buildings", "districts", "incidents", "cameras"]
TILED = ["parcels", "buildings", "districts", "incidents"]


@pytest.fixture(scope="module")
def forbidden(engine: Any) -> tuple[set[str], set[str]]:
    """(strings, digit identifiers) that must never appear in public output."""
    with engine.connect() as conn:
        q = lambda sql: {v for v in conn.execute(text(sql)).scalars() if v}  # noqa: E731
        strings = (q("SELECT full_name FROM party") | q("SELECT phone FROM party")
                   | q("SELECT email FROM party")
                   | q('SELECT registration_number FROM "right"')
                   | q('SELECT holder FROM "right"')
                   | q("SELECT reporter_name FROM incident")
                   | q("SELECT reporter_phone FROM incident")
                   | q("SELECT reporter_email FROM incident")
                   | q("SELECT description FROM incident")
                   | q("SELECT stream_url FROM camera"))
        digits = q("SELECT pinfl FROM party") | q("SELECT inn FROM party")
        internal = q("SELECT code FROM incident_category WHERE NOT public")
    assert len(strings) > 100 and len(digits) > 100 and internal
    return strings, digits


class Walker:
    """Fetches pages and checks each body against the forbidden strings."""

    def __init__(self, client: Any, forbidden: tuple[set[str], set[str]]) -> None:
        self.client = client
        self.strings, self.digits = forbidden
        self.pages = 0

    def check_text(self, where: str, body: str) -> None:
        """Fail if the body carries personal data."""
        for s in self.strings:
            assert s not in body, f"{where} leaks {s!r}"
        for d in set(re.findall(r"(?<!\d)\d{9}(?!\d)|(?<!\d)\d{14}(?!\d)", body)):
            assert d not in self.digits, f"{where} leaks identifier {d}"
        for marker in ("rtsp://", "stream_url", "reporter_", "pinfl", "full_name", "+998"):
            assert marker not in body, f"{where} shows {marker}"
        self.pages += 1

    def get(self, url: str) -> Any:
        """GET and check one URL."""
        r = self.client.get(url)
        assert r.status_code == 200, (url, r.status_code)
        if "mapbox-vector-tile" in r.headers.get("Content-Type", ""):
            layers = mapbox_vector_tile.decode(r.get_data())
            values = [str(v) for layer in layers.values() for f in layer["features"]
                      for v in list(f["properties"].values()) + list(f["properties"])]
            self.check_text(url, "\n".join(values))
        else:
            self.check_text(url, r.get_data(as_text=True))
        return r


def test_walk_everything_public(client: Any, db: Any, forbidden: Any) -> None:
    w = Walker(client, forbidden)
    for url in ["/ogc/", "/ogc/?f=json", "/ogc/?f=html", "/ogc/conformance",
                "/ogc/openapi?f=json", "/ogc/openapi?f=html", "/ogc/collections?f=json",
                "/ogc/collections?f=html", "/ogc/TileMatrixSets?f=json"]:
        w.get(url)
    internal = {c for c in forbidden[0]}  # noqa: F841  (kept for readability of failures)
    for coll in COLLECTIONS:
        base = f"/ogc/collections/{coll}"
        for suffix in ["?f=json", "?f=html", "/queryables?f=json", "/queryables?f=html",
                       "/schema?f=json"]:
            w.get(base + suffix)
        # every feature, following the next links
        url: str | None = f"{base}/items?f=json&limit=2000"
        ids = []
        while url:
            page = w.get(url).get_json()
            ids += [f["id"] for f in page["features"]]
            nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
            url = "/" + nxt[0].split("/", 3)[3] if nxt else None
        assert ids, coll
        w.get(f"{base}/items?f=html&limit=50")
        w.get(f"{base}/items/{ids[0]}?f=json")
        w.get(f"{base}/items/{ids[-1]}?f=html")
        if coll == "incidents":
            cats = {f["properties"]["category"] for f in
                    client.get(f"{base}/items?limit=10000").get_json()["features"]}
            hidden = set(db.execute(text(
                "SELECT code FROM incident_category WHERE NOT public")).scalars())
            assert cats and not cats & hidden
            internal_ids = db.execute(text(
                "SELECT id FROM incident WHERE visibility <> 'public'")).scalars().all()
            for iid in internal_ids[:5]:
                assert client.get(f"{base}/items/{iid}").status_code == 404
    tms = morecantile.tms.get("WebMercatorQuad")
    lon, lat = db.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_Centroid(ST_Collect(geom)), 4326)"
        " AS p FROM parcel) s")).one()
    for coll in TILED:
        w.get(f"/ogc/collections/{coll}/tiles?f=json")
        w.get(f"/ogc/collections/{coll}/tiles?f=html")
        w.get(f"/ogc/collections/{coll}/tiles/WebMercatorQuad/metadata?f=tilejson")
        centre = tms.tile(lon, lat, 14)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                w.get(f"/ogc/collections/{coll}/tiles/WebMercatorQuad/14/{centre.y + dy}/"
                      f"{centre.x + dx}?f=mvt")
    assert w.pages > 80
