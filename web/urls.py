"""Public addresses: every absolute URL the platform writes is built here.

``CADASTRE_BASE_URL`` wins when set. Otherwise the address follows the request: its scheme,
Host and prefix after ``web.proxy`` has applied the ``X-Forwarded-*`` headers of trusted
proxies only and replaced a direct client's Host that is not allowed by the address the
client actually connected to (see ``web/proxy.py``). Outside a request (CLI, e-mails sent by
a job) it is the address the latest request of this process came through (preferring one
through a trusted proxy), else ``http://CADASTRE_HOST:CADASTRE_PORT``: set
``CADASTRE_BASE_URL`` in production so e-mails never depend on it.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request


def base_url() -> str:
    """The platform's public root URL without a trailing slash, e.g. ``https://host/prefix``."""
    settings = current_app.extensions["cadastre_settings"]
    if settings.base_url:
        return str(settings.base_url).rstrip("/")
    if has_request_context():
        return request.url_root.rstrip("/")
    seen = current_app.extensions.get("cadastre_seen_base")
    if seen:
        return seen
    return f"http://{settings.host}:{settings.port}"


def remember_request_base() -> None:
    """Note the current request's public root for work done outside requests (e-mails)."""
    ext = current_app.extensions
    via_proxy = bool(request.environ.get("cadastre.via_proxy"))
    if via_proxy or not ext.get("cadastre_seen_via_proxy"):
        ext["cadastre_seen_base"] = request.url_root.rstrip("/")
        ext["cadastre_seen_via_proxy"] = via_proxy


def absolute(path: str) -> str:
    """Absolute public URL of a site path such as ``/extracts/X``."""
    return base_url() + (path if path.startswith("/") else "/" + path)


def ogc_url() -> str:
    """Public URL of the OGC API landing page (no trailing slash)."""
    return base_url() + "/ogc"


def via_trusted_proxy() -> bool:
    """True when the current request came through a trusted reverse proxy."""
    return bool(has_request_context() and request.environ.get("cadastre.via_proxy"))


def is_secure() -> bool:
    """True when the public address is https (for ``Secure`` cookies and HSTS)."""
    return base_url().startswith("https://")
