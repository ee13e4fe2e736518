"""``/metrics``: Prometheus figures for requests and database pools (prometheus_client).

Requests are counted and timed per Flask endpoint (a bounded label set: route names, not
URLs). The database pools of this process are read at scrape time. Each gunicorn worker
keeps its own figures; with ``PROMETHEUS_MULTIPROC_DIR`` set (an empty directory, cleared
at start by the service unit) prometheus_client aggregates the workers.

Only addresses in ``CADASTRE_METRICS_ALLOW`` (loopback by default) may read it; others get 404.
"""

from __future__ import annotations

import ipaddress
import os
import time
import weakref

from flask import Flask, Response, abort, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("cadastre_http_requests_total", "HTTP requests",
                   ["method", "endpoint", "status"], registry=_REGISTRY)
LATENCY = Histogram("cadastre_http_request_seconds", "HTTP request duration",
                    ["endpoint"], registry=_REGISTRY,
                    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))


class _PoolCollector:
    """Pool figures of the apps' Database objects in this process, read at scrape time."""

    def __init__(self) -> None:
        self.databases: weakref.WeakSet = weakref.WeakSet()

    def collect(self):  # type: ignore[no-untyped-def]
        """Yield checked-out / idle / overflow connections per pool."""
        out = GaugeMetricFamily("cadastre_db_pool_connections", "Database pool connections",
                                labels=["pool", "state"])
        for database in self.databases:
            pools = [("primary", database._primary)]
            pools += [(f"replica{i}", r.engine) for i, r in enumerate(database.replicas)]
            for name, engine in pools:
                if engine is None:
                    continue
                pool = engine.pool
                for state, fn in (("checked_out", "checkedout"), ("idle", "checkedin"),
                                  ("overflow", "overflow"), ("size", "size")):
                    value = getattr(pool, fn, None)
                    if callable(value):
                        out.add_metric([name, state], max(0, value()))
        yield out

    def describe(self):  # type: ignore[no-untyped-def]
        """No fixed description (figures appear once a pool exists)."""
        return []


_POOLS = _PoolCollector()
_REGISTRY.register(_POOLS)


def init_app(app: Flask) -> None:
    """Time every request and serve ``/metrics``."""
    _POOLS.databases.add(app.extensions["cadastre_db"])
    allow = app.extensions["cadastre_settings"].metrics_networks()

    @app.before_request
    def _start() -> None:
        g.metrics_t0 = time.perf_counter()

    @app.after_request
    def _count(response):  # type: ignore[no-untyped-def]
        t0 = g.get("metrics_t0")
        endpoint = request.endpoint or "unmatched"
        if t0 is not None:
            LATENCY.labels(endpoint).observe(time.perf_counter() - t0)
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response

    @app.route("/metrics")
    def metrics() -> Response:
        try:
            peer = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            abort(404)
        if not any(peer in net for net in allow):
            abort(404)
        registry = _REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
