"""City-load benchmark: citizens, OGC clients, notaries, registrars, operators and Open311
clients together against `cadastre-gis serve`, with locust (as a library, headless).

Scenarios, one run each on the same database and the same server settings:
  cache    the tile cache on (the default);
  nocache  CADASTRE_TILE_CACHE_MB=0: every tile rendered again;
  replica  `cadastre-gis db replica up` + CADASTRE_REPLICA_URLS: anonymous reads on the
           standby (proved by the transactions each server counted), the rest on the primary.

Every request sends ``Accept-Encoding: br, gzip`` (the same to every scenario). Prints one
table per scenario: per endpoint the requests, throughput, p50, p95 and errors; writes
bench/results/city_load.md. The load generator runs on the same 2 shared cores as the
server and PostgreSQL, so figures are a floor, not a capacity.

    .venv/bin/python bench/city_load.py --parcels 50000 --users 60 --duration 60
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import locust  # noqa: F401, I001 - first: locust monkey-patches the standard library (gevent)
from locust import HttpUser, between, events, task
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._servers import CLI, ROOT, ensure_database, env_for, log  # noqa: E402

ACCEPT_ENCODING = "br, gzip"
DATA: dict[str, Any] = {}
"""Parcels, tokens and services picked from the database before the run."""


def _auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {DATA['tokens'][role]}"}


class Citizen(HttpUser):
    """The public portal: map page, vector tiles around a parcel, search, parcel card."""

    weight = 60
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.client.headers["Accept-Encoding"] = ACCEPT_ENCODING

    @task(1)
    def portal(self) -> None:
        self.client.get("/", headers={"Accept": "text/html"}, name="portal /")

    @task(6)
    def tiles(self) -> None:
        p = random.choice(DATA["parcels"])
        z = random.choice((14, 15, 16))
        x, y = p["tiles"][str(z)]
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            layer = random.choice(("parcels", "parcels", "buildings"))
            self.client.get(f"/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{y + dy}/"
                            f"{x + dx}?f=mvt", name=f"tile {layer} z{z}")

    @task(2)
    def search(self) -> None:
        p = random.choice(DATA["parcels"])
        q = p["number"][:random.choice((11, 14, 20))]
        self.client.get("/api/search", params={"q": q}, name="search")

    @task(2)
    def card(self) -> None:
        p = random.choice(DATA["parcels"])
        self.client.get(f"/api/parcels/{p['number']}", name="parcel card")


class OgcClient(HttpUser):
    """Other systems reading open data: OGC items pages in a bbox."""

    weight = 10
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.client.headers["Accept-Encoding"] = ACCEPT_ENCODING

    @task
    def items(self) -> None:
        p = random.choice(DATA["parcels"])
        lon, lat = p["lon"], p["lat"]
        bbox = f"{lon - 0.004:.5f},{lat - 0.003:.5f},{lon + 0.004:.5f},{lat + 0.003:.5f}"
        self.client.get("/ogc/collections/parcels/items",
                        params={"bbox": bbox, "limit": 100, "f": "json"},
                        name="ogc items bbox")


class Notary(HttpUser):
    """Signed parcel extracts (JSON)."""

    weight = 4
    wait_time = between(3, 8)

    def on_start(self) -> None:
        self.client.headers["Accept-Encoding"] = ACCEPT_ENCODING

    @task
    def extract(self) -> None:
        p = random.choice(DATA["parcels"])
        body = {"inputs": {"cadastral_number": p["number"], "case_number": "B-1",
                           "purpose": "sale"}}
        self.client.post("/ogc/processes/parcel-extract/execution", json=body,
                         headers=_auth("notary"), name="notary extract")


class Registrar(HttpUser):
    """OGC API Part 4 edits: GET the item (ETag), PATCH it with If-Match."""

    weight = 4
    wait_time = between(3, 8)

    def on_start(self) -> None:
        self.client.headers["Accept-Encoding"] = ACCEPT_ENCODING

    @task
    def edit(self) -> None:
        pid = random.choice(DATA["registrar_parcels"])
        url = f"/ogc/collections/parcels/items/{pid}"
        r = self.client.get(url, headers=_auth("registrar"), name="registrar GET item")
        etag = r.headers.get("ETag")
        if not etag:
            return
        body = json.dumps({"type": "Feature",
                           "properties": {"address": f"bench {random.randint(1, 10**6)}"}})
        with self.client.patch(url, data=body, name="registrar PATCH item", catch_response=True,
                               headers={**_auth("registrar"), "If-Match": etag,
                                        "Content-Type": "application/merge-patch+json"}) as r:
            if r.status_code == 412:
                r.success()  # another registrar edited the same parcel first: a correct answer


class Operator(HttpUser):
    """Situation-center operators: one live stream held open, incident lists and triage."""

    weight = 12
    wait_time = between(2, 5)

    def on_start(self) -> None:
        self.client.headers["Accept-Encoding"] = ACCEPT_ENCODING
        self._stream = gevent.spawn(self._hold_stream)

    def on_stop(self) -> None:
        self._stream.kill(block=False)

    def _hold_stream(self) -> None:
        while True:
            with self.client.get("/situation/stream", params={"max_seconds": 30},
                                 headers=_auth("operator"), stream=True, name="SSE stream opened (held 30 s)",
                                 catch_response=True) as r:
                try:
                    for _chunk in r.iter_content(chunk_size=None):
                        pass
                except Exception as exc:  # noqa: BLE001 - reported as a failure
                    r.failure(exc)

    @task(3)
    def incidents(self) -> None:
        self.client.get("/situation/api/incidents.geojson", headers=_auth("operator"),
                        name="operator incidents")

    @task(1)
    def triage(self) -> None:
        iid = random.choice(DATA["incidents"])
        r = self.client.get(f"/situation/api/incidents/{iid}", headers=_auth("operator"),
                            name="operator incident")
        if r.status_code != 200:
            return
        version = r.json().get("version")
        with self.client.post(f"/situation/api/incidents/{iid}/triage", catch_response=True,
                              json={"priority": random.randint(1, 4), "version": version},
                              headers=_auth("operator"), name="operator triage") as r2:
            if r2.status_code in (409, 412, 422):
                r2.success()  # a concurrent edit or a state that no longer allows triage


class Open311(HttpUser):
    """Other systems posting service requests (GeoReport v2)."""

    weight = 10
    wait_time = between(2, 6)

    def on_start(self) -> None:
        self.client.headers["Accept-Encoding"] = ACCEPT_ENCODING

    @task(1)
    def post(self) -> None:
        p = random.choice(DATA["parcels"])
        self.client.post("/open311/v2/requests.json", name="open311 POST", data={
            "api_key": DATA["tokens"]["open311"], "service_code": random.choice(DATA["services"]),
            "lat": f"{p['lat']:.6f}", "long": f"{p['lon']:.6f}",
            "description": "bench: street light out"})

    @task(2)
    def services(self) -> None:
        self.client.get("/open311/v2/services.json", name="open311 services")


USERS = [Citizen, OgcClient, Notary, Registrar, Operator, Open311]


# -- set-up --------------------------------------------------------------------------------

def prepare(data_dir: Path, parcels: int, seed: int) -> str:
    """The bench database, tokens and the sample of parcels the users pick from."""
    import morecantile
    from sqlalchemy import create_engine, text

    from cadastre_gis import accounts
    from cadastre_gis.settings import Settings

    url = ensure_database(data_dir, parcels, seed)
    settings = Settings(data_dir=data_dir)
    DATA["tokens"] = {role: accounts.create_token(settings, name, label="city-load bench")
                      for role, name in (("notary", "notary"), ("registrar", "registrar"),
                                         ("operator", "operator"), ("open311", "admin"))}
    eng = create_engine(url)
    rng = random.Random(seed)
    tms = morecantile.tms.get("WebMercatorQuad")
    with eng.connect() as c:
        rows = c.execute(text(
            "SELECT cadastral_number, ST_X(p) lon, ST_Y(p) lat FROM (SELECT cadastral_number,"
            " ST_Transform(ST_PointOnSurface(geom), 4326) p FROM parcel"
            " WHERE status = 'active' ORDER BY md5(id::text) LIMIT 2000) s")).all()
        DATA["parcels"] = [
            {"number": n, "lon": lon, "lat": lat,
             "tiles": {str(z): (tms.tile(lon, lat, z).x, tms.tile(lon, lat, z).y)
                       for z in (14, 15, 16)}} for n, lon, lat in rows]
        DATA["registrar_parcels"] = list(c.execute(text(
            "SELECT p.id FROM parcel p JOIN account a ON a.username = 'registrar'"
            " WHERE p.status = 'active' AND p.district_id = ANY(a.district_ids)"
            " ORDER BY md5(p.id::text) LIMIT 500")).scalars())
        DATA["incidents"] = list(c.execute(text(
            "SELECT id FROM incident WHERE status IN ('new', 'triaged') ORDER BY id DESC"
            " LIMIT 300")).scalars())
        DATA["services"] = list(c.execute(text(
            "SELECT code FROM incident_category WHERE public ORDER BY code")).scalars())
    eng.dispose()
    rng.shuffle(DATA["parcels"])
    return url


class Server:
    """`cadastre-gis serve` on the bench data dir with extra environment."""

    def __init__(self, data_dir: Path, port: int, workers: int, **env: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        full = env_for(data_dir, CADASTRE_OPEN311_RATE="1000000", **env)
        self.proc = subprocess.Popen([CLI, "serve", "--host", "127.0.0.1", "--port", str(port),
                                      "--workers", str(workers)], env=full,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        import requests

        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code in (200, 503):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.5)
        for path in ("/", "/ogc/", "/ogc/collections/parcels/items?limit=1"):
            requests.get(self.url + path, timeout=60)

    def stop(self) -> None:
        """Stop the server and its workers."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


