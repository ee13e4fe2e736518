"""Other inputs (GeoPackage layers, GeoJSON, FlatGeobuf, CSV with WKT or lon/lat) and the
other kinds (buildings, incidents, cameras, districts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from .conftest import counts, number, parcel_rows, report_of
from .files import square, write


def test_geopackage_needs_layer_choice(cli, spot, tmp_path: Path, load_engine) -> None:
    """A GeoPackage with two layers asks for --layer; WGS 84 input is projected."""
    import fiona
    from fiona.crs import CRS
    from pyproj import Transformer
    from shapely.geometry import mapping
    from shapely.ops import transform

    x, y, z = spot
    to_ll = Transformer.from_crs(28412, 4326, always_xy=True)
    gpkg = tmp_path / "two.gpkg"
    schema = {"geometry": "Polygon", "properties": {"cadastral_number": "str", "address": "str"}}
    for lyr, k in (("uchastki", 1), ("drugoe", 2)):
        with fiona.open(gpkg, "w", driver="GPKG", layer=lyr, schema=schema,
                        crs=CRS.from_epsg(4326)) as dst:
            dst.write({"geometry": mapping(transform(to_ll.transform, square(x + 40 * k, y))),
                       "properties": {"cadastral_number": number(z, k), "address": lyr}})
    res = cli("load", "parcels", str(gpkg))
    assert res.exit_code == 1 and "--layer" in res.output
    res = cli("load", "parcels", str(gpkg), "--layer", "uchastki")
    assert res.exit_code == 0, res.output
    assert report_of(res)["transformation"]["description"].startswith("UTM zone 42N")
    rows = parcel_rows(load_engine, z)
    assert list(rows) == [number(z, 1)] and abs(rows[number(z, 1)]["geom"].area - 400) < 1


def test_geojson_and_flatgeobuf(cli, spot, tmp_path: Path, load_engine) -> None:
    """GeoJSON and FlatGeobuf load the same way (numbers are not mistaken for times)."""
    x, y, z = spot
    gj = write(tmp_path / "a.geojson", [{"geometry": square(x, y), "KAD_NOMER": number(z, 1),
                                         "ADRES": "Шайхантахур"}], epsg=28412)
    fgb = write(tmp_path / "b.fgb", [{"geometry": square(x + 40, y), "KAD_NOMER": number(z, 2)}],
                epsg=28412, geometry="Polygon")
    for f in (gj, fgb):
        res = cli("load", "parcels", str(f))
        assert res.exit_code == 0, res.output
    rows = parcel_rows(load_engine, z)
    assert set(rows) == {number(z, 1), number(z, 2)}
    assert rows[number(z, 1)]["address"] == "Шайхантахур"


def test_csv_with_wkt_needs_crs(cli, spot, tmp_path: Path, load_engine) -> None:
    """CSV with a WKT column: refused without --crs, loaded with it."""
    x, y, z = spot
    csv = tmp_path / "parcels.csv"
    csv.write_text("KAD_NOMER,ADRES,WKT\n"
                   f'{number(z, 1)},"ул. Навои, 3","{square(x, y).wkt}"\n', encoding="utf-8")
    res = cli("load", "parcels", str(csv))
    assert res.exit_code == 1 and "--crs" in res.output
    res = cli("load", "parcels", str(csv), "--crs", "EPSG:28412")
    assert res.exit_code == 0, res.output
    assert parcel_rows(load_engine, z)[number(z, 1)]["address"] == "ул. Навои, 3"


def test_incidents_and_cameras_from_lonlat_csv(cli, tmp_path: Path, load_engine) -> None:
    """Points from lon/lat CSV: incidents (insert) and cameras (upsert by code)."""
    inc = tmp_path / "incidents.csv"
    inc.write_text("KATEGORIYA,OPISANIE,lon,lat\n"
                   "water,Прорыв трубы,69.2797,41.3111\n"
                   "no_such_category,?,69.28,41.31\n", encoding="utf-8")
    with load_engine.begin() as c:  # the loader database has no demo value lists
        c.execute(text("INSERT INTO incident_category VALUES ('water', 'Water supply outage', "
                       "'Отключение водоснабжения', 'Suv uzilishi', 2, 24, true) "
                       "ON CONFLICT DO NOTHING"))
    before = counts(load_engine)
    res = cli("load", "incidents", str(inc))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["inserted"] == 1 and "unknown category" in rep["rejected"][0]["reasons"][0]
    assert counts(load_engine)["incident"] == before["incident"] + 1
    with load_engine.connect() as c:
        row = c.execute(text("SELECT i.source, i.description, d.name FROM incident i "
                             "JOIN district d ON d.id = i.district_id ORDER BY i.id DESC LIMIT 1")
                        ).one()
    assert row[0] == "import" and row[1] == "Прорыв трубы" and row[2]

    cam = tmp_path / "cameras.csv"
    cam.write_text("KOD,AZIMUT,UGOL,DALNOST,lon,lat\nCAM-T1,90,60,150,69.25,41.29\n",
                   encoding="utf-8")
    assert cli("load", "cameras", str(cam)).exit_code == 0
    cam.write_text("KOD,AZIMUT,UGOL,DALNOST,lon,lat\nCAM-T1,180,60,150,69.25,41.29\n",
                   encoding="utf-8")
    res = cli("load", "cameras", str(cam))
    assert "already registered" in res.output
    res = cli("load", "cameras", str(cam), "--mode", "upsert")
    assert res.exit_code == 0 and report_of(res)["counts"]["updated"] == 1
    with load_engine.connect() as c:
        assert c.execute(text("SELECT heading_deg FROM camera WHERE code = 'CAM-T1'")
                         ).scalar_one() == 180


def test_buildings_link_to_parcels(cli, spot, tmp_path: Path, load_engine) -> None:
    """A building's parcel is the one its number extends (or its parcel field, which must
    agree); the parcel must be registered and hold 95 % of the footprint; floors are
    range-checked. Each is a finding, never the database's refusal."""
    x, y, z = spot
    assert cli("load", "parcels", str(write(tmp_path / "p.shp", [
        {"geometry": square(x, y, 40), "KAD_NOMER": number(z, 1)}]))).exit_code == 0
    schema = {"KAD_NOMER": "str:30", "ETAJ": "int", "NAZNACH": "str:40", "KAD_UCH": "str:24"}
    shp = write(tmp_path / "b.shp", [
        {"geometry": square(x + 5, y + 5, 10), "KAD_NOMER": number(z, 1) + ":0001", "ETAJ": 3,
         "NAZNACH": "Жилые дома"},
        {"geometry": square(x + 20, y + 20, 10), "KAD_NOMER": number(z, 1) + ":0002",
         "ETAJ": 300},
        {"geometry": square(x + 20, y + 5, 10), "KAD_NOMER": number(z, 99) + ":0003",
         "KAD_UCH": number(z, 99)},
        {"geometry": square(x + 5, y + 25, 10), "KAD_NOMER": number(z, 1) + ":0004",
         "KAD_UCH": number(z, 2)},
        {"geometry": square(x + 35, y + 25, 10), "KAD_NOMER": number(z, 1) + ":0005"},
        {"geometry": square(x + 25, y + 25, 5), "KAD_NOMER": number(z, 1) + ":0006",
         "NAZNACH": "Космодром"},
        {"geometry": square(x + 100, y, 10), "KAD_NOMER": number(z, 98) + ":0001"},
    ], schema=schema)
    res = cli("load", "buildings", str(shp))
    assert res.exit_code == 0, res.output
    why = {r["row"]: r["reasons"][0] for r in report_of(res)["rejected"]}
    assert set(why) == {2, 3, 4, 5, 6}, why
    assert "floors 300 is outside 1..150" in why[2]
    assert f"its parcel {number(z, 99)} is not registered" in why[3]
    assert f"does not extend its parcel's number {number(z, 2)}" in why[4]
    assert f"only 50% of its footprint lies in its parcel {number(z, 1)}" in why[5]
    assert "unknown building use 'Космодром'" in why[6]
    warn = {w["row"]: w["messages"][0] for w in report_of(res)["warnings"]}
    assert f"its parcel {number(z, 98)} is not registered" in warn[7]
    with load_engine.connect() as c:
        row = c.execute(text("SELECT b.floors, b.building_use, p.cadastral_number FROM building b "
                             "JOIN parcel p ON p.id = b.parcel_id WHERE b.cadastral_number = :n"),
                        {"n": number(z, 1) + ":0001"}).one()
    assert tuple(row) == (3, "residential", number(z, 1))


