"""Public addresses (issue 13.1): links follow the request on any port, behind a trusted
proxy or not; forged Host / X-Forwarded-* headers never reach a link or a signed extract."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from cadastre_gis import accounts
from tests.conftest import free_port, need_tool


class Server:
    """The app on a real HTTP server in a thread, on a free (unusual) port."""

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        from werkzeug.serving import make_server

        from web import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def get(self, path: str, headers: dict[str, str] | None = None,
            data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request; (status, headers, body)."""
        req = urllib.request.Request(self.url + path, headers=headers or {}, data=data)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, path: str, headers: dict[str, str] | None = None) -> dict:
        """GET ``path`` as JSON."""
        status, _h, body = self.get(path, headers)
        assert status == 200, body[:300]
        return json.loads(body)

    def stop(self) -> None:
        """Shut the server down."""
        self.server.shutdown()


@pytest.fixture(scope="module")
def direct(settings) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """No CADASTRE_BASE_URL, no trusted proxy: the address comes from the connection."""
    s = Server(replace(settings, base_url=None, trusted_proxies="",
                       allowed_hosts="cadastre.example.uz"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def proxied(settings) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """Behind a trusted proxy on 127.0.0.1 (the test client plays the proxy)."""
    s = Server(replace(settings, base_url=None, trusted_proxies="127.0.0.1/32"))
    yield s
    s.stop()


def test_links_follow_the_port(direct: Server) -> None:
    landing = direct.json("/ogc/?f=json")
    links = [link["href"] for link in landing["links"]]
    assert links and all(u.startswith(direct.url) for u in links), links
    assert f"{direct.url}/ogc/collections" in links
    oas = direct.json("/ogc/openapi?f=json")
    assert oas["servers"][0]["url"] == direct.url + "/ogc"
    items = direct.json("/ogc/collections/parcels/items?f=json&limit=2")
    nxt = [link["href"] for link in items["links"] if link["rel"] == "next"]
    assert nxt and nxt[0].startswith(direct.url + "/ogc/collections/parcels/items")
    assert direct.json(nxt[0][len(direct.url):])["features"]
    tj = direct.json("/ogc/collections/parcels/tiles/WebMercatorQuad/metadata?f=tilejson")
    assert tj["tiles"][0].startswith(direct.url + "/ogc/collections/parcels/tiles/")
    d = direct.json("/open311/v2/discovery.json")
    assert any(e["url"].startswith(direct.url + "/open311/v2") for e in d["endpoints"])
    # the OGC HTML pages load their CSS and scripts from the same address
    _s, _h, html = direct.get("/ogc/collections?f=html")
    assert b"127.0.0.1:5000" not in html
    assert f"{direct.url}/".encode() in html or b'href="/' in html
    # work outside a request (e-mails) links to where this process was last reached
    from web.urls import base_url

    with direct.app.app_context():
        assert base_url() == direct.url


def test_forged_host_and_forwarded_headers_from_a_client_are_ignored(direct: Server) -> None:
    forged = {"Host": "evil.example:666", "X-Forwarded-Host": "evil.example",
              "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/x",
              "Forwarded": "host=evil.example"}
    landing = direct.json("/ogc/?f=json", forged)
    assert all(link["href"].startswith(direct.url) for link in landing["links"])
    assert b"evil" not in direct.get("/open311/v2/discovery.json", forged)[2]
    # an allowed name (CADASTRE_ALLOWED_HOSTS) and localhost on a loopback connection are kept
    landing = direct.json("/ogc/?f=json", {"Host": f"cadastre.example.uz:{direct.port}"})
    assert landing["links"][1]["href"].startswith(f"http://cadastre.example.uz:{direct.port}/ogc")
    landing = direct.json("/ogc/?f=json", {"Host": f"localhost:{direct.port}"})
    assert landing["links"][1]["href"].startswith(f"http://localhost:{direct.port}/ogc")
    # localhost on another port is not where the client connected
    landing = direct.json("/ogc/?f=json", {"Host": "localhost:1"})
    assert landing["links"][0]["href"].startswith(direct.url)


def test_trusted_proxy_headers_are_honoured(proxied: Server) -> None:
    hdrs = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "cadastre.example.uz",
            "X-Forwarded-Prefix": "/kadastr", "X-Forwarded-For": "203.0.113.7"}
    landing = proxied.json("/ogc/?f=json", hdrs)
    root = "https://cadastre.example.uz/kadastr/ogc"
    assert all(link["href"].startswith(root[:-4]) for link in landing["links"]), landing["links"]
    assert f"{root}/collections" in [link["href"] for link in landing["links"]]
    assert proxied.json("/ogc/openapi?f=json", hdrs)["servers"][0]["url"] == root
    # the same server without proxy headers: its own address
    assert proxied.json("/ogc/?f=json")["links"][1]["href"].startswith(proxied.url + "/ogc")


def test_base_url_wins(settings) -> None:  # type: ignore[no-untyped-def]
    s = Server(replace(settings, base_url="https://kadastr.uz", trusted_proxies="127.0.0.1"))
    try:
        landing = s.json("/ogc/?f=json", {"X-Forwarded-Host": "other.example"})
        assert all(link["href"].startswith("https://kadastr.uz") for link in landing["links"])
    finally:
        s.stop()


def _extract(server: Server, settings, headers: dict[str, str],  # type: ignore[no-untyped-def]
             fmt: str = "json") -> Any:
    from sqlalchemy import text

    from cadastre_gis.db import get_engine

    with get_engine(settings).connect() as c:
        number = c.execute(text("SELECT cadastral_number FROM parcel WHERE status = 'active' "
                                "ORDER BY id LIMIT 1")).scalar_one()
    token = accounts.create_token(settings, "notary", label="pytest-addresses")
    body = json.dumps({"inputs": {"cadastral_number": number, "case_number": "A-1",
                                  "format": fmt}}).encode()
    status, _h, out = server.get("/ogc/processes/parcel-extract/execution", data=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers})
    assert status == 200, out[:400]
    return json.loads(out) if fmt == "json" else out


