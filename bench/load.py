"""Benchmark: our loader (every check, history and audit) against the real floor.

Makes a 200 000-parcel Shapefile (a grid of 19 m squares 1 m apart in SK-42 / EPSG:28412,
cp1251 attributes and no .cpg, as old survey files are; each number names the district
holding the larger part of its parcel, as the registry's rule demands), creates a fresh
migrated database holding only the 12 districts, and times in the same run:

- **ours**: ``cadastre-gis load parcels FILE`` (read, reproject, validate, stage, check
  against the registry, write through every trigger, history, audit, report);
- **the floor**: ``ogr2ogr`` into a bare table (read + reproject + COPY, no checks) plus one
  ``INSERT … SELECT`` of those rows into a copy of the parcel table with its indexes but no
  trigger or foreign key (``CREATE TABLE … (LIKE parcel INCLUDING ALL)``);

and prints ours / floor (target ≤ 2).

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
import numpy as np
import pyproj
import shapely
from fiona.crs import CRS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CENTRE_28412 = (12_523_500.0, 4_573_400.0)


def _district_codes(xs: np.ndarray, ys: np.ndarray, side: float) -> list[str]:
    """Code of the district holding the larger part of each square (SK-42 lower-left corners)."""
    from cadastre_gis import demo
    from loaders import fiona_

    # the loader's own transformation (PROJ's default would put border squares metres off)
    bounds = (xs.min(), ys.min(), xs.max() + side, ys.max() + side)
    tr = fiona_.transformation(pyproj.CRS.from_epsg(28412), bounds).transformer
    polys = demo.district_polygons()
    codes = [d[0] for d in demo.DISTRICTS]
    cx, cy = tr.transform(xs + side / 2, ys + side / 2)
    out = np.full(len(xs), "", dtype=object)
    for code, poly in zip(codes, polys, strict=True):
        shapely.prepare(poly)
        out[shapely.contains_xy(poly, cx, cy) & (out == "")] = code
    # squares near a border: measure
    corners = [tr.transform(xs + dx, ys + dy) for dx, dy in ((0, 0), (side, 0), (side, side),
                                                              (0, side))]
    sq = shapely.polygons(np.stack([np.column_stack(c) for c in corners], axis=1))
    covered = np.zeros(len(xs), bool)
    for code, poly in zip(codes, polys, strict=True):
        sel = np.flatnonzero(out == code)
        covered[sel] = shapely.covers(poly, sq[sel])
    for k in np.flatnonzero(~covered):
        areas = [shapely.area(shapely.intersection(p, sq[k])) for p in polys]
        out[k] = codes[int(np.argmax(areas))]
    return out.tolist()


def make_shapefile(path: Path, n: int, pitch: float = 20.0, gap: float = 1.0) -> None:
    """A grid of n squares (``pitch`` apart, ``gap`` metres between neighbours, like the demo
    city's plots), with cp1251 attributes and no .cpg. ``--gap 0`` makes them share edges."""
    side = pitch - gap
    cols = int(n ** 0.5) + 1
    x0 = CENTRE_28412[0] - cols * pitch / 2
    y0 = CENTRE_28412[1] - cols * pitch / 2
    ks = np.arange(n)
    ii, jj = ks % cols, ks // cols
    codes = _district_codes(x0 + ii * pitch, y0 + jj * pitch, side)
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
                    "KAD_NOMER": f"10:{codes[k]}:{j // 100 % 100:02d}:{i // 100 % 100:02d}:"
                                 f"{j % 100:02d}:{i % 100 + 1:04d}",
                    "ADRES": f"г. Ташкент, ул. Бобура, {k + 1}",
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
        import json

        import psycopg2

        dsn = url.replace("postgresql+psycopg2://", "postgresql://")

        # ---- the floor: ogr2ogr into a bare table + INSERT ... SELECT into a copy of the
        # parcel table with its indexes (no trigger, no foreign key) --------------------------
        u = urlparse(dsn)
        pg = (f"PG:host={u.hostname} port={u.port} dbname={u.path.lstrip('/')} "
              f"user={u.username} password={u.password}")
        t = time.perf_counter()
        ogr = subprocess.run([ogr2ogr, "-f", "PostgreSQL", pg, str(shp), "-nln", "ogr_parcel",
                              "-nlt", "MULTIPOLYGON", "-t_srs", "EPSG:32642",
                              "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=NONE",
                              "-oo", "ENCODING=CP1251", "--config", "PG_USE_COPY", "YES"],
                             capture_output=True, text=True)
        t_ogr = time.perf_counter() - t
        if ogr.returncode != 0:
            sys.exit(f"ogr2ogr failed:\n{ogr.stderr}")
        with psycopg2.connect(dsn) as c:
            cur = c.cursor()
            cur.execute("CREATE TABLE parcel_floor (LIKE parcel INCLUDING ALL)")
            c.commit()
            t = time.perf_counter()
            cur.execute("INSERT INTO parcel_floor (cadastral_number, address, declared_area_m2, "
                        "geom) SELECT kad_nomer, adres, ploshad, geom FROM ogr_parcel "
                        "ORDER BY geom")
            c.commit()
            t_insert = time.perf_counter() - t
            cur.execute("DROP TABLE parcel_floor, ogr_parcel")
            c.commit()
        t_floor = t_ogr + t_insert

        # ---- ours --------------------------------------------------------------------------
        t = time.perf_counter()
        ours = subprocess.run([sys.executable, "-m", "cadastre_gis.cli", "load", "parcels",
                               str(shp), "--no-progress", "--actor", "bench"], env=env,
                              capture_output=True, text=True)
        t_ours = time.perf_counter() - t
        if ours.returncode != 0:
            sys.exit(f"our loader failed:\n{ours.stdout}\n{ours.stderr}")
        print("\n".join(ours.stdout.splitlines()[:8]))
        rpath = [ln for ln in ours.stdout.splitlines() if ln.startswith("report: ")][-1][8:]
        rep = json.loads(Path(rpath).read_text())
        print("our phases (s):", rep["timings"])
        with psycopg2.connect(dsn) as c:
            cur = c.cursor()
            cur.execute("SELECT (SELECT count(*) FROM parcel), (SELECT count(*) FROM audit_log "
                        "WHERE table_name = 'parcel')")
            n_parcels, n_audit = cur.fetchone()
        n = args.parcels
        print(f"loaded : {n_parcels} parcels, {n_audit} parcel audit rows")
        print(f"floor  : {t_floor:6.1f} s = ogr2ogr into a bare table {t_ogr:.1f} s + INSERT "
              f"into a copy of parcel with its indexes (no trigger/FK) {t_insert:.1f} s")
        print(f"ours   : {t_ours:6.1f} s = {n / t_ours:8.0f} features/s (every check, history, "
              "audit, report)")
        print(f"ratio  : ours / floor = {t_ours / t_floor:.2f} (target <= 2)")
    finally:
        if not args.keep:
            from cadastre_gis.db import _engine

            _engine.cache_clear()
            drop_database(server, url)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
