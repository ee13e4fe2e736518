"""Portal map speed: navigation → first parcels drawn, and tile bytes, in headless Chromium.

Builds (once) a 300 000-parcel demo city under a data dir in /tmp with ``cadastre-gis demo``,
serves it with ``cadastre-gis serve`` (gunicorn), opens the portal in Debian's Chromium through
Playwright on a phone-sized window (390×844) and a desktop one (1280×800), each time in a fresh
browser profile (empty cache), at several places of the city at zoom 16, and records:

- time from navigation start to the first frame in which MapLibre has drawn parcels
  (``queryRenderedFeatures`` on the parcel layer, polled every animation frame);
- tile requests and bytes (response bodies) up to that frame and until the map is idle.

Target: first parcels under 2 s. Results go to bench/results/portal.md.

    .venv/bin/python bench/portal.py [--parcels 300000] [--data-dir /tmp/cg-bench-portal]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "cadastre-gis")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
# Places to open at zoom 16 (lat, lon): district centres of the demo city.
PLACES = [("Yakkasaroy", 41.2850, 69.2500), ("Chilonzor", 41.2750, 69.2050),
          ("Yunusobod", 41.3650, 69.2850), ("Mirobod", 41.2900, 69.2750),
          ("Sergeli", 41.2250, 69.2300)]
VIEWPORTS = {"phone 390×844": (390, 844), "desktop 1280×800": (1280, 800)}
TARGET_S = 2.0
FIRST_PARCELS = """
(() => { const tick = () => {
  try { if (window.portal && window.portal.renderedParcels().length > 0) {
          window.__firstParcelsMs = performance.now(); return; } } catch (e) {}
  requestAnimationFrame(tick); };
  requestAnimationFrame(tick); })();
"""


def sh(*args: str, env: dict[str, str]) -> str:
    """Run a cadastre-gis command, failing loudly."""
    out = subprocess.run([CLI, *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"cadastre-gis {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(data_dir: Path, parcels: int, env: dict[str, str]) -> int:
    """Start the cluster, migrate, build the demo city when the database is empty."""
    sh("db", "up", env=env)
    sh("migrate", env=env)
    code = ("from cadastre_gis.settings import Settings;from cadastre_gis.db import get_engine;"
            "from sqlalchemy import text;"
            "e=get_engine(Settings.from_env());"
            "print(e.connect().execute(text(\"SELECT count(*) FROM parcel WHERE status='active'\"))"
            ".scalar())")
    py = str(ROOT / ".venv" / "bin" / "python")
    have = int(subprocess.run([py, "-c", code], env=env, capture_output=True, text=True,
                              check=True).stdout.strip())
    if have < parcels:
        print(f"building a {parcels}-parcel demo city in {data_dir} (once)…", flush=True)
        t = time.perf_counter()
        sh("demo", "--parcels", str(parcels), "--seed", "42", "--force", env=env)
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
        have = parcels
    return have


def serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """``cadastre-gis serve`` on a free port; returns the process and base URL."""
    port = free_port()
    proc = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    # warm both workers (imports, pools, the cached district figures)
                    for _ in range(6):
                        urllib.request.urlopen(base + "/?lang=en", timeout=30).read()
                    return proc, base
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    sys.exit("the server did not start")


def measure(base: str, viewport: tuple[int, int], place: tuple[str, float, float]) -> dict:
    """One cold page load (fresh profile) at ``place``; timings and tile bytes."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        sys.exit("chromium not found (apt-get install chromium)")
    name, lat, lon = place
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        page = ctx.new_page()
        page.add_init_script(FIRST_PARCELS)
        tiles: list[tuple[float, str, int]] = []
        outside: list[str] = []
        t0 = time.perf_counter()

        def done(req) -> None:  # type: ignore[no-untyped-def]
            if "/tiles/WebMercatorQuad/" in req.url:
                try:
                    size = req.sizes()["responseBodySize"]
                except Exception:  # noqa: BLE001 - a request without a response
                    size = 0
                tiles.append((time.perf_counter() - t0, req.url, size))

        page.on("requestfinished", done)
        page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                else outside.append(r.url))
        page.goto(f"{base}/?lang=en#16/{lat}/{lon}")
        page.wait_for_function("() => window.__firstParcelsMs !== undefined", timeout=60000,
                               polling=100)
        first_ms = page.evaluate("window.__firstParcelsMs")
        nav = page.evaluate("performance.getEntriesByType('navigation')[0].responseEnd")
        page.wait_for_function("() => window.portalMap.loaded() && window.portalMap.areTilesLoaded()",
                               timeout=60000)
        idle_ms = page.evaluate("performance.now()")
        parcels = len(set(page.evaluate("window.portal.renderedParcels()")))
        ctx.close()
    first_s = first_ms / 1000
    before = [t for t in tiles if t[0] <= first_s + 0.05]
    return {"place": name, "first_ms": first_ms, "html_ms": nav, "idle_ms": idle_ms,
            "tiles_first": len(before), "bytes_first": sum(t[2] for t in before),
            "tiles_total": len(tiles), "bytes_total": sum(t[2] for t in tiles),
            "parcels_drawn": parcels, "outside": outside}