def xacts(url: str) -> int:
    """Transactions committed in the bench database of the server at ``url``."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return int(c.execute(text("SELECT xact_commit FROM pg_stat_database"
                                      " WHERE datname = current_database()")).scalar())
    finally:
        eng.dispose()


def run_load(host: str, users: int, spawn_rate: float, duration: float) -> dict[str, Any]:
    """One headless locust run; per-endpoint figures after the ramp-up."""
    env = Environment(user_classes=USERS, host=host, events=events)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=spawn_rate)
    gevent.sleep(users / spawn_rate + 2)
    env.stats.reset_all()
    t0 = time.monotonic()
    gevent.sleep(duration)
    elapsed = time.monotonic() - t0
    rows = []
    for (name, method), e in sorted(env.stats.entries.items()):
        if e.num_requests == 0:
            continue
        rows.append({"name": name, "method": method, "requests": e.num_requests,
                     "rps": e.num_requests / elapsed,
                     "p50": e.get_response_time_percentile(0.5),
                     "p95": e.get_response_time_percentile(0.95),
                     "errors": e.num_failures})
    errors = {f"{e.method} {e.name}: {e.error}"[:160]: e.occurrences
              for e in env.stats.errors.values()}
    total = env.stats.total
    runner.quit()
    return {"rows": rows, "errors": errors, "elapsed": elapsed,
            "total": {"requests": total.num_requests, "rps": total.num_requests / elapsed,
                      "errors": total.num_failures}}


def table(result: dict[str, Any]) -> list[str]:
    """Markdown lines for one scenario."""
    lines = ["| endpoint | requests | req/s | p50 ms | p95 ms | errors |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['method']} {r['name']} | {r['requests']} | {r['rps']:.1f} | "
                     f"{r['p50']:.0f} | {r['p95']:.0f} | {r['errors']} |")
    t = result["total"]
    lines.append(f"| **all** | {t['requests']} | {t['rps']:.1f} | | | {t['errors']} |")
    for k, v in result["errors"].items():
        lines.append(f"\nerror ×{v}: `{k}`")
    return lines


def main() -> None:
    """Run the scenarios and write bench/results/city_load.md."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench")
    ap.add_argument("--parcels", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--spawn-rate", type=float, default=10)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=5077)
    ap.add_argument("--scenarios", default="cache,nocache,replica")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "city_load.md")
    args = ap.parse_args()
    data_dir = args.data_dir.resolve()
    url = prepare(data_dir, args.parcels, args.seed)
    out: list[str] = [
        "# City load (bench/city_load.py)", "",
        f"{args.parcels} parcels, {args.users} simulated users (citizens 60 %, OGC clients 10 %,"
        f" Open311 10 %, operators 12 % each holding a live stream, notaries 4 %, registrars"
        f" 4 %), {args.duration:.0f} s measured after ramp-up, `cadastre-gis serve` with"
        f" {args.workers} workers; every request sends `Accept-Encoding: {ACCEPT_ENCODING}`."
        " Load generator, server and PostgreSQL share the same 2 cores.", ""]
    for scenario in args.scenarios.split(","):
        env: dict[str, str] = {}
        replica_url = None
        if scenario == "nocache":
            env["CADASTRE_TILE_CACHE_MB"] = "0"
        if scenario == "replica":
            subprocess.run([CLI, "db", "replica", "up"], env=env_for(data_dir), check=True,
                           stdout=subprocess.DEVNULL)
            from cadastre_gis.cluster import ReplicaCluster
            from cadastre_gis.settings import Settings

            replica_url = ReplicaCluster(Settings(data_dir=data_dir)).url()
            env["CADASTRE_REPLICA_URLS"] = replica_url
        log(f"scenario {scenario}: starting the server")
        server = Server(data_dir, args.port, args.workers, **env)
        try:
            before = (xacts(url), xacts(replica_url) if replica_url else 0)
            log(f"scenario {scenario}: {args.users} users for {args.duration:.0f} s")
            result = run_load(server.url, args.users, args.spawn_rate, args.duration)
            after = (xacts(url), xacts(replica_url) if replica_url else 0)
        finally:
            server.stop()
        out += [f"## {scenario}", ""] + table(result) + [""]
        if replica_url:
            out += [f"Transactions during the run: primary {after[0] - before[0]}, replica "
                    f"{after[1] - before[1]} (read-only work routed to the standby).", ""]
        print("\n".join(out[-len(table(result)) - 4:]), flush=True)
    if "replica" in args.scenarios:
        subprocess.run([CLI, "db", "replica", "down"], env=env_for(data_dir), check=False,
                       stdout=subprocess.DEVNULL)
    out += ["Command: `.venv/bin/python bench/city_load.py " + " ".join(sys.argv[1:]) + "`", ""]
    args.out.write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