def test_signed_extract_never_carries_a_forged_address(direct: Server, proxied: Server,
                                                       settings) -> None:  # type: ignore[no-untyped-def]
    doc = _extract(direct, settings, {"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert doc["verification_url"].startswith(direct.url + "/extracts/EX-")
    assert doc["extract"]["verification_url"] == doc["verification_url"]
    doc = _extract(proxied, settings, {"X-Forwarded-Host": "cadastre.example.uz",
                                       "X-Forwarded-Proto": "https"})
    assert doc["verification_url"].startswith("https://cadastre.example.uz/extracts/EX-")
    number = doc["verification_url"].rsplit("/", 1)[1]
    assert proxied.get(f"/extracts/{number}")[0] == 200


def test_pdf_extract_qr_code_names_the_real_address(direct: Server, settings,  # type: ignore[no-untyped-def]
                                                    tmp_path) -> None:
    pdftoppm = need_tool("pdftoppm")
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    pdf = _extract(direct, settings, {"Host": "evil.example"}, fmt="pdf")
    (tmp_path / "x.pdf").write_bytes(pdf)
    subprocess.run([pdftoppm, "-r", "150", "-png", "-f", "1", "-l", "1", str(tmp_path / "x.pdf"),
                    str(tmp_path / "p")], check=True)
    page = sorted(tmp_path.glob("p*.png"))[0]
    urls = [c.text for c in zxingcpp.read_barcodes(Image.open(page))
            if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(urls) == 1 and urls[0].startswith(direct.url + "/extracts/EX-"), urls


def test_gdal_and_owslib_read_through_the_links(direct: Server) -> None:
    ogrinfo = need_tool("ogrinfo")
    out = subprocess.run([ogrinfo, "-ro", "-so", "-oo", "PAGE_SIZE=5", f"OAPIF:{direct.url}/ogc",
                          "districts"], capture_output=True, text=True, timeout=120)
    assert "Feature Count: 12" in out.stdout, out.stdout + out.stderr
    # paging follows the next links (5 + 5 + 2)
    out = subprocess.run([ogrinfo, "-ro", "-al", "-q", "-oo", "PAGE_SIZE=5",
                          f"OAPIF:{direct.url}/ogc", "districts"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.count("OGRFeature(districts)") == 12, out.stderr
    from owslib.ogcapi.features import Features

    w = Features(direct.url + "/ogc")
    assert "parcels" in [c["id"] for c in w.collections()["collections"]]
    page = w.collection_items("parcels", limit=3)
    assert len(page["features"]) == 3
    assert all(link["href"].startswith(direct.url) for link in page["links"])