SEARCHES = [("number, exact", "10:09:{n}"), ("number, prefix", "10:09:0"),
            ("address", "Shota Rustaveli koʻchasi, 12-uy"),
            ("address with a typo", "Shota Rustavli kochasi 12-uy"),
            ("street only", "Amir Temur")]


def search_latency(base: str, rounds: int = 15) -> list[dict]:
    """Median and worst latency of /api/search for number and address queries."""
    import json
    from urllib.parse import quote

    with urllib.request.urlopen(base + "/api/search?limit=1&q=10:09:0") as r:
        some = json.load(r)["results"][0]["cadastral_number"]
    out = []
    for label, q in SEARCHES:
        q = some if label == "number, exact" else q
        times, hits = [], 0
        for _ in range(rounds):
            t = time.perf_counter()
            with urllib.request.urlopen(f"{base}/api/search?limit=10&q={quote(q)}") as r:
                hits = len(json.load(r)["results"])
            times.append((time.perf_counter() - t) * 1000)
        out.append({"label": label, "q": q, "median_ms": statistics.median(times),
                    "max_ms": max(times), "hits": hits})
        print(f"search {label:22} {statistics.median(times):6.1f} ms (max {max(times):.1f}),"
              f" {hits} results", flush=True)
    return out


def main() -> None:
    """Build, serve, measure, write bench/results/portal.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=300_000)
    ap.add_argument("--data-dir", default="/tmp/cg-bench-portal")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "portal.md"))
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    env = {**os.environ, "CADASTRE_DATA_DIR": str(data_dir), "CADASTRE_WORKERS": "2",
           "CADASTRE_LOG_LEVEL": "WARNING"}
    env.pop("CADASTRE_DATABASE_URL", None)
    n = prepare(data_dir, args.parcels, env)
    proc, base = serve(env)
    rows: dict[str, list[dict]] = {}
    try:
        searches = search_latency(base)
        for label, vp in VIEWPORTS.items():
            rows[label] = []
            for place in PLACES:
                r = measure(base, vp, place)
                rows[label].append(r)
                print(f"{label:18} {r['place']:11} first parcels {r['first_ms']:6.0f} ms · "
                      f"{r['tiles_first']} tiles {r['bytes_first'] / 1024:6.1f} KiB · idle "
                      f"{r['idle_ms']:6.0f} ms · {r['tiles_total']} tiles "
                      f"{r['bytes_total'] / 1024:6.1f} KiB · {r['parcels_drawn']} parcels",
                      flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    write(Path(args.out), n, rows, searches)


def write(out: Path, n: int, rows: dict[str, list[dict]], searches: list[dict]) -> None:
    """The Markdown report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Portal map: time to first parcels and tile bytes",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/portal.py` on a demo city of "
        f"{n:,} active parcels".replace(",", " ") + " (`cadastre-gis demo --parcels 300000 --seed 42`),"
        " served by `cadastre-gis serve` (gunicorn, 2 workers) on this 2-core machine shared with"
        " other jobs; headless Debian Chromium (software WebGL, SwiftShader) through Playwright,"
        " a fresh profile (empty cache) for every load, opened at zoom 16 (`/#16/lat/lon`);"
        " the server is warmed first (6 requests of `/`: imports, connection pools, the"
        " per-process cached district figures).",
        "",
        "*first parcels* = navigation start → first animation frame in which MapLibre has drawn"
        " parcels (`queryRenderedFeatures` on the parcel layer); *idle* = all tiles of the view"
        " loaded and drawn. Bytes are MVT response bodies (uncompressed; no gzip in front).",
        "",
    ]
    all_first = []
    for label, rs in rows.items():
        lines += [f"## {label}", "",
                  "| place | first parcels, ms | tiles / KiB until then | idle, ms | tiles / KiB until idle | parcels drawn | requests off localhost |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in rs:
            all_first.append(r["first_ms"])
            lines.append(f"| {r['place']} | {r['first_ms']:.0f} | {r['tiles_first']} / "
                         f"{r['bytes_first'] / 1024:.1f} | {r['idle_ms']:.0f} | {r['tiles_total']} / "
                         f"{r['bytes_total'] / 1024:.1f} | {r['parcels_drawn']} | {len(r['outside'])} |")
        med = statistics.median(r["first_ms"] for r in rs)
        lines += ["", f"Median first parcels: **{med:.0f} ms**; median tile bytes until idle: "
                  f"{statistics.median(r['bytes_total'] for r in rs) / 1024:.1f} KiB.", ""]
    worst, med = max(all_first), statistics.median(all_first)
    over = sum(1 for v in all_first if v >= TARGET_S * 1000)
    lines += [f"Target < {TARGET_S:.0f} s: median **{med:.0f} ms** over {len(all_first)} cold"
              f" loads ({'met' if med < TARGET_S * 1000 else 'NOT met'}); {over} of"
              f" {len(all_first)} loads at or above {TARGET_S:.0f} s (worst {worst:.0f} ms).", ""]
    lines += ["## Search API (`/api/search`, limit 10, same server, 15 rounds each)", "",
              "| query | text | median, ms | max, ms | results |", "|---|---|---:|---:|---:|"]
    lines += [f"| {s['label']} | `{s['q']}` | {s['median_ms']:.1f} | {s['max_ms']:.1f} | "
              f"{s['hits']} |" for s in searches]
    lines.append("")
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
