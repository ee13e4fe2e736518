"""/metrics (issue 13.8): Prometheus request and database-pool figures, loopback only."""

from __future__ import annotations


def test_metrics_report_requests_and_pools(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    body = r.get_data(as_text=True)
    assert 'cadastre_http_requests_total{endpoint="health.healthz",method="GET",status="200"}' \
        in body
    assert "cadastre_http_request_seconds_bucket" in body
    assert 'cadastre_db_pool_connections{pool="primary",state="size"}' in body


def test_metrics_hidden_from_other_addresses(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert r.status_code == 404
