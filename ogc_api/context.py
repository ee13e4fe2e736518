"""Per-request values that pygeoapi does not pass to providers (set by ``web/ogc.py``).

pygeoapi hands a provider only the standard query parameters; keyset paging needs the
``cursor`` parameter and the request's URL to write a ``next`` link, and the web layer needs
the item's ETag back from the provider.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class OgcRequest:
    """What the web layer knows about the current OGC API request."""

    url: str = ""
    """Absolute URL of the request without its query string."""
    args: list[tuple[str, str]] = field(default_factory=list)
    """Query parameters in order."""
    etag: str | None = None
    """Set by the provider when it serves one item."""
    drop_next: bool = False
    """Set by the provider on a full last keyset page: there is no next page."""
    raw_ok: bool = False
    """The response is plain GeoJSON: the provider may hand over the features as JSON text."""
    raw_features: str | None = None
    """Features array as JSON text from PostGIS, spliced into pygeoapi's response."""

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        for k, v in self.args:
            if k == name:
                return v
        return None


_current: ContextVar[OgcRequest | None] = ContextVar("ogc_request", default=None)


def begin(url: str, args: list[tuple[str, str]]) -> OgcRequest:
    """Start a request: remember its URL and parameters."""
    req = OgcRequest(url=url, args=args)
    _current.set(req)
    return req


def current() -> OgcRequest:
    """The current request (an empty one outside the web layer)."""
    req = _current.get()
    if req is None:
        req = OgcRequest()
        _current.set(req)
    return req
