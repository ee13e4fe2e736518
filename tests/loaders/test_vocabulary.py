"""Agency wordings: value lists in another grammatical form or shortened, district codes as
BB / AA:BB / names, and every database refusal caught first as a finding in the report."""

from __future__ import annotations

import json
from pathlib import Path

import fiona
import shapely
from fiona.crs import CRS
from shapely.geometry import mapping
from sqlalchemy import text

from cadastre_gis import demo

from .conftest import counts, district_of, number, parcel_rows, report_of
from .files import square, write

SCHEMA = {"KAD_NOMER": "str:24", "KATEGORIYA": "str:80", "VID_ISP": "str:80", "RAYON": "str:40",
          "PLOSHAD": "float:24.2"}


def test_value_lists_in_other_forms_and_shortened(cli, spot, tmp_path: Path,
                                                  load_engine) -> None:
    """Land categories and permitted uses as agencies write them reach the codes of the
    reference tables; an ambiguous or unknown wording is rejected with the candidates or the
    closest official names."""
    x, y, z = spot
    rows = [  # (land category, permitted use) → expected codes, or None for a rejection
        ("Земли промышленности", "Многоквартирный жилой дом", ("industrial", "multi_apartment")),
        ("Земля населённого пункта", "ИЖС", ("settlement", "individual_housing")),
        ("Aholi punkti yerlari", "Ofis", ("settlement", "office")),
        ("Qishloq xo'jaligi yerlari", "Сады", ("agricultural", "agriculture")),
        ("Қишлоқ хўжалиги ерлари", "Офисы", ("agricultural", "office")),
        ("Reserve lands", "Transport", ("reserve", "transport")),
        ("ЗЕМЛИ ЛЕСНОГО ФОНДА", "Культовое сооружение", ("forest", "religious")),
        ("Земли", "Парк", None),
        ("Земли промышлености", "Парк", None),
    ]
    recs = [{"geometry": square(x + 30 * i, y), "KAD_NOMER": number(z, i + 1), "KATEGORIYA": lc,
             "VID_ISP": pu} for i, (lc, pu, _exp) in enumerate(rows)]
    res = cli("load", "parcels", str(write(tmp_path / "words.gpkg", recs, schema=SCHEMA,
                                           geometry="Polygon")))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    why = {r["row"]: " | ".join(r["reasons"]) for r in rep["rejected"]}
    assert set(why) == {8, 9}, why
    assert "land category 'Земли' is ambiguous: it could be" in why[8]
    assert "(industrial)" in why[8] and "(settlement)" in why[8]
    assert "unknown land category 'Земли промышлености'; closest: " in why[9]
    assert "'Земли промышленности, транспорта, связи' (industrial)" in why[9]
    got = parcel_rows(load_engine, z)
    for i, (_lc, _pu, exp) in enumerate(rows[:7]):
        r = got[number(z, i + 1)]
        assert (r["land_category"], r["permitted_use"]) == exp, rows[i]


def test_district_field_as_code_region_code_or_name(cli, spot, tmp_path: Path) -> None:
    """The district field may say BB, AA:BB or the name in any language; a wrong region, an
    unknown name or a district other than the number's is a finding."""
    x, y, z = spot
    code = district_of(z)
    _c, uz, ru, *_ = next(d for d in demo.DISTRICTS if d[0] == code)
    other = "12" if code != "12" else "01"
    values = [f"10:{code}", code, str(int(code)), uz.replace("ʻ", "'"), f"{ru}ский район",
              f"{uz} tumani", f"11:{code}", "Атлантида", f"10:{other}"]
    recs = [{"geometry": square(x + 30 * i, y), "KAD_NOMER": number(z, i + 1), "RAYON": v}
            for i, v in enumerate(values)]
    res = cli("load", "parcels", str(write(tmp_path / "rayon.gpkg", recs, schema=SCHEMA,
                                           geometry="Polygon")), "--dry-run")
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    why = {r["row"]: " | ".join(r["reasons"]) for r in rep["rejected"]}
    assert set(why) == {7, 8, 9}, why
    assert f"region 11 is not this registry's region 10 (write 10:{code} or {code})" in why[7]
    assert "unknown district 'Атлантида'" in why[8]
    assert f"the district field names {other} " in why[9] and f"number names {code} " in why[9]
    assert rep["counts"]["would_insert"] == 6


def _border_square(a: str, b: str) -> tuple[shapely.Polygon, str]:
    """A 30 m square (EPSG:32642) across the border of districts a and b, and the code of the
    district holding the larger part of it."""
    polys = dict(zip([d[0] for d in demo.DISTRICTS], demo.district_polygons(), strict=True))
    border = shapely.intersection(polys[a].boundary, polys[b].boundary)
    p = shapely.line_interpolate_point(shapely.line_merge(border), 0.5, normalized=True) \
        if border.geom_type != "Point" else border
    sq = shapely.box(p.x - 10, p.y - 15, p.x + 20, p.y + 15)
    larger = a if polys[a].intersection(sq).area > polys[b].intersection(sq).area else b
    return sq, larger


