"""Public addresses: every absolute URL the platform writes is built here.

``CADASTRE_BASE_URL`` wins when set; otherwise the address follows the request (after
werkzeug's ProxyFix has applied the ``X-Forwarded-*`` headers of trusted proxies only).
"""

from __future__ import annotations

from flask import current_app, has_request_context, request


def base_url() -> str:
    """The platform's public root URL without a trailing slash, e.g. ``https://host/prefix``."""
    settings = current_app.extensions["cadastre_settings"]
    explicit = getattr(settings, "base_url", None)
    if explicit:
        return str(explicit).rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/") + (request.script_root or "")
    return f"http://{settings.host}:{settings.port}"


def absolute(path: str) -> str:
    """Absolute public URL of a site path such as ``/extracts/X``."""
    return base_url() + (path if path.startswith("/") else "/" + path)


def ogc_url() -> str:
    """Public URL of the OGC API landing page (no trailing slash)."""
    return base_url() + "/ogc"
