"""Trusted reverse proxies and the Host header: what a request may say about its own address.

werkzeug's ProxyFix trusts a fixed number of proxy hops from whoever connects. We apply it
only when the direct peer is one of ``CADASTRE_TRUSTED_PROXIES``; from anyone else the
``X-Forwarded-*`` headers are removed before the app sees them. A direct client's ``Host``
is kept only when it names the address the client actually connected to (the socket's local
address), ``localhost`` on a loopback connection, or one of ``CADASTRE_ALLOWED_HOSTS``;
otherwise it is replaced by that local address. So a forged Host or forwarded header never
reaches a link, a QR code or a redirect, and links still work for the client that asked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from cadastre_gis.settings import Settings

_FORWARDED = ("HTTP_FORWARDED",)


class TrustedProxies:
    """WSGI middleware: ProxyFix for trusted peers, a checked Host for everyone else."""

    def __init__(self, app: Callable, settings: Settings) -> None:
        self.app = app
        self.networks = settings.trusted_networks()
        self.allowed = set(settings.hosts_allowed())
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def trusted(self, peer: str | None) -> bool:
        """True when ``peer`` (the direct client's address) is a trusted proxy."""
        if not peer or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """Apply ProxyFix for a trusted peer; strip proxy headers and check Host otherwise."""
        if self.trusted(environ.get("REMOTE_ADDR")):
            environ["cadastre.via_proxy"] = True
            return self.fixed(environ, start_response)
        environ["cadastre.via_proxy"] = False
        for key in [k for k in environ if k.startswith("HTTP_X_FORWARDED_") or k in _FORWARDED]:
            del environ[key]
        local = local_address(environ)
        host = (environ.get("HTTP_HOST") or "").strip().lower()
        if local is not None and not self.host_ok(host, local):
            environ["cadastre.refused_host"] = host
            environ["HTTP_HOST"] = local
        return self.app(environ, start_response)

    def host_ok(self, host: str, local: str) -> bool:
        """May a direct client's ``host`` appear in links when it reached us at ``local``?"""
        if not host:
            return False
        if host == local.lower() or host in self.allowed:
            return True
        name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        local_ip, _, local_port = local.rpartition(":")
        if name and name in self.allowed:
            return True  # an allowed name without a port: any port
        loopback = local_ip.strip("[]") in ("127.0.0.1", "::1")
        return loopback and name == "localhost" and port == local_port


def local_address(environ: dict[str, Any]) -> str | None:
    """``ip:port`` of the server socket the client connected to, when the server tells us."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is None:
        return None
    try:
        ip, port = sock.getsockname()[:2]
    except (OSError, ValueError, TypeError):
        return None
    if ":" in ip:
        ip = f"[{ip}]"
    scheme = environ.get("wsgi.url_scheme", "http")
    default = 443 if scheme == "https" else 80
    return ip if int(port) == default else f"{ip}:{port}"


def init_app(app: Any, settings: Settings) -> None:
    """Wrap ``app.wsgi_app`` with the trusted-proxy middleware."""
    app.wsgi_app = TrustedProxies(app.wsgi_app, settings)
