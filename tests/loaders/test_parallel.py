"""Large files are read by several processes, each through its own Fiona collection, and give
exactly what one process gives: the same rows, attributes, geometries and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely

from cadastre_gis.errors import InvalidInput
from loaders import fiona_
from loaders.mapping import KINDS, resolve

from .conftest import counts, number, parcel_rows, report_of
from .files import bowtie, square, two_parts, with_hole, write


def messy(x: float, y: float, zone: int, n: int) -> list[dict]:
    """n records with a null geometry, a bow-tie, a multipolygon and a hole among them."""
    recs = []
    for k in range(n):
        g = square(x + 25 * (k % 40), y + 25 * (k // 40))
        if k == 7:
            g = None
        elif k == 11:
            g = bowtie(x + 25 * (k % 40), y + 25 * (k // 40))
        elif k == 13:
            g = two_parts(x + 25 * (k % 40), y + 25 * (k // 40))
        elif k == 17:
            g = with_hole(x + 25 * (k % 40), y + 25 * (k // 40))
        recs.append({"geometry": g, "KAD_NOMER": number(zone, k + 1, massiv=2),
                     "ADRES": f"г. Ташкент, ул. Бобура, {k + 1}", "PLOSHAD": 400.0})
    return recs


@pytest.fixture(autouse=True)
def _fiona_reader(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """These tests are about Fiona's parallel reader (the columnar one is compared to it)."""
    monkeypatch.setenv(fiona_.READER_ENV, "fiona")


def read_all(path: Path, workers: int) -> tuple[list, dict, list, dict]:
    src = fiona_.open_source(path)
    fmap = resolve(KINDS["parcels"], src.fields, None)
    rows, values, wkb, broken = [], {}, [], {}
    for b in fiona_.read(src, fmap, chunk=37, workers=workers):
        rows += b.rows
        for key, col in b.values.items():
            values.setdefault(key, []).extend(col)
        wkb += [None if g is None else shapely.to_wkb(g) for g in b.geoms]
        broken.update(b.broken)
    return rows, values, wkb, broken


def test_parallel_read_equals_sequential(spot, tmp_path: Path) -> None:
    x, y, z = spot
    shp = write(tmp_path / "big.shp", messy(x, y, z, 400))
    one = read_all(shp, 1)
    two = read_all(shp, 3)
    assert one[0] == list(range(1, 401))
    assert two == one
    assert one[1]["address"][0] == "г. Ташкент, ул. Бобура, 1"
    assert one[2][7] is None


@pytest.mark.parametrize("ext", [".shp", ".gpkg"])
def test_columnar_read_equals_fiona(spot, tmp_path: Path, monkeypatch, ext: str) -> None:
    """pyogrio's columnar reader gives exactly what Fiona gives: rows, typed attributes
    (numbers, NULLs), geometries (a null, a bow-tie, a multipolygon, a hole)."""
    x, y, z = spot
    recs = messy(x, y, z, 120)
    recs[3]["PLOSHAD"] = None
    path = write(tmp_path / f"both{ext}", recs)
    fiona_way = read_all(path, 1)
    monkeypatch.setenv(fiona_.READER_ENV, "")
    assert fiona_.columnar(fiona_.open_source(path))
    columnar_way = read_all(path, 1)
    assert columnar_way == fiona_way
    assert columnar_way[1]["declared_area_m2"][3] is None


def test_columnar_read_refuses_a_truncated_shapefile(spot, tmp_path: Path, monkeypatch) -> None:
    x, y, z = spot
    shp = write(tmp_path / "cut.shp", messy(x, y, z, 300))
    data = shp.read_bytes()
    shp.write_bytes(data[: len(data) * 2 // 3])
    monkeypatch.setenv(fiona_.READER_ENV, "")
    src = fiona_.open_source(shp)
    fmap = resolve(KINDS["parcels"], src.fields, None)
    with pytest.raises(InvalidInput, match="cannot read cut.shp: cut.shp ends before its last"):
        for _b in fiona_.read(src, fmap):
            pass


def test_parallel_read_refuses_a_truncated_file(spot, tmp_path: Path) -> None:
    x, y, z = spot
    shp = write(tmp_path / "cut.shp", messy(x, y, z, 300))
    data = shp.read_bytes()
    shp.write_bytes(data[: len(data) * 2 // 3])
    src = fiona_.open_source(shp)
    fmap = resolve(KINDS["parcels"], src.fields, None)
    with pytest.raises(InvalidInput, match="cannot read cut.shp"):
        for _b in fiona_.read(src, fmap, workers=2):
            pass


def test_load_reads_in_parallel(cli, spot, tmp_path: Path, load_engine, monkeypatch) -> None:
    """Through the CLI: the report says how many processes read; the result is complete."""
    x, y, z = spot
    recs = [r for r in messy(x, y, z, 240) if r["geometry"] is not None]
    for r in recs:
        r["geometry"] = square(*r["geometry"].bounds[:2])
    shp = write(tmp_path / "many.gpkg", recs)
    monkeypatch.setattr(fiona_, "PARALLEL_MIN_FEATURES", 100)
    monkeypatch.setenv(fiona_.WORKERS_ENV, "2")
    before = counts(load_engine)
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["file"]["read_processes"] == 2
    assert rep["counts"]["inserted"] == len(recs)
    rows = parcel_rows(load_engine, z)
    assert len(rows) == len(recs)
    assert rows[number(z, 1, massiv=2)]["address"] == "г. Ташкент, ул. Бобура, 1"
    assert counts(load_engine)["parcel"] == before["parcel"] + len(recs)
