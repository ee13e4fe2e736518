"""Export → import round trip (GeoPackage, Shapefile utf-8/cp1251, GeoJSON, FlatGeobuf):
geometries within 1 mm, attributes identical."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import shapely
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from cadastre_gis import migrate
from cadastre_gis.settings import Settings
from tests.conftest import create_database, drop_database

from .conftest import add_districts, district_of, env_for, number, report_of
from .files import square, two_parts, with_hole, write

ATTRS = ("address", "land_category", "permitted_use", "declared", "value", "district")


def _state(url: str, zone: int) -> dict[str, dict]:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with eng.connect() as c:
        rows = c.execute(text(
            "SELECT p.cadastral_number, p.address, p.land_category, p.permitted_use, "
            "p.declared_area_m2::text AS declared, p.cadastral_value::text AS value, "
            "d.code AS district, ST_AsBinary(p.geom) AS wkb FROM parcel p "
            "JOIN district d ON d.id = p.district_id WHERE p.status = 'active' "
            "AND split_part(p.cadastral_number, ':', 3) = :z"), {"z": f"{zone:02d}"}).mappings().all()
    eng.dispose()
    return {r["cadastral_number"]: {**{a: r[a] for a in ATTRS},
                                    "geom": shapely.from_wkb(bytes(r["wkb"]))} for r in rows}


@pytest.fixture(scope="module")
def second_db(server_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Another fresh database (districts only) to import the exports into."""
    url = create_database(server_url, "cadastre_roundtrip")
    migrate.upgrade(url)
    add_districts(url)
    yield Settings(database_url=url, data_dir=tmp_path_factory.mktemp("rt-data"))
    if not os.environ.get("CADASTRE_KEEP_TEST_DB"):
        from cadastre_gis.db import _engine

        _engine.cache_clear()
        drop_database(server_url, url)


@pytest.mark.parametrize("name,extra", [
    ("out.gpkg", []), ("out.shp", []), ("out_cp1251.shp", ["--encoding", "cp1251"]),
    ("out.geojson", []), ("out.fgb", []), ("out_sk42.gpkg", ["--crs", "EPSG:28412"]),
])
def test_round_trip(name: str, extra: list[str], cli, spot, tmp_path: Path, load_settings,
                    second_db: Settings) -> None:
    """What we export loads back unchanged (into an empty database)."""
    from loaders.cli import export, load

    x, y, z = spot
    shp = write(tmp_path / "src.shp", [
        {"geometry": square(x, y), "KAD_NOMER": number(z, 1), "ADRES": "ул. Бобура, 7",
         "PLOSHAD": 400.0, "KATEGORIYA": "settlement", "VID_ISP": "commercial"},
        {"geometry": with_hole(x + 40, y), "KAD_NOMER": number(z, 2), "ADRES": "Mirobod",
         "PLOSHAD": 800.25},
        {"geometry": two_parts(x + 100, y), "KAD_NOMER": number(z, 3)},
    ])
    assert cli("load", "parcels", str(shp)).exit_code == 0
    original = _state(str(load_settings.database_url), z)
    assert len(original) == 3

    out = tmp_path / name
    res = cli("export", "parcels", str(out), "--district", district_of(z), *extra)
    assert res.exit_code == 0, res.output
    if out.suffix == ".shp":
        cpg = out.with_suffix(".cpg").read_text().strip().upper().replace("-", "")
        assert cpg == ("CP1251" if "cp1251" in name else "UTF8")

    env = env_for(second_db)
    with create_engine(str(second_db.database_url).replace(
            "postgresql://", "postgresql+psycopg2://")).begin() as c:
        c.execute(text("TRUNCATE parcel, parcel_history, parcel_lineage, building, "
                       "building_history, \"right\", right_history CASCADE"))
    res = CliRunner().invoke(load, ["parcels", str(out)], env=env, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["fields"]["unknown"] == [], rep["fields"]
    copy = _state(str(second_db.database_url), z)
    assert set(copy) == set(original)
    for num, o in original.items():
        c = copy[num]
        assert {a: c[a] for a in ATTRS} == {a: o[a] for a in ATTRS}, num
        assert shapely.hausdorff_distance(c["geom"], o["geom"]) < 0.001, num
        assert len(c["geom"].geoms) == len(o["geom"].geoms)
    # and once more out of the copy: same file content
    again = tmp_path / ("again" + out.suffix)
    res = CliRunner().invoke(export, ["parcels", str(again), *extra], env=env,
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
