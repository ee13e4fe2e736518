"""Mapbox vector tiles built by PostGIS (ST_TileEnvelope / ST_AsMVTGeom / ST_AsMVT).

Integer SRIDs only: ``ST_Transform(geom, 3857)`` reuses one PROJ pipeline; pygeoapi's stock
MVT provider passes a text SRID and spends ~11 ms per row setting PROJ up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import ProviderInvalidQueryError, ProviderQueryError
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError
from pygeoapi.util import url_join
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from cadastre_gis.errors import CadastreError, InvalidInput, NotFound

from .collections import COLLECTIONS, TILED, Collection
from .sql import engine

if TYPE_CHECKING:
    from cadastre_gis.settings import Settings

    from .tile_cache import TileCache

LOGGER = logging.getLogger(__name__)

EXTENT = 4096
BUFFER = 64
WEB_MERCATOR_QUAD = "WebMercatorQuad"
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


def tile_sql(coll: Collection) -> str:
    """The tile query of a collection (parameters z, x, y, cap)."""
    props = []
    for name in coll.tile_fields:
        f = coll.field(name)
        if f is not None:
            # numeric would be written as a string value; MVT wants a double
            props.append(f"{f.sql}{'::float8' if f.type == 'number' else ''} AS {name}")
    props += [f"{expr} AS {name}" for name, expr in coll.tile_extra]
    cols = ", ".join(props)
    return f"""
WITH b AS (
  SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
         ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s,
                                      margin => {BUFFER / EXTENT}), 32642) AS q
), m AS (
  SELECT ST_AsMVTGeom(ST_Transform(t.geom, 3857), b.env, {EXTENT}, {BUFFER}, true) AS geom,
         {cols}
    FROM {coll.table} t, b
   WHERE t.geom && b.q AND {coll.where}
   LIMIT %(cap)s
)
SELECT ST_AsMVT(m, %(layer)s, {EXTENT}, 'geom') FROM m WHERE m.geom IS NOT NULL"""


def tile_properties(c: Collection) -> dict[str, dict[str, str]]:
    """JSON-schema types of the properties written into the tiles of ``c``."""
    out = {}
    for name in c.tile_fields:
        f = c.field(name)
        if f is not None:
            out[name] = {"type": f.type}
    for name, _expr in c.tile_extra:
        out[name] = {"type": "string"}
    return out


def render(eng: Engine, coll: Collection, z: int, x: int, y: int) -> bytes:
    """One MVT tile of ``coll`` (XYZ indices), b"" when empty."""
    params = {"z": z, "x": x, "y": y, "cap": coll.tile_cap, "layer": coll.id}
    with eng.connect() as conn:
        value = conn.exec_driver_sql(tile_sql(coll), params).scalar()
    return bytes(value) if value is not None else b""


class TileQueryFailed(CadastreError):
    """The tile could not be drawn."""

    code = "NoApplicableCode"
    status = 500


@dataclass(frozen=True)
class TileRequest:
    """A checked tile address: collection and XYZ indices."""

    coll: Collection
    z: int
    x: int
    y: int


def parse(collection_id: str, tms: str, z: str, y: str, x: str,
          fmt: str | None = None) -> TileRequest:
    """Check a tile URL (OGC order z/y/x); raise NotFound / InvalidInput with a short message.

    No ``f`` means the default (and only) encoding, MVT.
    """
    coll = COLLECTIONS.get(collection_id)
    if coll is None or collection_id not in TILED:
        raise NotFound(f"no tiles for collection {collection_id!r}")
    if tms != WEB_MERCATOR_QUAD:
        raise NotFound("only WebMercatorQuad tiles are served")
    if fmt not in (None, "", "mvt"):
        raise InvalidInput("tiles are served as f=mvt (Mapbox Vector Tiles) only")
    try:
        zi, yi, xi = int(z), int(y), int(x)
    except ValueError:
        raise InvalidInput("tile indices must be integers") from None
    if not coll.min_zoom <= zi <= coll.max_zoom:
        raise NotFound(f"zoom {zi} outside {coll.min_zoom}..{coll.max_zoom} for {coll.id}")
    if not (0 <= xi < 2 ** zi and 0 <= yi < 2 ** zi):
        raise NotFound("tile outside the tile matrix")
    return TileRequest(coll, zi, xi, yi)


@lru_cache(maxsize=16)
def primary_url(settings: Settings) -> str:
    """The primary's URL (resolved once: the embedded cluster's is read from files)."""
    return settings.url()


@lru_cache(maxsize=16)
def cache_of(settings: Settings) -> TileCache | None:
    """The process's tile cache for these settings (None when turned off)."""
    if settings.tile_cache_mb <= 0:
        return None
    from .tile_cache import cache_for

    return cache_for(settings.data_path, primary_url(settings), settings.tile_cache_mb * 2 ** 20)


def render_engine(settings: Settings, cache: TileCache | None) -> Engine:
    """Where tiles are drawn: the primary.

    Hook for replica routing: a replica may draw a tile only once it replayed past
    ``cache.lsn`` (the primary's WAL position after the last invalidation), otherwise a tile
    re-rendered right after an edit could cache the old geometry.
    """
    return engine(primary_url(settings))


