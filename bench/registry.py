"""Registry operation timings on a throwaway demo city (own cluster under $CADASTRE_DATA_DIR).

    CADASTRE_DATA_DIR=/tmp/cg-bench .venv/bin/python bench/registry.py --parcels 20000 --n 50

Measures, per operation, the median and 95th percentile wall time of the registry service
(dry-run split, split, transfer in shares, encumbrance register/release) and of OGC API
Part 4 PATCH with If-Match through the Flask app; writes bench/results/registry.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cadastre_gis import demo, migrate, registry  # noqa: E402
from cadastre_gis.cluster import Cluster  # noqa: E402
from cadastre_gis.db import get_engine  # noqa: E402
from cadastre_gis.settings import Settings  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402

DOC = {"kind": "hokim_decision", "number": "BENCH-1"}


def stats(xs: list[float]) -> str:
    """Median and p95 in milliseconds."""
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return f"{statistics.median(xs) * 1000:.1f} | {p95 * 1000:.1f}"


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=20000)
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    base = Settings.from_env()
    cluster = Cluster(base)
    cluster.start()
    server = cluster.url("postgres")
    url = create_database(server, "cadastre_bench")
    try:
        migrate.upgrade(url)
        s = Settings(database_url=url, data_dir=base.data_dir, secret_key="bench")
        t0 = time.perf_counter()
        demo.generate(s, parcels=args.parcels, seed=42)
        load = time.perf_counter() - t0
        eng = get_engine(s)
        with eng.connect() as c:
            rows = c.execute(text("""
                SELECT p.cadastral_number, ST_AsText(ST_MakeLine(
                         ST_Translate(ST_Centroid(p.geom), -300, -0.3),
                         ST_Translate(ST_Centroid(p.geom), 300, 0.4)))
                  FROM parcel p WHERE p.status = 'active' AND NOT EXISTS (
                    SELECT 1 FROM "right" r WHERE r.parcel_id = p.id AND r.kind = 'arrest'
                       AND r.status = 'active')
                   AND (SELECT count(*) FROM "right" r WHERE r.parcel_id = p.id
                        AND r.kind = 'ownership' AND r.status = 'active') = 1
                 ORDER BY p.id LIMIT :n"""), {"n": 3 * args.n}).all()
        results: dict[str, list[float]] = {k: [] for k in (
            "split (dry run)", "split", "transfer 1/2 to a new person", "encumbrance register",
            "encumbrance release", "Part 4 PATCH with If-Match (bearer token)")}

        @contextmanager
        def timer(key: str) -> Iterator[None]:
            t = time.perf_counter()
            yield
            results[key].append(time.perf_counter() - t)

        for i, (num, line) in enumerate(rows[: args.n]):
            with eng.begin() as c, timer("split (dry run)"):
                registry.split_parcel(c, num, cut_line=line, srid=32642, document=DOC,
                                      dry_run=True)
            with eng.begin() as c, timer("split"):
                registry.split_parcel(c, num, cut_line=line, srid=32642, document=DOC)
            num2 = rows[args.n + i][0]
            with eng.begin() as c:
                owner = c.execute(text("SELECT r.party_id FROM \"right\" r JOIN parcel p ON"
                                       " p.id = r.parcel_id WHERE p.cadastral_number = :n AND"
                                       " p.status = 'active' AND r.kind = 'ownership' AND"
                                       " r.status = 'active'"), {"n": num2}).scalar()
            with eng.begin() as c, timer("transfer 1/2 to a new person"):
                registry.transfer(c, num2, from_party=owner,
                                  document={"kind": "sale_contract", "number": "B"},
                                  to=[{"party": {"pinfl": f"39{i:012d}", "full_name": "Bench"},
                                       "share": "1/2"}])
            with eng.begin() as c, timer("encumbrance register"):
                res = registry.register_encumbrance(c, num2, "mortgage", holder="Bank",
                                                    amount_uzs=1e6, document=DOC)
            with eng.begin() as c, timer("encumbrance release"):
                registry.release_encumbrance(c, res.rights[0]["id"], document={"number": "R"})

        from web import create_app

        client = create_app(s).test_client()
        from cadastre_gis import accounts

        # A bearer token, as QGIS's APIHeader sends (Basic with a password would time argon2).
        auth = {"Authorization": "Bearer " + accounts.create_token(s, "registrar", label="bench")}
        with eng.connect() as c:
            ids = c.execute(text("SELECT id FROM parcel WHERE status = 'active' AND district_id = 9"
                                 " ORDER BY id LIMIT :n"), {"n": args.n}).scalars().all()
        for pid in ids:
            url = f"/ogc/collections/parcels/items/{pid}"
            etag = client.get(url).headers["ETag"]
            t = time.perf_counter()
            r = client.patch(url, data=json.dumps({"type": "Feature",
                                                   "properties": {"address": "bench"}}),
                             content_type="application/geo+json", headers={**auth, "If-Match": etag})
            results["Part 4 PATCH with If-Match (bearer token)"].append(time.perf_counter() - t)
            assert r.status_code == 204, r.get_data(as_text=True)
        lines = [f"# Registry operations ({args.parcels} demo parcels, n={args.n} each)", "",
                 f"Demo city load (COPY, checked by every trigger incl. the district trigger):"
                 f" {load:.1f} s", "", "| operation | median ms | p95 ms |", "|---|---|---|"]
        lines += [f"| {k} | {stats(v)} |" for k, v in results.items() if v]
        lines += ["", "Command: `CADASTRE_DATA_DIR=/tmp/cg-bench .venv/bin/python bench/registry.py"
                      f" --parcels {args.parcels} --n {args.n}` (2 shared cores)."]
        out = ROOT / "bench" / "results" / "registry.md"
        out.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
    finally:
        from cadastre_gis.db import _engine

        _engine.cache_clear()
        drop_database(server, url)


if __name__ == "__main__":
    main()
