"""Benchmark: our loader (with every validation) vs ``ogr2ogr -f PostgreSQL`` (none).

Makes a 200 000-parcel Shapefile (a grid of 20 m squares in SK-42 / EPSG:28412 with cp1251
attributes and no .cpg, as old survey files are), creates a fresh migrated database holding
only the 12 districts, loads the file with ``cadastre-gis load parcels`` and with ogr2ogr
(into a new table, reprojected to EPSG:32642, no checks), and prints both throughputs and
the ratio.

    CADASTRE_DATA_DIR=/tmp/cgbench .venv/bin/python bench/load.py [--parcels 200000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import fiona
from fiona.crs import CRS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CENTRE_28412 = (12_523_500.0, 4_573_400.0)


def make_shapefile(path: Path, n: int, pitch: float = 20.0, gap: float = 1.0) -> None:
    """A grid of n squares (``pitch`` apart, ``gap`` metres between neighbours, like the demo
    city's plots), with cp1251 attributes and no .cpg. ``--gap 0`` makes them share edges."""
    side = pitch - gap
    cols = int(n ** 0.5) + 1
    x0 = CENTRE_28412[0] - cols * pitch / 2
    y0 = CENTRE_28412[1] - cols * pitch / 2
    schema = {"geometry": "Polygon",
              "properties": {"KAD_NOMER": "str:20", "ADRES": "str:80", "PLOSHAD": "float:12.2",
                             "KATEGORIYA": "str:40", "VID_ISP": "str:40"}}
    with fiona.open(path, "w", driver="ESRI Shapefile", schema=schema,
                    crs=CRS.from_epsg(28412), encoding="cp1251") as dst:
        batch = []
        for k in range(n):
            i, j = k % cols, k // cols
            x, y = x0 + i * pitch, y0 + j * pitch
            batch.append({
                "geometry": {"type": "Polygon", "coordinates": [[
                    (x, y), (x + side, y), (x + side, y + side), (x, y + side), (x, y)]]},
                "properties": {
                    "KAD_NOMER": f"10:09:{j // 100 % 100:02d}:{i // 100 % 100:02d}:"
                                 f"{j % 100:02d}:{i % 100 + 1:04d}",
                    "ADRES": f"г. Ташкент, Яккасарайский р-н, ул. Бобура, {k + 1}",
                    "PLOSHAD": side * side, "KATEGORIYA": "Земли населённых пунктов",
                    "VID_ISP": "Индивидуальное жилищное строительство"}})
            if len(batch) == 10000:
                dst.writerecords(batch)
                batch = []
        if batch:
            dst.writerecords(batch)
    path.with_suffix(".cpg").unlink(missing_ok=True)


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=200_000)
    ap.add_argument("--gap", type=float, default=1.0, help="metres between squares (0: shared "
                    "edges, which makes every parcel touch 8 others)")
    ap.add_argument("--keep", action="store_true", help="keep the database and file")
    args = ap.parse_args()

    from cadastre_gis import migrate
    from cadastre_gis.cluster import Cluster
    from cadastre_gis.settings import Settings
    from tests.conftest import create_database, drop_database
    from tests.loaders.conftest import add_districts

    ogr2ogr = shutil.which("ogr2ogr")
    if not ogr2ogr:
        sys.exit("ogr2ogr not found (Debian package gdal-bin)")
    settings = Settings.from_env()
    if settings.database_url:
        server = settings.database_url
    else:
        cluster = Cluster(settings)
        cluster.start()
        server = cluster.url("postgres")
    work = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    shp = work / "parcels_sk42.shp"
    t = time.perf_counter()
    make_shapefile(shp, args.parcels, gap=args.gap)
    print(f"made {shp.name}: {args.parcels} parcels in {time.perf_counter() - t:.1f} s")
    url = create_database(server, "cadastre_bench")
    try:
        migrate.upgrade(url)
        add_districts(url)
        env = {**os.environ, "CADASTRE_DATABASE_URL": url, "CADASTRE_DATA_DIR": str(work)}

        t = time.perf_counter()
        ours = subprocess.run([sys.executable, "-m", "cadastre_gis.cli", "load", "parcels",
                               str(shp), "--no-progress", "--actor", "bench"], env=env,
                              capture_output=True, text=True)
        t_ours = time.perf_counter() - t
        if ours.returncode != 0:
            sys.exit(f"our loader failed:\n{ours.stdout}\n{ours.stderr}")
        print("\n".join(ours.stdout.splitlines()[:8]))
        import json

        rpath = [ln for ln in ours.stdout.splitlines() if ln.startswith("report: ")][-1][8:]
        print("our phases (s):", json.loads(Path(rpath).read_text())["timings"])

        u = urlparse(url.replace("postgresql+psycopg2://", "postgresql://"))
        pg = (f"PG:host={u.hostname} port={u.port} dbname={u.path.lstrip('/')} "
              f"user={u.username} password={u.password}")
        t = time.perf_counter()
        ogr = subprocess.run([ogr2ogr, "-f", "PostgreSQL", pg, str(shp), "-nln", "ogr_parcel",
                              "-nlt", "MULTIPOLYGON", "-t_srs", "EPSG:32642",
                              "-lco", "GEOMETRY_NAME=geom", "-oo", "ENCODING=CP1251",
                              "--config", "PG_USE_COPY", "YES"],
                             capture_output=True, text=True)
        t_ogr = time.perf_counter() - t
        if ogr.returncode != 0:
            sys.exit(f"ogr2ogr failed:\n{ogr.stderr}")
        # Third figure: ogr2ogr appending into the registry table itself, so it pays the
        # database's own rules (row trigger, FKs, overlap and audit triggers, indexes) too.
        import psycopg2

        with psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://")) as c:
            c.cursor().execute("TRUNCATE parcel, parcel_history, audit_log CASCADE")
        sample = min(5_000, args.parcels)
        t = time.perf_counter()
        ogr_reg = subprocess.run([
            ogr2ogr, "-f", "PostgreSQL", pg, str(shp), "-append", "-nln", "parcel",
            "-limit", str(sample),
            "-nlt", "MULTIPOLYGON", "-t_srs", "EPSG:32642", "-oo", "ENCODING=CP1251",
            "-sql", f"SELECT KAD_NOMER AS cadastral_number, ADRES AS address, "
                    f"PLOSHAD AS declared_area_m2 FROM {shp.stem}",
            "-gt", "unlimited", "--config", "PG_USE_COPY", "YES"], capture_output=True, text=True)
        t_reg = time.perf_counter() - t
        # Two floors that bound what any loader built on the parts can reach here:
        # Fiona iterating the file and nothing else (one process), and the registry table's
        # own indexes (GiST, trigram GIN, btrees) taking the same rows with every trigger and
        # foreign key switched off (rolled back).
        t = time.perf_counter()
        with fiona.open(shp, encoding="cp1251") as src:
            for _feat in src:
                pass
        t_fiona = time.perf_counter() - t
        with psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://")) as c:
            cur = c.cursor()
            cur.execute("TRUNCATE parcel, parcel_history, audit_log CASCADE")
            cur.execute("SET session_replication_role = replica")
            t = time.perf_counter()
            cur.execute("INSERT INTO parcel (cadastral_number, address, declared_area_m2, geom) "
                        "SELECT kad_nomer, adres, ploshad, geom FROM ogr_parcel ORDER BY geom")
            t_floor = time.perf_counter() - t
            c.rollback()
        n = args.parcels
        print(f"ours   : {n} parcels in {t_ours:6.1f} s = {n / t_ours:8.0f} features/s "
              "(read, reproject, validate, COPY, INSERT with triggers, audit, report)")
        print(f"ogr2ogr: {n} parcels in {t_ogr:6.1f} s = {n / t_ogr:8.0f} features/s "
              "(new table, no validation)")
        if ogr_reg.returncode == 0:
            print(f"ogr2ogr into the parcel table (same rules, no report; first {sample} "
                  f"only, it is slow): {t_reg:6.1f} s = {sample / t_reg:8.0f} features/s")
        else:
            print("ogr2ogr into the parcel table failed: "
                  + (ogr_reg.stderr.strip().splitlines() or ["?"])[-1][:300])
        print(f"floors : Fiona iterating the file, nothing else: {t_fiona:6.1f} s; the parcel "
              f"table taking the rows with no trigger or foreign key: {t_floor:6.1f} s")
        print(f"         (each alone would be {t_ogr / t_fiona:.2f} x and {t_ogr / t_floor:.2f} x "
              "ogr2ogr; the loader needs both, on the same cores)")
        print(f"ratio  : {t_ogr / t_ours:.2f} x ogr2ogr throughput (target >= 0.5)")
    finally:
        if not args.keep:
            from cadastre_gis.db import _engine

            _engine.cache_clear()
            drop_database(server, url)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
