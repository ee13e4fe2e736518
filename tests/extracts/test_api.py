"""The ``parcel-extract`` OGC API process, public verification, bans check and owner's log."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from sqlalchemy import text

from cadastre_gis import accounts, signing
from tests.conftest import need, need_tool

EXEC = "/ogc/processes/parcel-extract/execution"


@pytest.fixture(scope="module")
def tokens(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """One bearer token per demo role."""
    return {r: accounts.create_token(settings, r, label="pytest-extracts")
            for r in ("notary", "citizen", "registrar", "operator")}


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


@pytest.fixture(scope="module")
def parcel(engine) -> dict:  # type: ignore[no-untyped-def]
    """An active parcel owned in part by the demo citizen, with a building."""
    with engine.connect() as c:
        row = c.execute(text("""
            SELECT p.cadastral_number, p.id, a.party_id FROM account a
              JOIN "right" r ON r.party_id = a.party_id AND r.kind = 'ownership'
                            AND r.status = 'active' AND r.parcel_id IS NOT NULL
              JOIN parcel p ON p.id = r.parcel_id
             WHERE a.username = 'citizen' ORDER BY p.id LIMIT 1""")).one()
        owners = [r[0] for r in c.execute(text("""
            SELECT pa.full_name FROM "right" r JOIN party pa ON pa.id = r.party_id
             WHERE r.parcel_id = :p AND r.kind = 'ownership' AND r.status = 'active'"""),
            {"p": row.id})]
        pinfls = [r[0] for r in c.execute(text("""
            SELECT pa.pinfl FROM "right" r JOIN party pa ON pa.id = r.party_id
             WHERE r.parcel_id = :p AND pa.pinfl IS NOT NULL"""), {"p": row.id})]
    return {"number": row.cadastral_number, "id": row.id, "party_id": row.party_id,
            "owners": owners, "pinfls": pinfls}


def _execute(client, headers: dict | None, **inputs):  # type: ignore[no-untyped-def]
    return client.post(EXEC, data=json.dumps({"inputs": inputs}),
                       headers={"Content-Type": "application/json", **(headers or {})})


def test_process_is_listed(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/ogc/processes/parcel-extract?f=json")
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] == "parcel-extract" and "case_number" in body["inputs"]


def test_no_token_401_citizen_403(client, tokens, parcel, engine) -> None:  # type: ignore[no-untyped-def]
    r = _execute(client, None, cadastral_number=parcel["number"], case_number="N-1")
    assert r.status_code == 401
    r = _execute(client, _auth(tokens, "citizen"), cadastral_number=parcel["number"],
                 case_number="N-1")
    assert r.status_code == 403
    r = _execute(client, _auth(tokens, "operator"), cadastral_number=parcel["number"],
                 case_number="N-1")
    assert r.status_code == 403
    with engine.connect() as c:
        rows = c.execute(text("SELECT username, outcome, detail FROM extract_request_log"
                              " WHERE case_number = 'N-1' ORDER BY id DESC LIMIT 3")).all()
    assert [tuple(r) for r in rows] == [("operator", "denied", "HTTP 403"),
                                        ("citizen", "denied", "HTTP 403"),
                                        (None, "denied", "HTTP 401")]


def test_unknown_number_404_and_missing_case_400(client, tokens, engine) -> None:  # type: ignore[no-untyped-def]
    r = _execute(client, _auth(tokens, "notary"), cadastral_number="10:09:99:99:99:9999",
                 case_number="N-404")
    assert r.status_code == 404, r.get_data(as_text=True)
    assert "10:09:99:99:99:9999" in r.get_json()["description"]
    r = _execute(client, _auth(tokens, "notary"), cadastral_number="10:09:99:99:99:9999")
    assert r.status_code == 400
    assert "case_number" in r.get_json()["description"]
    r = _execute(client, _auth(tokens, "notary"), cadastral_number="not-a-number", case_number="N-2")
    assert r.status_code == 400
    with engine.connect() as c:
        outcomes = [row[0] for row in c.execute(text(
            "SELECT outcome FROM extract_request_log WHERE cadastral_number = '10:09:99:99:99:9999'"
            " ORDER BY id DESC LIMIT 2"))]
    assert outcomes == ["invalid", "not_found"]


def test_notary_gets_signed_json_and_anyone_verifies(client, tokens, parcel, settings) -> None:  # type: ignore[no-untyped-def]
    r = _execute(client, _auth(tokens, "notary"), cadastral_number=parcel["number"],
                 case_number="N-2026/77", purpose="sale")
    assert r.status_code == 200, r.get_data(as_text=True)
    doc = r.get_json()
    content, sig = doc["extract"], doc["signature"]
    assert content["parcel"]["cadastral_number"] == parcel["number"]
    assert sorted(o["name"] for o in content["owners"]) == sorted(parcel["owners"])
    assert content["fees"]["state_duty"] == f"{settings.state_duty_uzs:.2f}"
    assert r.headers["X-Extract-Number"] == content["extract_number"]
    assert signing.verify(settings, content, sig)
    # the public key from its stable URL verifies the signature, independently of our code
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    pem = client.get("/extracts/public-key.pem").data
    load_pem_public_key(pem).verify(signing.unb64u(sig["value"]), signing.canonical(content))
    jwks = client.get("/extracts/keys").get_json()
    assert sig["key_id"] in [k["kid"] for k in jwks["keys"]]
    # public page: valid, hash, number; no personal data
    page = client.get(f"/extracts/{content['extract_number']}")
    info = page.get_json()
    assert info["valid"] is True and info["content_sha256"] == sig["sha256"]
    assert info["cadastral_number"] == parcel["number"]
    html = client.get(f"/extracts/{content['extract_number']}",
                      headers={"Accept": "text/html"}).get_data(as_text=True)
    for secret in [*parcel["owners"], *parcel["pinfls"], "N-2026/77", "notary"]:
        assert secret not in page.get_data(as_text=True)
        assert secret not in html
    assert "Valid" in html or "✔" in html
    # verify upload: JSON document → authentic; a one-character change → tampered
    r = client.post("/extracts/verify", json=doc)
    assert r.get_json()["result"] == "authentic"
    forged = json.loads(json.dumps(doc))
    forged["extract"]["owners"][0]["share"] = "1/1"
    assert client.post("/extracts/verify", json=forged).get_json()["result"] == "tampered"
    # multipart: content file + detached signature
    r = client.post("/extracts/verify", data={
        "file": (io.BytesIO(signing.canonical(content)), "extract.json"),
        "signature": (io.BytesIO(json.dumps(sig).encode()), "extract.sig")},
        content_type="multipart/form-data")
    assert r.get_json()["result"] == "authentic"
    ghost = json.loads(json.dumps(doc))
    ghost["extract"]["extract_number"] = "EX-2026-0999999-ABCD"
    assert client.post("/extracts/verify", json=ghost).get_json()["result"] == "unknown"
    assert client.get("/extracts/EX-2026-0999999-ABCD").status_code == 404
    # the notary sees it with its charges; the owner sees who asked
    mine = client.get("/notary?f=json", headers=_auth(tokens, "notary")).get_json()
    assert content["extract_number"] in [e["extract_number"] for e in mine["extracts"]]
    assert mine["count"] >= 1 and float(mine["total_uzs"]) >= settings.state_duty_uzs
    seen = client.get("/my/extract-requests?f=json", headers=_auth(tokens, "citizen")).get_json()
    match = [x for x in seen["requests"] if x["extract_number"] == content["extract_number"]]
    assert match and match[0]["requested_by"] == "Notarius" and match[0]["case_number"] == "N-2026/77"
    assert client.get("/my/extract-requests?f=json", headers=_auth(tokens, "notary")).status_code == 403
    assert client.get("/notary?f=json").status_code == 401


def test_pdf_renders_with_qr_and_verifies(client, tokens, parcel, settings, artifacts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pdftoppm = need_tool("pdftoppm")
    r = _execute(client, _auth(tokens, "registrar"), cadastral_number=parcel["number"],
                 case_number="R-2026/5", purpose="mortgage", format="pdf")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    assert r.headers["Content-Type"].startswith("application/pdf")
    pdf = r.data
    assert pdf.startswith(b"%PDF")
    number = r.headers["X-Extract-Number"]
    # detached signature of the PDF bytes, in the response header
    assert signing.verify_bytes(settings, pdf, r.headers["X-Extract-Signature"],
                                r.headers["X-Extract-Key-Id"])
    path = tmp_path / "extract.pdf"
    path.write_bytes(pdf)
    (artifacts / "extract.pdf").write_bytes(pdf)
    subprocess.run([pdftoppm, "-r", "200", "-png", str(path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    from PIL import Image

    for i, png in enumerate(pages, 1):
        (artifacts / f"extract-page{i}.png").write_bytes(png.read_bytes())
        im = Image.open(png).convert("L")
        dark = sum(1 for v in im.getdata() if v < 128)
        assert dark > im.width * im.height * 0.01, f"page {i} looks blank"
    try:
        import zxingcpp
    except ImportError:
        need(False, "zxing-cpp (pip, test extra)")
    codes = zxingcpp.read_barcodes(Image.open(pages[0]))
    urls = [c.text for c in codes if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert urls == [f"{settings.base_url}/extracts/{number}"]
    # page text carries owners and the Cyrillic labels (fonts embedded)
    from pypdf import PdfReader

    text_all = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert parcel["number"] in text_all and "Кадастровый номер" in text_all
    assert parcel["owners"][0].split()[0] in text_all
    # upload the PDF: authentic; one changed byte in the file: tampered
    r = client.post("/extracts/verify", data={"file": (io.BytesIO(pdf), "x.pdf")},
                    content_type="multipart/form-data")
    assert r.get_json()["result"] == "authentic", r.get_json()
    i = pdf.index(b"/Producer") if b"/Producer" in pdf else len(pdf) // 3
    changed = bytearray(pdf)
    changed[i + 2] ^= 0x01
    r = client.post("/extracts/verify", data={"file": (io.BytesIO(bytes(changed)), "x.pdf")},
                    content_type="multipart/form-data")
    assert r.get_json()["result"] == "tampered", r.get_json()
    r = client.post("/extracts/verify", data={"file": (io.BytesIO(b"%PDF-1.4 nothing"), "y.pdf")},
                    content_type="multipart/form-data")
    assert r.get_json()["result"] == "unknown"


def test_bans_endpoint(client, tokens, engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        number = c.execute(text("""
            SELECT p.cadastral_number FROM parcel p JOIN "right" r ON r.parcel_id = p.id
             WHERE r.kind = 'arrest' AND r.status = 'active' AND p.status = 'active'
               AND r.starts_on <= current_date ORDER BY p.id LIMIT 1""")).scalar_one()
        free = c.execute(text("""
            SELECT p.cadastral_number FROM parcel p WHERE p.status = 'active' AND NOT EXISTS (
              SELECT 1 FROM "right" r WHERE r.parcel_id = p.id AND r.kind IN ('arrest', 'mortgage'))
             ORDER BY p.id LIMIT 1""")).scalar_one()
    url = f"/api/parcels/{number}/encumbrances"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=_auth(tokens, "citizen")).status_code == 403
    body = client.get(url, headers=_auth(tokens, "notary")).get_json()
    assert body["arrested"] is True and body["encumbrances"][0]["holder"]
    body = client.get(f"/api/parcels/{free}/encumbrances", headers=_auth(tokens, "registrar")).get_json()
    assert body["arrested"] is False and body["encumbrances"] == []
    assert client.get("/api/parcels/10:09:99:99:99:9999/encumbrances",
                      headers=_auth(tokens, "notary")).status_code == 404
    assert client.get("/api/parcels/nope/encumbrances",
                      headers=_auth(tokens, "notary")).status_code == 400


def test_verify_form_page(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/extracts/verify", headers={"Accept": "text/html"})
    assert r.status_code == 200 and 'type="file"' in r.get_data(as_text=True)


def test_notary_and_owner_pages_render(client, tokens) -> None:  # type: ignore[no-untyped-def]
    html = {"Accept": "text/html"}
    r = client.get("/notary", headers={**html, **_auth(tokens, "notary")})
    assert r.status_code == 200 and "UZS" in r.get_data(as_text=True)
    r = client.get("/my/extract-requests", headers={**html, **_auth(tokens, "citizen")})
    assert r.status_code == 200 and "<table" in r.get_data(as_text=True)
