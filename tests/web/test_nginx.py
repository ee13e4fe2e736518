"""The sample reverse-proxy configuration (docs/deploy/nginx-cadastre.conf) in front of
`cadastre-gis serve`: TLS, trusted X-Forwarded-* headers, links GDAL follows, a forged Host
refused, compression passed through, anonymous tiles cached at the edge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, need_tool

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "deploy" / "nginx-cadastre.conf"


def _wait(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=2, verify=False)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture(scope="module")
def proxy(settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    """gunicorn (our serve command) behind nginx with the sample config; yields the URLs."""
    nginx = need_tool("nginx")
    openssl = need_tool("openssl")
    tmp = tmp_path_factory.mktemp("nginx")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(tmp / "key.pem"),
                    "-out", str(tmp / "cert.pem")], check=True, capture_output=True)
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    env = {**os.environ, "CADASTRE_DATABASE_URL": settings.database_url,
           "CADASTRE_DATA_DIR": str(settings.data_dir), "CADASTRE_SECRET_KEY": "nginx-test",
           "CADASTRE_TRUSTED_PROXIES": "127.0.0.1", "CADASTRE_BASE_URL": ""}
    cli = str(Path(sys.executable).parent / "cadastre-gis")
    app = subprocess.Popen([cli, "serve", "--host", "127.0.0.1", "--port", str(app_port),
                            "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    site = SAMPLE.read_text()
    for old, new in (("127.0.0.1:5000", f"127.0.0.1:{app_port}"),
                     ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                     ("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
                     ("server_name cadastre.example.uz;", "server_name 127.0.0.1;"),
                     ("/etc/ssl/certs/cadastre.example.uz.pem", str(tmp / "cert.pem")),
                     ("/etc/ssl/private/cadastre.example.uz.key", str(tmp / "key.pem")),
                     ("/var/cache/nginx/cadastre", str(tmp / "cache"))):
        assert old in site, old
        site = site.replace(old, new)
    (tmp / "nginx.conf").write_text(
        f"user root;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\ninclude /etc/nginx/mime.types;\naccess_log {tmp}/access.log;\n"
        f"client_body_temp_path {tmp}/body;\nproxy_temp_path {tmp}/proxy;\n{site}\n}}\n")
    web = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                            "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        _wait(f"http://127.0.0.1:{app_port}/healthz", 90)
        _wait(f"https://127.0.0.1:{https_port}/healthz")
        yield {"https": f"https://127.0.0.1:{https_port}", "http": f"http://127.0.0.1:{http_port}"}
    finally:
        web.terminate()
        web.wait(10)
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(20)


def test_links_behind_nginx_are_https_and_work(proxy: dict) -> None:
    import requests
    import urllib3

    urllib3.disable_warnings()  # the test certificate is self-signed
    base = proxy["https"]
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http",
              "X-Forwarded-Prefix": "/evil"}
    landing = requests.get(f"{base}/ogc/?f=json", headers=forged, verify=False,
                           timeout=30).json()
    hrefs = [link["href"] for link in landing["links"]]
    assert f"{base}/ogc/collections" in hrefs, hrefs
    assert not any("evil" in h for h in hrefs)
    items = requests.get(f"{base}/ogc/collections/parcels/items?limit=2&f=json", verify=False,
                         timeout=30).json()
    nxt = [link["href"] for link in items["links"] if link["rel"] == "next"][0]
    assert nxt.startswith(f"{base}/ogc/collections/parcels/items")
    assert requests.get(nxt, verify=False, timeout=30).json()["features"]
    # GDAL reads through the links the app wrote behind the proxy
    ogrinfo = need_tool("ogrinfo")
    out = subprocess.run([ogrinfo, "-ro", "-al", "-q", "-oo", "PAGE_SIZE=5",
                          f"OAPIF:{base}/ogc", "districts"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "GDAL_HTTP_UNSAFESSL": "YES"})
    assert out.stdout.count("OGRFeature(districts)") == 12, out.stderr
    # a Host nginx does not serve gets no answer at all (444)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/ogc/", headers={"Host": "evil.example"}, verify=False, timeout=10)
    # plain http is redirected to https
    r = requests.get(f"{proxy['http']}/ogc/", allow_redirects=False, timeout=10)
    assert r.status_code == 301 and r.headers["Location"].startswith("https://")


def test_compression_and_edge_cache(proxy: dict, engine) -> None:  # type: ignore[no-untyped-def]
    import morecantile
    import requests
    from sqlalchemy import text

    base = proxy["https"]
    r = requests.get(f"{base}/ogc/collections/parcels/items?limit=50&f=json", verify=False,
                     headers={"Accept-Encoding": "br"}, timeout=30)
    assert r.headers["Content-Encoding"] == "br" and len(json.loads(r.content)["features"]) == 50
    with engine.connect() as c:
        lon, lat = c.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) p"
            " FROM parcel WHERE status = 'active' ORDER BY id LIMIT 1) s")).one()
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 15)
    url = f"{base}/ogc/collections/parcels/tiles/WebMercatorQuad/15/{t.y}/{t.x}?f=mvt"
    first = requests.get(url, verify=False, headers={"Accept-Encoding": "gzip"}, timeout=30)
    second = requests.get(url, verify=False, headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip"
    assert second.headers["X-Cache-Status"] == "HIT"
    assert second.content == first.content