def test_districts_dry_run_against_registered(cli, tmp_path: Path, load_settings) -> None:
    """Exported districts load back as duplicates in insert mode (dry run)."""
    out = tmp_path / "d.gpkg"
    assert cli("export", "districts", str(out)).exit_code == 0
    res = cli("load", "districts", str(out), "--dry-run")
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["rejected"] == 12
    assert all("already registered" in r["reasons"][0] for r in rep["rejected"])


@pytest.mark.parametrize("ext", [".tab", ".mif"])
def test_mapinfo_in_sk42_with_cyrillic(cli, spot, tmp_path: Path, load_engine, ext: str) -> None:
    """MapInfo TAB and MIF (charset WindowsCyrillic, SK-42 CoordSys without an EPSG code), as
    older agency files come; MIF has no fast feature count."""
    import fiona
    from fiona.crs import CRS
    from shapely.geometry import box, mapping

    x, y, z = spot
    path = tmp_path / f"uchastki{ext}"
    kw = {"FORMAT": "MIF"} if ext == ".mif" else {}
    with fiona.open(path, "w", driver="MapInfo File", crs=CRS.from_epsg(28412),
                    encoding="cp1251", schema={"geometry": "Polygon", "properties": {
                        "KAD_NOMER": "str:24", "ADRES": "str:80"}}, **kw) as dst:
        for k in range(3):
            dst.write({"geometry": mapping(box(x + 30 * k, y, x + 30 * k + 20, y + 20)),
                       "properties": {"KAD_NOMER": number(z, k + 1),
                                      "ADRES": f"ул. Бабура, {k + 1}"}})
    res = cli("load", "parcels", str(path))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["inserted"] == 3
    assert "Pulkovo 1942 to WGS 84 (16)" in rep["transformation"]["description"]
    rows = parcel_rows(load_engine, z)
    assert rows[number(z, 2)]["address"] == "ул. Бабура, 2"
