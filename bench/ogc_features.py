"""Benchmark OGC API Features: ours vs stock pygeoapi vs TiPG, same seeded request list.

    .venv/bin/python bench/ogc_features.py --parcels 300000 --requests 200 --rounds 3

Makes (or reuses) a demo database under --data-dir, starts the three servers with 2 workers
each, runs the request list against them in alternation and prints req/s, p50/p95 and the
ratios, overall and per group: limit 100, limit 1000, dense windows (around a random parcel)
and sparse windows (anywhere in the city's extent, often nearly empty). Every server gets
the same ``Accept-Encoding`` (``--accept-encoding``, default gzip). Targets (issue 14): ours
>= 5x stock pygeoapi and >= 2x TiPG at limit 100 and at limit 1000; the last lines say
which hold. Quick check: --parcels 3000 --requests 40 --rounds 1.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._servers import (  # noqa: E402
    dump,
    ensure_database,
    log,
    print_table,
    run_pass,
    start_ours,
    start_pygeoapi,
    start_tipg,
    summarize,
)

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
FILTER = "permitted_use = 'individual_housing'"
CITY = (69.13, 41.19, 69.43, 41.40)
"""Extent of the demo city (lon/lat) for the sparse random windows."""
TARGETS = {"pygeoapi": 5.0, "tipg": 2.0}


def centres(url: str, n: int, seed: int) -> list[tuple[float, float]]:
    """n seeded random parcel centres (lon, lat)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.connect() as conn:
        top = conn.execute(text("SELECT max(id) FROM parcel")).scalar()
        rng = random.Random(seed)
        ids = [rng.randint(1, top) for _ in range(n * 2)]
        rows = conn.execute(text(
            "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_Transform(ST_PointOnSurface(geom),"
            " 4326) AS p FROM parcel WHERE id = ANY(:ids)) s"), {"ids": ids}).all()
    eng.dispose()
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    return [by_id[i] for i in ids if i in by_id][:n]


