"""Vector tiles: MVT from PostGIS at the contract URL, properties, caps, zooms, caching."""

from __future__ import annotations

from typing import Any

import mapbox_vector_tile
import morecantile
import pytest
from sqlalchemy import text

TMS = morecantile.tms.get("WebMercatorQuad")
CONTRACT = {
    "parcels": {"id", "cadastral_number", "land_category", "permitted_use", "area_m2",
                "district_id"},
    "buildings": {"id", "cadastral_number", "parcel_id", "floors", "building_use"},
    "districts": {"id", "code", "name"},
    "incidents": {"id", "category", "status", "priority", "overdue"},
}


def tile_url(coll: str, t: morecantile.Tile) -> str:
    """The contract URL of a tile: z/y/x."""
    return f"/ogc/collections/{coll}/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}?f=mvt"


def first_parcel_tile(db: Any, z: int) -> tuple[morecantile.Tile, int]:
    """Tile at zoom z containing the first parcel, and its parcel id."""
    pid, lon, lat = db.execute(text(
        "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_Transform(ST_PointOnSurface(geom),"
        " 4326) AS p FROM parcel WHERE status = 'active' ORDER BY id LIMIT 1) s")).one()
    return TMS.tile(lon, lat, z), pid


@pytest.mark.parametrize("coll", sorted(CONTRACT))
def test_tile_layer_and_properties(client: Any, db: Any, coll: str) -> None:
    tile, _ = first_parcel_tile(db, 14)
    r = client.get(tile_url(coll, tile))
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/vnd.mapbox-vector-tile")
    layers = mapbox_vector_tile.decode(r.get_data())
    if coll == "incidents" and not layers:
        pytest.skip("no incident in this tile")
    assert list(layers) == [coll]
    feats = layers[coll]["features"]
    assert feats
    for f in feats:
        assert set(f["properties"]) <= CONTRACT[coll]
        assert "id" in f["properties"]
    assert any(set(f["properties"]) == CONTRACT[coll] for f in feats)


def test_parcel_tile_has_the_parcel_and_numbers(client: Any, db: Any) -> None:
    tile, pid = first_parcel_tile(db, 16)
    layers = mapbox_vector_tile.decode(client.get(tile_url("parcels", tile)).get_data())
    feats = {f["properties"]["id"]: f["properties"] for f in layers["parcels"]["features"]}
    assert pid in feats
    area = db.execute(text("SELECT area_m2 FROM parcel WHERE id = :i"), {"i": pid}).scalar()
    assert isinstance(feats[pid]["area_m2"], float) and feats[pid]["area_m2"] == float(area)
    # every active parcel intersecting the tile is in it (no cap reached here)
    b = TMS.xy_bounds(tile)
    n = db.execute(text(
        "SELECT count(*) FROM parcel WHERE status = 'active' AND ST_Intersects(geom,"
        " ST_Transform(ST_MakeEnvelope(:a, :b, :c, :d, 3857), 32642))"),
        {"a": b.left, "b": b.bottom, "c": b.right, "d": b.top}).scalar()
    assert len(feats) >= n > 0


