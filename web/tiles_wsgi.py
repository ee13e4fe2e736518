"""The cached-tile fast lane: a WSGI layer that answers tile cache hits before Flask.

A cached tile is public, already gzip-compressed bytes on disk; answering it needs no session,
no identity, no template and no database. Doing it in front of the Flask request cycle (as a
reverse proxy's cache would) makes a hit cost a path match and a file read. Everything else —
misses, any other query parameter, errors, non-GET methods — goes to the Flask tile view,
which renders, stores and answers with the same headers.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from cadastre_gis.settings import Settings

TILE_PATH = re.compile(
    r"^/ogc/collections/(?P<layer>[a-z]+)/tiles/WebMercatorQuad/"
    r"(?P<z>\d{1,2})/(?P<y>\d{1,7})/(?P<x>\d{1,7})$")
QUERY = ("", "f=mvt")


def tile_headers(coll_cache_seconds: int, gz: bytes, gzip_ok: bool,
                 hit: bool) -> list[tuple[str, str]]:
    """Headers shared by the fast lane and the Flask view (ETag names the encoding sent)."""
    tag = hashlib.blake2b(gz, digest_size=12).hexdigest()
    out = [("Content-Type", "application/vnd.mapbox-vector-tile"),
           ("Vary", "Accept-Encoding"),
           ("ETag", f'"{tag}-gz"' if gzip_ok else f'"{tag}"'),
           ("Cache-Control", f"public, max-age={coll_cache_seconds}"),
           ("X-Tile-Cache", "hit" if hit else "miss")]
    if gzip_ok:
        out.append(("Content-Encoding", "gzip"))
    return out


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (q > 0)."""
    from werkzeug.datastructures import Accept
    from werkzeug.http import parse_accept_header

    return parse_accept_header(header or "", Accept)["gzip"] > 0


class TileFastLane:
    """WSGI middleware serving tile cache hits; everything else passes to ``app``."""

    def __init__(self, app: Callable[..., Any], settings: Callable[[], Settings]) -> None:
        """Wrap ``app`` (the Flask WSGI callable); ``settings()`` gives the app's settings."""
        from ogc_api.collections import COLLECTIONS
        from ogc_api.tile_cache import CACHED

        self.app = app
        self.settings = settings
        self.layers = {c: COLLECTIONS[c] for c in CACHED}

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer a cache hit, or call the app."""
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("QUERY_STRING", "") in QUERY:
            m = TILE_PATH.match(environ.get("PATH_INFO", ""))
            if m and m["layer"] in self.layers:
                body = self._hit(m["layer"], int(m["z"]), int(m["x"]), int(m["y"]), environ,
                                 start_response)
                if body is not None:
                    return body
        return self.app(environ, start_response)

    def _hit(self, layer: str, z: int, x: int, y: int, environ: dict[str, Any],
             start_response: Callable[..., Any]) -> list[bytes] | None:
        from ogc_api.tiles import cache_of

        coll = self.layers[layer]
        if not (coll.min_zoom <= z <= coll.max_zoom and x < 2 ** z and y < 2 ** z):
            return None
        cache = cache_of(self.settings())
        gz = cache.get(layer, z, x, y) if cache is not None else None
        if gz is None:
            return None
        gzip_ok = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        headers = tile_headers(coll.cache_seconds, gz, gzip_ok, True) + _security_headers(
            environ)
        etag = next(v for k, v in headers if k == "ETag")
        sent = [t.strip() for t in environ.get("HTTP_IF_NONE_MATCH", "").split(",")]
        if etag in sent:
            start_response("304 NOT MODIFIED",
                           [h for h in headers if h[0] not in ("Content-Encoding",
                                                               "Content-Type")])
            return []
        body = gz if gzip_ok else gzip.decompress(gz)
        start_response("200 OK", headers + [("Content-Length", str(len(body)))])
        return [body]


def _security_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The headers :func:`web.security.security_headers` puts on every response."""
    try:
        from .security import CSP, HSTS
    except ImportError:  # pragma: no cover - older security module
        return [("X-Content-Type-Options", "nosniff")]
    out = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
           ("X-Frame-Options", "DENY"), ("Referrer-Policy", "strict-origin-when-cross-origin"),
           ("Cross-Origin-Opener-Policy", "same-origin"),
           ("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)")]
    if environ.get("wsgi.url_scheme") == "https":
        out.append(("Strict-Transport-Security", HSTS))
    return out
