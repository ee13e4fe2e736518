"""Warm the tile cache (``cadastre-gis tiles seed``) and write PMTiles (``tiles export``)."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import morecantile
from sqlalchemy import text

from cadastre_gis.errors import InvalidInput, NotFound
from cadastre_gis.settings import Settings

from .collections import COLLECTIONS
from .sql import engine
from .tile_cache import CACHED
from .tiles import TileRequest, cache_of, gzipped_tile, tile_properties

PUBLIC_LAYERS = ("districts", "streets", "parcels", "buildings", "incidents")
TMS = morecantile.tms.get("WebMercatorQuad")


def zoom_range(spec: str) -> range:
    """``"12-16"`` or ``"14"`` as a range of zoom levels."""
    try:
        a, _, b = spec.partition("-")
        lo, hi = int(a), int(b or a)
    except ValueError:
        raise InvalidInput(f"zoom must look like 12-16, not {spec!r}") from None
    if not 0 <= lo <= hi <= 22:
        raise InvalidInput("zoom levels must be 0..22, lowest first")
    return range(lo, hi + 1)


def bounds(settings: Settings, district: str | None = None) -> tuple[float, float, float, float]:
    """Lon/lat bounds of the city (all districts) or of one district (by code or name)."""
    where, params = ("", {}) if district is None else (
        "WHERE code = :d OR name = :d", {"d": district})
    with engine(settings.url()).connect() as c:
        row = c.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT"
            f" ST_Transform(ST_SetSRID(ST_Extent(geom), 32642), 4326) AS e FROM district {where})"
            " s"), params).one()
    if row[0] is None:
        raise NotFound(f"no district {district!r}" if district else "no districts loaded")
    return row[0], row[1], row[2], row[3]


def tiles_of(box: tuple[float, float, float, float], zooms: range,
             layers: tuple[str, ...]) -> Iterator[tuple[int, int, int]]:
    """XYZ tiles covering ``box`` at ``zooms`` where at least one of ``layers`` is drawn."""
    for z in zooms:
        if not any(COLLECTIONS[c].min_zoom <= z <= COLLECTIONS[c].max_zoom for c in layers):
            continue
        for t in TMS.tiles(*box, zooms=[z]):
            yield t.z, t.x, t.y


def seed(settings: Settings, zooms: range, district: str | None = None, workers: int = 4,
         progress: Callable[[Any], Any] | None = None) -> dict[str, int]:
    """Render every not yet cached tile of the cached layers; counts of hits and renders."""
    cache = cache_of(settings)
    if cache is None:
        raise InvalidInput("the tile cache is off (CADASTRE_TILE_CACHE_MB=0)")
    if not cache.wait_ready(30):
        raise InvalidInput("the tile cache cannot listen for changes on the primary database")
    box = bounds(settings, district)
    jobs = [TileRequest(COLLECTIONS[c], z, x, y)
            for z, x, y in tiles_of(box, zooms, CACHED) for c in CACHED
            if COLLECTIONS[c].min_zoom <= z <= COLLECTIONS[c].max_zoom]
    counts = {"tiles": len(jobs), "cached": 0, "rendered": 0}
    bar = progress(total=len(jobs)) if progress else None
    with ThreadPoolExecutor(workers) as ex:
        for _gz, hit in ex.map(lambda t: gzipped_tile(settings, t), jobs):
            counts["cached" if hit else "rendered"] += 1
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return counts


def export_pmtiles(settings: Settings, path: Path, zooms: range, district: str | None = None,
                   workers: int = 4,
                   progress: Callable[[Any], Any] | None = None) -> dict[str, int]:
    """Write the public layers (one MVT layer each) as one PMTiles v3 archive."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    box = bounds(settings, district)
    addresses = sorted(tiles_of(box, zooms, PUBLIC_LAYERS), key=lambda t: zxy_to_tileid(*t))
    bar = progress(total=len(addresses)) if progress else None

    def one(t: tuple[int, int, int]) -> bytes:
        z, x, y = t
        parts = []
        for cid in PUBLIC_LAYERS:
            c = COLLECTIONS[cid]
            if c.min_zoom <= z <= c.max_zoom:
                parts.append(gzip.decompress(gzipped_tile(settings, TileRequest(c, z, x, y))[0]))
        if bar is not None:
            bar.update(1)
        # a vector tile is a list of layers: concatenated tiles are one tile with all layers
        return b"".join(parts)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    tmp = path.with_name(path.name + ".part")
    with ThreadPoolExecutor(workers) as ex, open(tmp, "wb") as fh:
        writer = Writer(fh)
        for t, mvt in zip(addresses, ex.map(one, addresses), strict=True):
            if mvt:
                writer.write_tile(zxy_to_tileid(*t), gzip.compress(mvt, mtime=0))
                written += 1
        if not written:
            raise NotFound("nothing to export in these bounds and zoom levels")
        lon0, lat0, lon1, lat1 = box
        writer.finalize({
            "tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
            "min_lon_e7": int(lon0 * 1e7), "min_lat_e7": int(lat0 * 1e7),
            "max_lon_e7": int(lon1 * 1e7), "max_lat_e7": int(lat1 * 1e7),
            "center_zoom": zooms.start, "center_lon_e7": int((lon0 + lon1) / 2 * 1e7),
            "center_lat_e7": int((lat0 + lat1) / 2 * 1e7),
        }, {
            "name": "Tashkent cadastre (public layers)",
            "attribution": "Tashkent city cadastre",
            "vector_layers": [{"id": cid, "fields": {k: v["type"] for k, v in
                                                     tile_properties(COLLECTIONS[cid]).items()},
                               "minzoom": max(COLLECTIONS[cid].min_zoom, zooms.start),
                               "maxzoom": min(COLLECTIONS[cid].max_zoom, zooms.stop - 1)}
                              for cid in PUBLIC_LAYERS],
        })
    tmp.replace(path)
    if bar is not None:
        bar.close()
    return {"tiles": written, "addresses": len(addresses)}