def test_etag_and_cache_control(client: Any, db: Any) -> None:
    tile, _ = first_parcel_tile(db, 15)
    r = client.get(tile_url("parcels", tile))
    etag = r.headers["ETag"]
    assert etag.startswith('"') and "max-age" in r.headers["Cache-Control"]
    r2 = client.get(tile_url("parcels", tile), headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.get_data() == b""


def test_empty_tile_and_zoom_limits(client: Any) -> None:
    r = client.get(tile_url("parcels", morecantile.Tile(0, 0, 14)))
    assert r.status_code == 200 and mapbox_vector_tile.decode(r.get_data()) == {}
    assert client.get(tile_url("parcels", morecantile.Tile(0, 0, 5))).status_code == 404
    assert client.get(tile_url("districts", morecantile.Tile(0, 0, 0))).status_code == 200


def test_tile_cap(app: Any, client: Any, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from ogc_api import collections

    tile, _ = first_parcel_tile(db, 14)
    monkeypatch.setitem(app.extensions, "cadastre_settings",
                        replace(app.extensions["cadastre_settings"], tile_cache_mb=0))
    monkeypatch.setitem(collections.COLLECTIONS, "parcels",
                        replace(collections.COLLECTIONS["parcels"], tile_cap=7))
    layers = mapbox_vector_tile.decode(client.get(tile_url("parcels", tile)).get_data())
    assert len(layers["parcels"]["features"]) == 7


@pytest.mark.parametrize("coll", sorted(CONTRACT))
def test_tilejson_for_maplibre(client: Any, coll: str) -> None:
    r = client.get(f"/ogc/collections/{coll}/tiles/WebMercatorQuad/metadata?f=tilejson")
    assert r.status_code == 200
    tj = r.get_json()
    assert tj["tiles"][0].endswith(
        f"/ogc/collections/{coll}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt")
    assert tj["vector_layers"][0]["id"] == coll
    assert set(tj["vector_layers"][0]["fields"]) == CONTRACT[coll]
    assert 0 <= tj["minzoom"] <= tj["maxzoom"]
    meta = client.get(f"/ogc/collections/{coll}/tiles/WebMercatorQuad/metadata?f=json")
    assert meta.status_code == 200 and meta.get_json()["links"]
    lst = client.get(f"/ogc/collections/{coll}/tiles?f=json")
    assert lst.status_code == 200 and lst.get_json()["tilesets"]


def test_tile_without_f_is_mvt_and_errors_are_json(client: Any, db: Any) -> None:
    tile, _ = first_parcel_tile(db, 15)
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"
    r = client.get(url)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/vnd.mapbox-vector-tile")
    assert mapbox_vector_tile.decode(r.get_data())["parcels"]["features"]
    for bad, status in ((url + "?f=json", 400), (url.replace("/15/", "/5/"), 404),
                        (url.replace("WebMercatorQuad", "WorldCRS84Quad"), 404),
                        (url.replace(f"/{tile.x}", "/abc"), 400),
                        ("/ogc/collections/nope/tiles/WebMercatorQuad/1/0/0", 404)):
        e = client.get(bad)
        assert e.status_code == status, bad
        assert e.headers["Content-Type"].startswith("application/json"), bad
        assert e.get_json()["description"]


def test_gzip_only_when_accepted(client: Any, db: Any) -> None:
    import gzip

    tile, _ = first_parcel_tile(db, 16)
    plain = client.get(tile_url("parcels", tile))
    assert "Content-Encoding" not in plain.headers
    gz = client.get(tile_url("parcels", tile), headers={"Accept-Encoding": "gzip, br"})
    assert gz.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in gz.headers["Vary"]
    assert gzip.decompress(gz.get_data()) == plain.get_data()  # compressed exactly once
    assert gz.headers["ETag"] != plain.headers["ETag"]
    # a cache hit is answered before Flask (web/tiles_wsgi.py) with the same headers
    hit = client.get(tile_url("parcels", tile), headers={"Accept-Encoding": "gzip"})
    assert hit.headers["X-Tile-Cache"] == "hit" and hit.get_data() == gz.get_data()
    for h in ("ETag", "Content-Encoding", "Content-Type", "Cache-Control", "Vary"):
        assert hit.headers[h] == gz.headers[h], h
    assert hit.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(tile_url("parcels", tile), headers={
        "If-None-Match": hit.headers["ETag"], "Accept-Encoding": "gzip"}).status_code == 304


def _wait_for(predicate: Any, seconds: float = 15) -> Any:
    """Poll until predicate() is truthy (the listener applies invalidations asynchronously)."""
    import time

    end = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.05)


def test_sql_edit_invalidates_exactly_the_touched_tiles(app: Any, client: Any, db: Any,
                                                        database_url: str) -> None:
    import psycopg2

    from ogc_api import tiles

    cache = tiles.cache_of(app.extensions["cadastre_settings"])
    assert cache is not None and cache.wait_ready()
    tile, pid = first_parcel_tile(db, 16)
    # a tile far away (another district's parcel) must stay cached
    lon, lat = db.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) p"
        " FROM parcel WHERE status = 'active' ORDER BY id DESC LIMIT 1) s")).one()
    far = TMS.tile(lon, lat, 16)
    assert far != tile

    def geometry_of(t: morecantile.Tile) -> Any:
        layers = mapbox_vector_tile.decode(client.get(tile_url("parcels", t)).get_data())
        return next((f["geometry"] for f in layers["parcels"]["features"]
                     if f["properties"]["id"] == pid), None)

    before = geometry_of(tile)
    assert before is not None
    client.get(tile_url("parcels", far))
    assert client.get(tile_url("parcels", tile)).headers["X-Tile-Cache"] == "hit"
    assert client.get(tile_url("parcels", far)).headers["X-Tile-Cache"] == "hit"

    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:  # the way psql or QGIS would: plain SQL, committed
            cur.execute("SELECT ST_AsEWKB(geom) FROM parcel WHERE id = %s", (pid,))
            original = cur.fetchone()[0]
            cur.execute("UPDATE parcel SET geom = ST_Multi(ST_Buffer(geom, -4)) WHERE id = %s",
                        (pid,))
        try:
            after = _wait_for(lambda: (g := geometry_of(tile)) != before and g)
            assert after and after != before, "the edited parcel is still drawn as before"
            assert client.get(tile_url("parcels", far)).headers["X-Tile-Cache"] == "hit"
            assert client.get(tile_url("parcels", tile)).headers["X-Tile-Cache"] == "hit"
        finally:
            with conn, conn.cursor() as cur:
                cur.execute("UPDATE parcel SET geom = ST_GeomFromEWKB(%s) WHERE id = %s",
                            (original, pid))
    finally:
        conn.close()
    # the restore is an edit too
    assert _wait_for(lambda: geometry_of(tile) != after)