def test_district_holding_the_larger_part_must_be_the_numbers(cli, tmp_path: Path) -> None:
    """Across a border, the number must name the district holding the larger part of the
    area: the other one is rejected with the share, no database error."""
    sq, larger = _border_square("09", "03")
    smaller = "03" if larger == "09" else "09"
    reps = {}
    for code in (larger, smaller):
        path = tmp_path / f"border{code}.gpkg"
        with fiona.open(path, "w", driver="GPKG", crs=CRS.from_epsg(32642), schema={
                "geometry": "Polygon", "properties": {"cadastral_number": "str"}}) as dst:
            dst.write({"geometry": mapping(sq), "properties": {
                "cadastral_number": f"10:{code}:98:01:01:0001"}})
        res = cli("load", "parcels", str(path), "--dry-run")
        assert res.exit_code == 0, res.output
        reps[code] = report_of(res)
    assert reps[larger]["counts"]["would_insert"] == 1
    why = reps[smaller]["rejected"][0]["reasons"][0]
    assert why.startswith(f"lies mostly in district {larger} "), why
    assert f"number names {smaller} " in why


def test_every_database_refusal_is_a_finding(cli, spot, tmp_path: Path, load_engine) -> None:
    """Values the database would refuse (numeric overflow, an unknown land category, a number
    of another region) are per-record findings, and the rest loads."""
    x, y, z = spot
    feats = [
        {"cadastral_number": number(z, 1), "declared_area_m2": 400.0},
        {"cadastral_number": number(z, 2), "declared_area_m2": 1e13},
        {"cadastral_number": number(z, 3), "land_category": "Лунные земли"},
        {"cadastral_number": number(z, 4), "cadastral_value": 1e16},
        {"cadastral_number": "11" + number(z, 5)[2:]},
    ]
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": mapping(square(x + 30 * i, y))}
        for i, p in enumerate(feats)]}
    path = tmp_path / "refusals.geojson"
    gj["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28412"}}
    path.write_text(json.dumps(gj), encoding="utf-8")
    before = counts(load_engine)
    res = cli("load", "parcels", str(path))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    why = {r["row"]: " | ".join(r["reasons"]) for r in rep["rejected"]}
    assert set(why) == {2, 3, 4, 5}, why
    assert "declared_area_m2 10000000000000.0 is outside 0.01..999,999,999,999.99" in why[2]
    assert "unknown land category 'Лунные земли'" in why[3]
    assert "cadastral_value 1e+16 is outside 0..9,999,999,999,999,998.00" in why[4]
    assert "names region 11; this registry holds region 10" in why[5]
    assert "constraint" not in res.output and "violates" not in res.output
    assert counts(load_engine)["parcel"] == before["parcel"] + 1


def test_districts_layer_with_region_prefixed_codes(cli, tmp_path: Path, load_engine) -> None:
    """A districts layer coding districts as 10:09 updates the registered districts (dry run:
    the shared districts stay); a wrong region, a malformed code and a name taken by another
    district are findings, not a CHECK message."""
    out = tmp_path / "d.gpkg"
    assert cli("export", "districts", str(out)).exit_code == 0
    with fiona.open(out) as src:
        feats = [(f.geometry, dict(f.properties)) for f in src]
        schema, crs = src.schema, src.crs
    feats.sort(key=lambda gp: gp[1]["code"])
    for _g, p in feats:
        p["code"] = f"10:{p['code']}"
    feats[0][1]["code"] = "11:01"
    feats[1][1]["code"] = "2X"
    feats[2][1]["name"] = feats[3][1]["name"]
    redo = tmp_path / "d2.gpkg"
    with fiona.open(redo, "w", driver="GPKG", schema=schema, crs=crs) as dst:
        dst.writerecords([{"geometry": g, "properties": p} for g, p in feats])
    before = counts(load_engine)
    res = cli("load", "districts", str(redo), "--mode", "upsert", "--dry-run")
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    why = {r["row"]: " | ".join(r["reasons"]) for r in rep["rejected"]}
    assert set(why) == {1, 2, 3, 4}, why
    assert "code names region 11; this registry holds region 10" in why[1]
    assert "district code '2X' is not BB (09) or AA:BB (10:09)" in why[2]
    assert "district name appears 2 times in the file (rows 3, 4)" in why[3]
    assert rep["counts"]["would_update"] == 8
    assert "constraint" not in res.output
    assert counts(load_engine) == before
    with load_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM district WHERE code ~ '^[0-9]{2}$'")
                         ).scalar_one() == 12


def test_upsert_may_not_leave_a_building_outside_its_parcel(cli, spot, tmp_path: Path,
                                                             load_engine) -> None:
    """A corrected boundary that would leave a registered building mostly outside is a
    finding (the database's building-in-parcel rule), and the old boundary stays."""
    x, y, z = spot
    assert cli("load", "parcels", str(write(tmp_path / "p.shp", [
        {"geometry": square(x, y, 40), "KAD_NOMER": number(z, 1)}]))).exit_code == 0
    assert cli("load", "buildings", str(write(tmp_path / "b.shp", [
        {"geometry": square(x + 25, y + 25, 10), "KAD_NOMER": number(z, 1) + ":0001"}],
        schema={"KAD_NOMER": "str:30"}))).exit_code == 0
    res = cli("load", "parcels", str(write(tmp_path / "p2.shp", [
        {"geometry": square(x, y, 28), "KAD_NOMER": number(z, 1)}])), "--mode", "upsert")
    assert res.exit_code == 0, res.output
    why = report_of(res)["rejected"][0]["reasons"][0]
    assert why.startswith(f"building {number(z, 1)}:0001 would lie only 9% in the new boundary")
    assert parcel_rows(load_engine, z)[number(z, 1)]["version"] == 1
