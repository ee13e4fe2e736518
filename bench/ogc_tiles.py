"""Benchmark vector tiles: ours vs TiPG over the same seeded tiles at z14-z16.

    .venv/bin/python bench/ogc_tiles.py --parcels 300000 --tiles 200 --rounds 3
    .venv/bin/python bench/ogc_tiles.py --hot --parcels 300000

Cold (default): every tile is distinct, so ours draws each one (the cache holds nothing yet:
it is emptied first). ``--hot``: the same 50 city tiles requested over and over (after one
warm-up pass each), as when many citizens look at the same part of the city: ours answers from
the tile cache, TiPG draws every tile again. Every request sends the same
``Accept-Encoding`` (``--accept-encoding``, default gzip) to both servers.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import morecantile  # noqa: E402

from bench._servers import (  # noqa: E402
    dump,
    ensure_database,
    log,
    print_table,
    run_pass,
    start_ours,
    start_tipg,
    summarize,
)
from bench.ogc_features import centres  # noqa: E402


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/cadastre-bench"))
    ap.add_argument("--parcels", type=int, default=300000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--request-seed", type=int, default=11)
    ap.add_argument("--tiles", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--servers", default="ours,tipg")
    ap.add_argument("--port", type=int, default=18420)
    ap.add_argument("--output", type=Path, default=None)
    ap.add_argument("--hot", action="store_true",
                    help="the same --hot-tiles tiles requested --hot-rounds times")
    ap.add_argument("--hot-tiles", type=int, default=50)
    ap.add_argument("--hot-rounds", type=int, default=20)
    ap.add_argument("--accept-encoding", default="gzip")
    args = ap.parse_args()
    headers = {"Accept-Encoding": args.accept_encoding}
    if args.hot:
        args.tiles = args.hot_tiles

    url = ensure_database(args.data_dir, args.parcels, args.seed)
    tms = morecantile.tms.get("WebMercatorQuad")
    rng = random.Random(args.request_seed)
    tiles = [tms.tile(lon, lat, rng.choice([14, 15, 16]))
             for lon, lat in centres(url, args.tiles, args.request_seed)]
    servers = []
    if not args.hot:  # cold: nothing cached from an earlier run
        import shutil

        shutil.rmtree(args.data_dir / "tiles", ignore_errors=True)
    try:
        for i, name in enumerate(args.servers.split(",")):
            log(f"starting {name}")
            start = {"ours": lambda p: start_ours(args.data_dir, p),
                     "tipg": lambda p: start_tipg(args.data_dir, p, url)}[name]
            servers.append(start(args.port + i))
        urls = {s.name: [s.tiles.format(coll=s.collections["parcels"], z=t.z, x=t.x, y=t.y)
                         for t in tiles] for s in servers}
        for s in servers:  # warm-up (hot: every tile twice, so each of our workers has
            for _ in range(2 if args.hot else 1):  # connected its listener and cached them)
                run_pass(s.name, urls[s.name] if args.hot else urls[s.name][:10],
                         args.concurrency, headers)
        if args.hot:
            urls = {k: v * args.hot_rounds for k, v in urls.items()}
        results = []
        for rnd in range(args.rounds):
            order = servers if rnd % 2 == 0 else list(reversed(servers))
            for s in order:
                res = run_pass(s.name, urls[s.name], args.concurrency, headers)
                log(f"round {rnd + 1} {s.name}: {res.rps:.1f} tiles/s, errors {res.errors}")
                results.append(res)
        sizes = {r.server: sum(r.sizes) // max(1, len(r.sizes)) for r in results}
    finally:
        for s in servers:
            s.stop()
    summary = summarize(results)
    what = (f"hot: the same {args.tiles} tiles z14-z16 x {args.hot_rounds} per round"
            if args.hot else f"{args.tiles} tiles z14-z16")
    text = print_table(f"Tiles: {args.parcels} parcels, {what} x {args.rounds} rounds,"
                       f" concurrency {args.concurrency}, Accept-Encoding: "
                       f"{args.accept_encoding}", summary)
    text += f"\nmean tile size (bytes, decoded): {sizes}\n"
    print(f"mean tile size (bytes, decoded): {sizes}")
    if "tipg" in summary and "ours" in summary and summary["tipg"]["rps"]:
        ratio = summary["ours"]["rps"] / summary["tipg"]["rps"]
        line = f"ours / TiPG: {ratio:.1f}x" + (" (target >= 5x)" if args.hot else "")
        print(line)
        text += line + "\n"
    if args.output:
        with args.output.open("a") as fh:
            fh.write(text)
    dump(args.data_dir / ("tiles-hot.json" if args.hot else "tiles.json"),
         {"summary": summary, "sizes": sizes})


if __name__ == "__main__":
    main()
