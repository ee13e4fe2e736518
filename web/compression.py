"""Response compression (Flask-Compress): brotli or gzip, chosen by ``Accept-Encoding``.

JSON, GeoJSON, HTML, JavaScript, CSS, SVG and MVT tiles are compressed; server-sent events
are not (a stream must reach the browser event by event). A response that already carries a
``Content-Encoding`` (a tile stored compressed in the cache) is sent as it is.

Flask-Compress appends the coding to a strong ETag (``"parcels-12-v3"`` becomes
``"parcels-12-v3:gzip"``) so that caches keep the encodings apart, as RFC 9110 asks. The
version stays readable: ``identity_etags`` strips the suffix from ``If-Match`` /
``If-None-Match`` values, so an ETag received with any encoding is a valid precondition.
"""

from __future__ import annotations

import re

from flask import Flask
from flask_compress import Compress

MIMETYPES = [
    "application/json", "application/geo+json", "application/schema+json",
    "application/problem+json", "application/vnd.oai.openapi+json", "application/ld+json",
    "application/xml", "text/xml", "text/html", "text/css", "text/plain", "text/csv",
    "text/javascript", "application/javascript", "image/svg+xml",
    "application/vnd.mapbox-vector-tile", "application/x-protobuf",
]
ALGORITHMS = ["br", "gzip"]

_SUFFIX = re.compile(r':(?:br|gzip|zstd|deflate)"')


def identity_etags(header: str | None) -> str | None:
    """An ``If-Match``/``If-None-Match`` value with the content-coding suffixes removed."""
    if header is None:
        return None
    return _SUFFIX.sub('"', header)


def init_app(app: Flask) -> None:
    """Compress responses of ``app`` (register before other after_request handlers)."""
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ALGORITHMS)
    # Static files are sent as streams (send_file); compress them too, gzip included.
    app.config.setdefault("COMPRESS_STREAMS", True)
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ALGORITHMS)
    app.config.setdefault("COMPRESS_LEVEL", 5)
    app.config.setdefault("COMPRESS_BR_LEVEL", 4)
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    Compress(app)