def request_list(url: str, n: int, seed: int) -> list[dict]:
    """The seeded request mix: half dense windows (300 m / 1 km around a random parcel), half
    sparse windows (300 m / 1 km / 3 km anywhere in the city's extent); limit 100/1000,
    CRS84/SK-42, 25 % with a CQL2 filter."""
    rng = random.Random(seed)
    out = []
    dense = centres(url, n - n // 2, seed)
    sparse = [(rng.uniform(CITY[0], CITY[2]), rng.uniform(CITY[1], CITY[3]))
              for _ in range(n // 2)]
    points = [("dense", p) for p in dense] + [("sparse", p) for p in sparse]
    rng.shuffle(points)
    for kind, (lon, lat) in points:
        size = rng.choice([300, 1000] if kind == "dense" else [300, 1000, 3000])
        dlat = size / 2 / 111_320
        dlon = dlat / 0.7524  # cos(41.2°)
        out.append({
            "bbox": f"{lon - dlon:.6f},{lat - dlat:.6f},{lon + dlon:.6f},{lat + dlat:.6f}",
            "size": size,
            "kind": kind,
            "limit": rng.choice([100, 1000]),
            "crs": rng.choice([None, "28412"]),
            "filter": FILTER if rng.random() < 0.25 else None,
        })
    return out


def to_url(server: str, items: str, coll: str, req: dict) -> str:
    """The request as a URL for one server."""
    q = {"bbox": req["bbox"], "limit": req["limit"], "f": "json"}
    if req["crs"]:
        q["crs"] = EPSG + req["crs"]
    if req["filter"]:
        q["filter"] = req["filter"]
        if server == "tipg":
            q["filter-lang"] = "cql2-text"
    if server == "tipg":
        q.pop("f")
    return items.format(coll=coll) + "?" + urlencode(q)


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/cadastre-bench"))
    ap.add_argument("--parcels", type=int, default=300000)
    ap.add_argument("--seed", type=int, default=42, help="demo city seed")
    ap.add_argument("--request-seed", type=int, default=7)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--servers", default="ours,pygeoapi,tipg")
    ap.add_argument("--port", type=int, default=18410, help="first of three ports")
    ap.add_argument("--output", type=Path, default=None, help="write the markdown table here")
    ap.add_argument("--accept-encoding", default="gzip",
                    help="Accept-Encoding sent to every server ('identity' for none)")
    args = ap.parse_args()

    url = ensure_database(args.data_dir, args.parcels, args.seed)
    reqs = request_list(url, args.requests, args.request_seed)
    names = args.servers.split(",")
    servers = []
    try:
        for i, name in enumerate(names):
            log(f"starting {name}")
            start = {"ours": lambda p: start_ours(args.data_dir, p),
                     "pygeoapi": lambda p: start_pygeoapi(args.data_dir, p, url),
                     "tipg": lambda p: start_tipg(args.data_dir, p, url)}[name]
            servers.append(start(args.port + i))
        urls = {s.name: [to_url(s.name, s.items, s.collections["parcels"], r) for r in reqs]
                for s in servers}
        # warm-up (connections, caches) and a correctness cross-check of the first requests
        import requests

        headers = {"Accept-Encoding": args.accept_encoding}
        counts = {}
        for s in servers:
            run_pass(s.name, urls[s.name][:10], args.concurrency, headers)
            counts[s.name] = [len(requests.get(u, timeout=300, headers=headers).json()
                                  .get("features", [])) for u in urls[s.name][:8]]
        log(f"features returned by the first requests: {counts}")
        results = []
        for rnd in range(args.rounds):
            order = servers if rnd % 2 == 0 else list(reversed(servers))
            for s in order:
                res = run_pass(s.name, urls[s.name], args.concurrency, headers)
                log(f"round {rnd + 1} {s.name}: {res.rps:.1f} req/s, errors {res.errors}")
                results.append(res)
        summary = summarize(results)
        groups = {}
        for key, pred in [("limit 100", lambda r: r["limit"] == 100),
                          ("limit 1000", lambda r: r["limit"] == 1000),
                          ("dense windows", lambda r: r["kind"] == "dense"),
                          ("sparse windows", lambda r: r["kind"] == "sparse")]:
            idx = [i for i, r in enumerate(reqs) if pred(r)]
            sub = []
            for res in results:
                lat = [res.latencies[i] for i in idx]
                sub.append(type(res)(res.server, sum(lat) / args.concurrency, lat,
                                     0, []))
            groups[key] = summarize(sub)
    finally:
        for s in servers:
            s.stop()
    title = (f"Features: {args.parcels} parcels, {args.requests} requests x {args.rounds} "
             f"rounds, concurrency {args.concurrency}")
    text = print_table(title, summary)
    for key, sm in groups.items():
        text += print_table(f"{key} only (req/s estimated from summed latency / concurrency)",
                            sm)
    text += f"\nfeatures returned by the first 8 requests: {counts}\n"
    text += f"Accept-Encoding sent to every server: {args.accept_encoding}\n\n"
    text += targets(summary, groups)
    if args.output:
        args.output.write_text(text)
    dump(args.data_dir / "features.json", {"summary": summary, "groups": groups,
                                          "requests": reqs[:20]})


def targets(summary: dict, groups: dict) -> str:
    """One line per target: the measured ratio at limit 100 / 1000 and whether it holds."""
    lines = []
    for other, want in TARGETS.items():
        for key in ("limit 100", "limit 1000"):
            sm = groups.get(key, {})
            if "ours" not in sm or other not in sm or not sm[other]["rps"]:
                continue
            ratio = sm["ours"]["rps"] / sm[other]["rps"]
            lines.append(f"- {key}: ours / {other} = {ratio:.2f}x (target >= {want:g}x):"
                         f" {'met' if ratio >= want else 'NOT met'}")
    text = "Targets:\n" + "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


if __name__ == "__main__":
    main()