def gzipped_tile(settings: Settings, t: TileRequest) -> tuple[bytes, bool]:
    """Gzip bytes of a tile, from the cache or drawn now (and stored); ``(bytes, hit)``."""
    from .tile_cache import compress

    cache = cache_of(settings)
    c = t.coll
    if cache is not None:
        hit = cache.get(c.id, t.z, t.x, t.y)
        if hit is not None:
            return hit, True
    since = cache.begin() if cache is not None else 0
    try:
        mvt = render(render_engine(settings, cache), c, t.z, t.x, t.y)
    except DBAPIError as exc:
        LOGGER.error("tile query failed: %s", exc.orig)
        raise TileQueryFailed() from None
    gz = compress(mvt)
    if cache is not None:
        cache.store(c.id, t.z, t.x, t.y, gz, since)
    return gz, False


class CadastreTileProvider(BaseMVTProvider):
    """pygeoapi MVT provider for one public collection, WebMercatorQuad only."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        """Set up from the pygeoapi provider definition (cheap: one per request)."""
        super().__init__(provider_def)
        self.collection: Collection = COLLECTIONS[provider_def["collection"]]

    def get_layer(self) -> str:
        """MVT layer name = collection id."""
        return self.collection.id

    def get_tiling_schemes(self) -> list:
        """Only WebMercatorQuad."""
        return [TileMatrixSetEnum.WEBMERCATORQUAD.value]

    def get_tiles_service(self, baseurl: str | None = None, servicepath: str | None = None,
                          dirpath: str | None = None, tile_type: str | None = None) -> dict:
        """Links of the tile service."""
        self._service_url = servicepath
        return self.get_tms_links()

    def get_tiles(self, layer: str | None = None, tileset: str | None = None,
                  z: Any = None, y: Any = None, x: Any = None,
                  format_: str | None = None) -> bytes:
        """One MVT tile (OGC order z/y/x = tileMatrix/tileRow/tileCol)."""
        if tileset != WEB_MERCATOR_QUAD:
            raise ProviderTileNotFoundError(user_msg="only WebMercatorQuad tiles are served")
        try:
            zi, yi, xi = int(str(z)), int(str(y)), int(str(x))
        except ValueError:
            raise ProviderInvalidQueryError(user_msg="tile indices must be integers") from None
        c = self.collection
        if not c.min_zoom <= zi <= c.max_zoom:
            raise ProviderTileNotFoundError(
                user_msg=f"zoom {zi} outside {c.min_zoom}..{c.max_zoom} for {c.id}")
        if not (0 <= xi < 2 ** zi and 0 <= yi < 2 ** zi):
            raise ProviderTileNotFoundError(user_msg="tile outside the tile matrix")
        try:
            return render(engine(self.data), c, zi, xi, yi)
        except DBAPIError as exc:
            LOGGER.error("tile query failed: %s", exc.orig)
            raise ProviderQueryError(user_msg="tile query failed") from None

    def get_html_metadata(self, dataset: str, server_url: str, layer: str, tileset: str,
                          title: str, description: str, keywords: Any, **kwargs: Any) -> dict:
        """Metadata for the HTML tileset page."""
        return MVTPostgreSQLProvider.get_html_metadata(
            self, dataset, server_url, layer, tileset, title, description, keywords, **kwargs)

    def get_default_metadata(self, dataset: str, server_url: str, layer: str, tileset: str,
                             title: str, description: str, keywords: Any,
                             **kwargs: Any) -> dict:
        """OGC Tile Set Metadata."""
        meta = MVTPostgreSQLProvider.get_default_metadata(
            self, dataset, server_url, layer, tileset, title, description, keywords, **kwargs)
        meta["layers"] = [{"id": self.collection.id, "dataType": "vector",
                           "geometryDimension": 0 if "Point" in self.collection.geometry_type
                           else 2,
                           "minTileMatrix": str(self.collection.min_zoom),
                           "maxTileMatrix": str(self.collection.max_zoom),
                           "propertiesSchema": {"type": "object",
                                                "properties": self._tile_properties()}}]
        return meta

    def get_vendor_metadata(self, dataset: str, server_url: str, layer: str, tileset: str,
                            title: str, description: str, keywords: Any,
                            **kwargs: Any) -> dict:
        """TileJSON 3.0 that MapLibre can use as a vector source."""
        c = self.collection
        tiles = url_join(server_url, f"collections/{dataset}/tiles/{WEB_MERCATOR_QUAD}",
                         "{z}/{y}/{x}?f=mvt")
        fields = {k: v["type"] for k, v in self._tile_properties().items()}
        return {
            "tilejson": "3.0.0", "name": c.id, "description": description,
            "scheme": "xyz", "tiles": [tiles], "minzoom": c.min_zoom, "maxzoom": c.max_zoom,
            "bounds": [69.1, 41.15, 69.5, 41.45], "center": [69.2797, 41.3111, 13],
            "vector_layers": [{"id": c.id, "fields": fields, "minzoom": c.min_zoom,
                               "maxzoom": c.max_zoom}],
        }

    def _tile_properties(self) -> dict[str, dict[str, str]]:
        return tile_properties(self.collection)

    def __repr__(self) -> str:
        return f"<CadastreTileProvider {self.collection.id}>"
