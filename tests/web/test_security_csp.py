"""The CSP holds: no inline script in any template, and key pages load in Chromium with no
Content-Security-Policy violation (the map still draws: MapLibre's blob: worker is allowed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "web" / "templates", ROOT / "ogc_api" / "templates"]

# <script> with content (a JSON data block is fine: it is not executed), on*= handlers,
# javascript: URLs.
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.I)


def _templates() -> list[Path]:
    return sorted(p for d in TEMPLATE_DIRS if d.exists() for p in d.rglob("*.html"))


def inline_script_problems(path: Path) -> list[str]:
    """Inline JavaScript in one template (what the CSP would block)."""
    src = path.read_text(encoding="utf-8")
    problems = []
    for m in SCRIPT.finditer(src):
        attrs, body = m.group(1), m.group(2)
        if "application/json" in attrs or "application/ld+json" in attrs:
            continue
        if body.strip():
            problems.append(f"inline <script> at line {src[:m.start()].count(chr(10)) + 1}")
    for m in HANDLER.finditer(src):
        problems.append(f"on* attribute at line {src[:m.start()].count(chr(10)) + 1}")
    for m in JS_URL.finditer(src):
        problems.append(f"javascript: URL at line {src[:m.start()].count(chr(10)) + 1}")
    return problems


def test_no_inline_script_in_templates() -> None:
    found = {str(p.relative_to(ROOT)): inline_script_problems(p) for p in _templates()}
    found = {k: v for k, v in found.items() if v}
    assert found == {}, found


def test_checker_catches_inline_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<script>alert(1)</script><a href="javascript:x()">x</a>'
                   '<select onchange="this.form.submit()"></select>'
                   '<script type="application/json" id="d">{"a": 1}</script>'
                   '<script src="/static/x.js"></script>')
    assert len(inline_script_problems(bad)) == 3


CSP_MARK = "Content Security Policy"


def _violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [m for m in page.console_errors if CSP_MARK in m or "Refused to" in m]


def _sign_in(page, base: str, user: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/logout")
    page.goto(base + "/login?lang=en")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


PUBLIC = ["/?lang=en", "/login", "/extracts/verify", "/ogc?f=html", "/ogc/collections?f=html",
          "/ogc/collections/parcels?f=html", "/ogc/collections/parcels/items?f=html&limit=5",
          "/ogc/conformance?f=html", "/ogc/openapi?f=html", "/no-such-page"]
SIGNED_IN = [("operator", "operator-demo-2026", ["/situation", "/analytics", "/account"]),
             ("registrar", "registrar-demo-2026", ["/staff"]),
             ("notary", "notary-demo-2026", ["/notary"]),
             ("citizen", "citizen-demo-2026", ["/my", "/taxes", "/account/2fa"])]


@pytest.mark.browser
def test_pages_load_without_csp_violations(page, live_server) -> None:  # type: ignore[no-untyped-def]
    seen: dict[str, list[str]] = {}
    for path in PUBLIC:
        page.console_errors.clear()
        resp = page.goto(live_server + path)
        assert resp is not None and "script-src 'self'" in resp.headers["content-security-policy"]
        page.wait_for_timeout(300)
        seen[path] = _violations(page)
    # The portal map still draws under the CSP (worker from a blob: URL, glyphs, tiles).
    page.goto(live_server + "/?lang=en")
    page.wait_for_function("() => document.querySelector('canvas.maplibregl-canvas')"
                           " && window.portalMap && window.portalMap.loaded()", timeout=30000)
    seen["/ (map)"] = _violations(page)
    for user, password, paths in SIGNED_IN:
        _sign_in(page, live_server, user, password)
        for path in paths:
            page.console_errors.clear()
            page.goto(live_server + path)
            page.wait_for_timeout(500)
            seen[f"{user} {path}"] = _violations(page)
    page.goto(live_server + "/logout")
    bad = {k: v for k, v in seen.items() if v}
    assert bad == {}, bad
