"""Benchmark: cost of 0008's district rules on a bulk parcel insert (one statement).

Creates a fresh migrated database with the demo's 12 districts (no parcels), builds N
parcels (20 m squares, 1 m apart) over the city with numbers naming the district that
holds each square, and times ``INSERT INTO parcel SELECT ...`` with every trigger, then with
the district-by-geometry statement trigger (``parcel_25_district_ins``) disabled, and prints
both and the difference. The app-scope row trigger runs its fast path in both (no acting
account), as loaders do.

    CADASTRE_TEST_DATA_DIR=$PWD/var/test .venv/bin/python bench/district_rule.py [--parcels 50000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GRID = """
CREATE TEMP TABLE grid AS
WITH c AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(69.26, 41.30), 4326), 32642) AS p),
     g AS (SELECT i, j, ST_MakeEnvelope(ST_X(p) - :half + i * 20, ST_Y(p) - :half + j * 20,
                                        ST_X(p) - :half + i * 20 + 19, ST_Y(p) - :half + j * 20 + 19,
                                        32642) AS geom
             FROM c, generate_series(0, :side - 1) i, generate_series(0, :side - 1) j)
SELECT row_number() OVER (ORDER BY d.code, g.i, g.j) AS k, d.code, g.geom
  FROM g JOIN district d ON ST_CoveredBy(g.geom, d.geom)
 LIMIT :n
"""

INSERT = """
INSERT INTO parcel (cadastral_number, geom)
SELECT format('10:%s:%s:%s:01:%s', code, lpad((20 + k / 810000)::text, 2, '0'),
              lpad((10 + (k / 9000) % 90)::text, 2, '0'), lpad((1 + k % 9000)::text, 4, '0')),
       ST_Multi(geom)
  FROM grid
"""


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=50_000)
    args = ap.parse_args()
    from cadastre_gis import demo, migrate
    from cadastre_gis.cluster import Cluster
    from cadastre_gis.settings import Settings
    from tests.conftest import create_database, drop_database

    data = Path(os.environ.get("CADASTRE_TEST_DATA_DIR", ROOT / "var" / "test"))
    server = Cluster(Settings(data_dir=data))
    server.start()
    server_url = server.url("postgres")
    url = create_database(server_url, "cadastre_bench_rule")
    try:
        migrate.upgrade(url)
        eng = create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
        import shapely

        with eng.begin() as c:  # the demo's 12 district cells, no parcels
            for k, ((code, name, ru, _lon, _lat), poly) in enumerate(
                    zip(demo.DISTRICTS, demo.district_polygons(), strict=True), start=1):
                c.execute(text("INSERT INTO district (id, code, name, name_ru, geom) VALUES"
                               " (:i, :c, :n, :r, ST_Multi(ST_GeomFromText(:g, 32642)))"),
                          {"i": k, "c": code, "n": name, "r": ru, "g": shapely.to_wkt(poly)})
        side = int((args.parcels * 1.6) ** 0.5) + 1
        times = {}
        for label, disable in (("all rules", False), ("without district rule", True)):
            with eng.connect() as c, c.begin():
                c.execute(text("DELETE FROM parcel WHERE cadastral_number LIKE '10:__:2_:%'"))
                c.execute(text(GRID), {"half": side * 10, "side": side, "n": args.parcels})
                n = c.execute(text("SELECT count(*) FROM grid")).scalar()
                if disable:
                    c.execute(text("ALTER TABLE parcel DISABLE TRIGGER parcel_25_district_ins"))
                t0 = time.perf_counter()
                c.execute(text(INSERT))
                times[label] = time.perf_counter() - t0
                c.rollback()
            print(f"{label:>24}: {n} parcels in {times[label]:.2f} s")
        d = times["all rules"] - times["without district rule"]
        print(f"{'district rule':>24}: {d:.2f} s ({1e6 * d / max(n, 1):.0f} µs per parcel)")
        eng.dispose()
    finally:
        drop_database(server_url, url)


if __name__ == "__main__":
    main()
