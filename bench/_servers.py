"""Shared bench helpers: the demo database, the three servers, and a small load generator.

(a) ours: ``cadastre-gis serve`` (gunicorn, 2 workers x 8 threads);
(b) pygeoapi 0.24 with its stock PostgreSQL provider over the same tables (gunicorn, 2 workers
    x 8 threads, its own YAML config in the bench data dir);
(c) TiPG installed into its own venv under the bench data dir (uvicorn, 2 workers).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "cadastre-gis")
ACCEPT_ENCODING = "br, gzip"
"""Sent with every request of ``run_pass``, to every server alike (printed with each table)."""


def log(msg: str) -> None:
    """Progress on stderr."""
    print(msg, file=sys.stderr, flush=True)


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for cadastre-gis commands on the bench data dir."""
    env = dict(os.environ, CADASTRE_DATA_DIR=str(data_dir), **extra)
    env.pop("CADASTRE_DATABASE_URL", None)
    return env


def ensure_database(data_dir: Path, parcels: int, seed: int) -> str:
    """Start the embedded cluster, migrate, (re)generate the demo city; return the DB URL."""
    from sqlalchemy import create_engine, text

    from cadastre_gis.settings import Settings

    data_dir.mkdir(parents=True, exist_ok=True)
    env = env_for(data_dir)
    subprocess.run([CLI, "db", "up"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([CLI, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    url = Settings(data_dir=data_dir).url()
    eng = create_engine(url)
    with eng.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM parcel WHERE status = 'active'")).scalar()
    if n != parcels:
        log(f"demo: generating {parcels} parcels (seed {seed}); this takes a while")
        subprocess.run([CLI, "demo", "--parcels", str(parcels), "--seed", str(seed), "--force"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    with eng.begin() as conn:
        # a database migrated before issue 3's revision was filled in lacks the privacy views
        if conn.execute(text("SELECT to_regclass('ogc_public_incident')")).scalar() is None:
            import importlib.util

            spec = importlib.util.spec_from_file_location(
                "m0002", ROOT / "migrations" / "versions" / "0002_ogc_api.py")
            mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(mod)  # type: ignore[union-attr]
            conn.exec_driver_sql(mod.UPGRADE)
        conn.exec_driver_sql("ANALYZE")
    eng.dispose()
    return url


def db_params(url: str) -> dict[str, Any]:
    """host/port/dbname/user/password of a SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return {"host": u.host, "port": u.port, "dbname": u.database, "user": u.username,
            "password": u.password}


@dataclass
class Server:
    """One running server under test."""

    name: str
    base: str
    proc: subprocess.Popen
    items: str
    """Items URL template with {coll}."""
    tiles: str | None = None
    """Tile URL template with {coll} {z} {x} {y}."""
    collections: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop the server's process group (we started it in its own session)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def _wait(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    try:
        _wait_inner(url, proc, timeout)
    except Exception:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        raise


def _wait_inner(url: str, proc: subprocess.Popen, timeout: float) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def _spawn(cmd: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen:
    fh = open(logfile, "w")  # noqa: SIM115  (kept open for the child's lifetime)
    return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                            start_new_session=True)


def start_ours(data_dir: Path, port: int) -> Server:
    """Our app: cadastre-gis serve, 2 workers."""
    base = f"http://127.0.0.1:{port}"
    env = env_for(data_dir, CADASTRE_BASE_URL=base, CADASTRE_LOG_LEVEL="WARNING")
    proc = _spawn([CLI, "serve", "--port", str(port), "--workers", "2"], env,
                  data_dir / "ours.log")
    _wait(f"{base}/ogc/collections/parcels?f=json", proc)
    return Server("ours", base, proc, base + "/ogc/collections/{coll}/items",
                  base + "/ogc/collections/{coll}/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt",
                  {"parcels": "parcels"})


def start_pygeoapi(data_dir: Path, port: int, url: str) -> Server:
    """Stock pygeoapi with its PostgreSQL provider on table parcel, 2 workers."""
    import yaml

    base = f"http://127.0.0.1:{port}"
    epsg = "http://www.opengis.net/def/crs/EPSG/0/"
    cfg = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": base,
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8",
                   "languages": ["en-US"], "pretty_print": False,
                   "limits": {"default_items": 100, "max_items": 10000},
                   "map": {"url": "http://127.0.0.1/{z}/{x}/{y}.png", "attribution": "-"}},
        "logging": {"level": "ERROR"},
        "metadata": {"identification": {"title": "bench", "description": "bench",
                                        "keywords": ["bench"], "keywords_type": "theme",
                                        "terms_of_service": "-", "url": base},
                     "license": {"name": "-", "url": base},
                     "provider": {"name": "-", "url": base},
                     "contact": {"name": "-", "position": "-", "address": "-", "city": "-",
                                 "stateorprovince": "-", "postalcode": "-", "country": "-",
                                 "phone": "-", "fax": "-", "email": "-", "url": base,
                                 "hours": "-", "instructions": "-", "role": "pointOfContact"}},
        "resources": {"parcels": {
            "type": "collection", "title": "parcels", "description": "parcels",
            "keywords": ["parcels"], "links": [],
            "extents": {"spatial": {"bbox": [69.1, 41.15, 69.5, 41.45],
                                    "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [{
                "type": "feature", "name": "PostgreSQL", "data": db_params(url),
                "id_field": "id", "table": "parcel", "geom_field": "geom",
                "storage_crs": epsg + "32642",
                "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84", epsg + "4326",
                        epsg + "3857", epsg + "32642", epsg + "28412"],
                "properties": ["id", "cadastral_number", "district_id", "address",
                               "land_category", "permitted_use", "area_m2",
                               "declared_area_m2", "cadastral_value", "status", "version",
                               "valid_from", "valid_to"],
            }]}},
    }
    d = data_dir / "pygeoapi"
    d.mkdir(exist_ok=True)
    (d / "config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = dict(os.environ, PYGEOAPI_CONFIG=str(d / "config.yml"),
               PYGEOAPI_OPENAPI=str(d / "openapi.yml"))
    subprocess.run([str(VENV_BIN / "pygeoapi"), "openapi", "generate", str(d / "config.yml"),
                    "--output-file", str(d / "openapi.yml")], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = _spawn([str(VENV_BIN / "gunicorn"), "-w", "2", "-k", "gthread", "--threads", "8",
                   "-b", f"127.0.0.1:{port}", "--timeout", "300", "pygeoapi.flask_app:APP"],
                  env, data_dir / "pygeoapi.log")
    _wait(f"{base}/collections/parcels?f=json", proc)
    return Server("pygeoapi", base, proc, base + "/collections/{coll}/items", None,
                  {"parcels": "parcels"})


def ensure_tipg(data_dir: Path) -> Path:
    """A separate venv with TiPG and uvicorn (installed once by pip)."""
    venv = data_dir / "tipg-venv"
    if not (venv / "bin" / "uvicorn").exists() or subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import tipg"],
            capture_output=True).returncode != 0:
        log("tipg: creating its venv and installing tipg + uvicorn")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "tipg", "uvicorn"],
                       check=True)
    return venv


def start_tipg(data_dir: Path, port: int, url: str) -> Server:
    """TiPG on the same database (parcel table), uvicorn with 2 workers."""
    venv = ensure_tipg(data_dir)
    base = f"http://127.0.0.1:{port}"
    p = db_params(url)
    env = dict(os.environ,
               DATABASE_URL=f"postgresql://{p['user']}:{p['password']}@{p['host']}:{p['port']}"
                            f"/{p['dbname']}",
               TIPG_DB_SCHEMAS='["public"]', TIPG_DB_TABLES='["public.parcel"]',
               TIPG_DB_FUNCTIONS="[]", TIPG_MAX_FEATURES_PER_QUERY="10000",
               TIPG_DEFAULT_FEATURES_LIMIT="100")
    proc = _spawn([str(venv / "bin" / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "2", "--log-level", "warning"], env,
                  data_dir / "tipg.log")
    _wait(f"{base}/collections/public.parcel", proc)
    return Server("tipg", base, proc, base + "/collections/{coll}/items",
                  # same properties as our parcel tiles, so both write the same content
                  base + "/collections/{coll}/tiles/WebMercatorQuad/{z}/{x}/{y}"
                         "?properties=id,cadastral_number,land_category,permitted_use,area_m2,"
                         "district_id",
                  {"parcels": "public.parcel"})


@dataclass
class Result:
    """Timings of one pass of the request list against one server."""

    server: str
    seconds: float
    latencies: list[float]
    errors: int
    sizes: list[int]

    @property
    def rps(self) -> float:
        """Requests per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def run_pass(name: str, urls: list[str], concurrency: int,
             headers: dict[str, str] | None = None) -> Result:
    """Fetch every URL with ``concurrency`` client threads; time each request.

    ``headers`` go with every request (e.g. the same Accept-Encoding to every server).
    """
    import requests

    session = requests.Session()
    session.headers.update(headers or {})
    adapter = requests.adapters.HTTPAdapter(pool_connections=concurrency,
                                            pool_maxsize=concurrency)
    session.mount("http://", adapter)
    session.headers["Accept-Encoding"] = ACCEPT_ENCODING

    def one(u: str) -> tuple[float, int, int]:
        t = time.perf_counter()
        r = session.get(u, timeout=300)
        body = r.content
        return time.perf_counter() - t, r.status_code, len(body)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        out = list(ex.map(one, urls))
    secs = time.perf_counter() - t0
    return Result(name, secs, [o[0] for o in out], sum(1 for o in out if o[1] != 200),
                  [o[2] for o in out])


def pct(values: list[float], p: float) -> float:
    """Percentile p (0..100) of values."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def summarize(results: list[Result]) -> dict[str, dict[str, float]]:
    """Per server: median req/s over passes, p50/p95 latency (ms) over all requests."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r.server for r in results):
        rs = [r for r in results if r.server == name]
        lat = [x for r in rs for x in r.latencies]
        out[name] = {"rps": statistics.median(r.rps for r in rs),
                     "p50_ms": pct(lat, 50) * 1000, "p95_ms": pct(lat, 95) * 1000,
                     "errors": sum(r.errors for r in rs), "passes": len(rs),
                     "requests": len(lat)}
    return out


def print_table(title: str, summary: dict[str, dict[str, float]], base: str = "ours") -> str:
    """Print (and return) a markdown table with ratios relative to ``base``."""
    lines = ["", f"### {title}", "", f"Every request sent `Accept-Encoding: {ACCEPT_ENCODING}`.", "",
             "| server | req/s | p50 ms | p95 ms | errors | ours / this (req/s) |",
             "|---|---:|---:|---:|---:|---:|"]
    ref = summary.get(base, {}).get("rps", 0.0)
    for name, s in summary.items():
        ratio = ref / s["rps"] if s["rps"] else float("inf")
        lines.append(f"| {name} | {s['rps']:.1f} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} |"
                     f" {int(s['errors'])} | {ratio:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def dump(path: Path, data: Any) -> None:
    """Write JSON next to the results."""
    path.write_text(json.dumps(data, indent=2, default=str))