def test_bulk_statement_notifies_a_bounded_payload(database_url: str) -> None:
    import json

    import psycopg2

    conn = psycopg2.connect(database_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("LISTEN tile_change")
            cur.execute("BEGIN")
            cur.execute("UPDATE parcel SET address = address WHERE status = 'active'")
            n = cur.rowcount
            cur.execute("ROLLBACK")
            assert not conn.notifies  # rolled back: nothing announced
            cur.execute("UPDATE building SET floors = floors WHERE id IN"
                        " (SELECT id FROM building ORDER BY id LIMIT 300)")
        conn.poll()
        msgs = [json.loads(x.payload) for x in conn.notifies]
    finally:
        conn.close()
    assert n > 64
    assert [m["layer"] for m in msgs] == ["buildings"]
    assert 1 <= len(msgs[0]["boxes"]) <= 64 and len(msgs[0]["boxes"][0]) == 4


def test_cli_seed_then_export_pmtiles(app: Any, client: Any, db: Any, settings: Any,
                                      tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from click.testing import CliRunner
    from pmtiles.reader import MmapSource, Reader
    from pmtiles.tile import TileType

    from web.cli import tiles

    monkeypatch.setenv("CADASTRE_DATABASE_URL", settings.url())
    monkeypatch.setenv("CADASTRE_DATA_DIR", str(settings.data_path))
    tile, _ = first_parcel_tile(db, 13)
    code = db.execute(text(
        "SELECT d.code FROM district d JOIN parcel p ON ST_Intersects(d.geom, p.geom)"
        " WHERE p.status = 'active' ORDER BY p.id LIMIT 1")).scalar()
    r = CliRunner().invoke(tiles, ["seed", "--zoom", "12-13", "--district", code])
    assert r.exit_code == 0, r.output
    assert "rendered" in r.output
    # the seeded tile is served from the cache
    assert client.get(tile_url("parcels", tile)).headers["X-Tile-Cache"] == "hit"

    out = tmp_path / "public.pmtiles"
    r = CliRunner().invoke(tiles, ["export", str(out), "--zoom", "12-14", "--district", code])
    assert r.exit_code == 0, r.output
    with open(out, "rb") as fh:
        reader = Reader(MmapSource(fh))
        header = reader.header()
        assert header["tile_type"] == TileType.MVT
        assert (header["min_zoom"], header["max_zoom"]) == (12, 14)
        meta = reader.metadata()
        assert {v["id"] for v in meta["vector_layers"]} == {"parcels", "buildings", "districts",
                                                            "incidents", "streets"}
        data = reader.get(tile.z, tile.x, tile.y)
    assert data
    layers = mapbox_vector_tile.decode(gzip.decompress(data))
    assert {"parcels", "districts"} <= set(layers)
    assert not any("owner" in k or "pinfl" in k for f in layers["parcels"]["features"]
                   for k in f["properties"])
    _gdal_reads(out)


def _gdal_reads(path: Any) -> None:
    """GDAL >= 3.8 has a PMTiles driver: it must list our layers (older GDAL: Python only)."""
    import shutil
    import subprocess

    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None or "PMTiles" not in subprocess.run(
            [ogrinfo, "--formats"], capture_output=True, text=True).stdout:
        return
    out = subprocess.run([ogrinfo, "-ro", "-so", "-q", str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert "parcels" in out and "buildings" in out


def test_a_render_overlapping_an_invalidation_is_not_stored(tmp_path: Any,
                                                            database_url: str) -> None:
    from ogc_api.tile_cache import TileCache, tile_bounds

    cache = TileCache(tmp_path, database_url)
    assert cache.wait_ready()
    z, x, y = 16, 44_000, 24_000
    since = cache.begin()  # a render starts, reading the old rows ...
    b = tile_bounds(z, x, y)  # ... an edit inside that tile is announced meanwhile
    cache.invalidate("parcels", [[b[0] + 1, b[1] + 1, b[0] + 2, b[1] + 2]])
    assert not cache.store("parcels", z, x, y, b"stale", since)
    assert cache.get("parcels", z, x, y) is None
    # a neighbour within the 64/4096 tile buffer is touched too; a tile farther away is not
    assert not cache.store("parcels", z, x - 1, y, b"stale", since)
    assert cache.store("parcels", z, x + 5, y, b"fresh", since)
    assert cache.get("parcels", z, x + 5, y) == b"fresh"
    assert cache.store("parcels", z, x, y, b"fresh", cache.begin())
    assert cache.invalidate("parcels", None) == -1 and cache.get("parcels", z, x, y) is None
