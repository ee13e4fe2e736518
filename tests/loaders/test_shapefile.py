"""Loading messy Shapefiles: cp1251 without .cpg in SK-42, bad records, CRS, empty, truncated."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import shapely
from pyproj.transformer import TransformerGroup
from sqlalchemy import text

from .conftest import counts, district_of, number, parcel_rows, report_of
from .files import bowtie, square, two_parts, with_hole, write


def test_cp1251_sk42_shapefile_without_cpg(cli, spot, tmp_path: Path, load_engine,
                                           load_settings) -> None:
    """Cyrillic attributes survive, SK-42 is transformed with a recorded operation, the
    multipolygon and the hole are kept, the unknown field is reported, the load is attributed."""
    x, y, z = spot
    schema = {"KAD_NOMER": "str:24", "ADRES": "str:120", "PLOSHAD": "float:14.2",
              "KATEGORIYA": "str:60", "VID_ISP": "str:60", "ETAJ": "int", "PRIMECH": "str:40"}
    recs = [
        {"geometry": square(x, y), "KAD_NOMER": number(z, 1), "ADRES": "г. Ташкент, ул. Навои, 1",
         "PLOSHAD": 400.0, "KATEGORIYA": "Земли населённых пунктов",
         "VID_ISP": "Торговля и услуги", "PRIMECH": "старый обмер"},
        {"geometry": with_hole(x + 40, y), "KAD_NOMER": number(z, 2),
         "ADRES": "Toshkent sh., Yakkasaroy tumani, Bobur ko'chasi", "PLOSHAD": 800.0,
         "KATEGORIYA": "settlement", "VID_ISP": "individual_housing"},
        {"geometry": two_parts(x + 100, y), "KAD_NOMER": number(z, 3), "ADRES": "Чиланзар, 5",
         "PLOSHAD": 450.0},
    ]
    shp = write(tmp_path / "uchastki.shp", recs, schema=schema)
    assert not shp.with_suffix(".cpg").exists()
    res = cli("load", "parcels", str(shp), "--actor", "surveyor-7")
    assert res.exit_code == 0, res.output
    assert "rejected 0" in res.output and "inserted 3" in res.output
    rep = report_of(res)
    assert rep["status"] == "committed"
    assert rep["file"]["encoding"]["name"] == "cp1251"
    assert "no .cpg" in rep["file"]["encoding"]["how"]
    assert rep["file"]["crs"]["source"] == "EPSG:28412"
    tr = rep["transformation"]
    assert "Pulkovo 1942 to WGS 84" in tr["description"] and tr["accuracy_m"] > 0
    assert "PRIMECH" in rep["fields"]["unknown"] and "PRIMECH" in res.output
    assert rep["fields"]["mapped"]["KAD_NOMER"] == "cadastral_number"
    assert Path(rep["report"]).parent == load_settings.data_path / "reports"

    rows = parcel_rows(load_engine, z)
    assert set(rows) == {number(z, 1), number(z, 2), number(z, 3)}
    p1 = rows[number(z, 1)]
    assert p1["address"] == "г. Ташкент, ул. Навои, 1"
    assert (p1["land_category"], p1["permitted_use"]) == ("settlement", "commercial")
    assert rows[number(z, 2)]["address"].endswith("Bobur ko'chasi")
    # Same operation as the report names: the stored corner is where pyproj puts it.
    t = next(t for t in TransformerGroup(28412, 32642, always_xy=True).transformers
             if t.description == tr["description"])
    exp = shapely.transform(square(x, y), lambda xy: np.column_stack(
        t.transform(xy[:, 0], xy[:, 1])))
    # ... and it is the one whose area of use is Uzbekistan, a few metres from the others.
    assert "Uzbekistan" in t.area_of_use.name
    assert p1["geom"].geom_type == "MultiPolygon"
    assert shapely.hausdorff_distance(p1["geom"].geoms[0], exp) < 0.001
    assert len(rows[number(z, 2)]["geom"].geoms[0].interiors) == 1
    assert len(rows[number(z, 3)]["geom"].geoms) == 2

    with load_engine.connect() as c:
        tx = c.execute(text("SELECT t.kind, t.actor, d.kind AS dkind, d.file_name, d.sha256 "
                            "FROM registry_transaction t JOIN source_document d "
                            "ON d.id = t.source_document_id WHERE t.id = :i"),
                       {"i": rep["transaction_id"]}).mappings().one()
        assert (tx["kind"], tx["dkind"], tx["file_name"]) == ("import", "import", "uchastki.shp")
        assert tx["actor"] == "surveyor-7" and tx["sha256"] == rep["file"]["sha256"]
        # each inserted parcel is audited; the audit row points at the version the table
        # keeps (migration 0015), and cadastre_audit_image gives it back whole
        audited = c.execute(text(
            "SELECT a.actor, a.after, cadastre_audit_image(a.id) AS image FROM audit_log a"
            " WHERE a.table_name = 'parcel' AND a.operation = 'I'"
            " AND cadastre_audit_image(a.id)->>'cadastral_number' LIKE :p"),
            {"p": f"10:{district_of(z)}:{z:02d}:%"}).mappings().all()
        assert {a["actor"] for a in audited} == {"surveyor-7"}
        assert len(audited) == rep["counts"]["inserted"]
        assert all(a["after"] == {"version": 1} and a["image"]["version"] == 1
                   and a["image"]["transaction_id"] == rep["transaction_id"] for a in audited)
        tids = c.execute(text("SELECT DISTINCT transaction_id FROM parcel WHERE "
                              "split_part(cadastral_number, ':', 3) = :z"),
                         {"z": f"{z:02d}"}).scalars().all()
        assert tids == [rep["transaction_id"]]


def test_messy_records_are_rejected_with_reasons(cli, spot, tmp_path: Path,
                                                 load_engine) -> None:
    """Self-intersection, null geometry, duplicates, in-file overlap, bad number, wrong type,
    area mismatch: each record gets its reason, the good ones load in one transaction."""
    x, y, z = spot
    recs = [
        {"geometry": square(x, y), "KAD_NOMER": number(z, 1), "PLOSHAD": 400.0},     # ok
        {"geometry": bowtie(x, y + 40), "KAD_NOMER": number(z, 2)},                  # invalid
        {"geometry": None, "KAD_NOMER": number(z, 3)},                               # null
        {"geometry": square(x, y + 80), "KAD_NOMER": number(z, 4)},                  # dup a
        {"geometry": square(x + 40, y + 80), "KAD_NOMER": number(z, 4)},             # dup b
        {"geometry": square(x + 100, y), "KAD_NOMER": number(z, 6)},                 # overlap a
        {"geometry": square(x + 110, y + 10), "KAD_NOMER": number(z, 7)},            # overlap b
        {"geometry": square(x + 200, y), "KAD_NOMER": "10-09-01-0045"},              # number
        {"geometry": square(x + 240, y), "KAD_NOMER": number(z, 9), "PLOSHAD": 520.0}, # area
        {"geometry": square(x + 280, y), "KAD_NOMER": number(z, 10), "ADRES": "x",
         "KATEGORIYA": "Лунные земли"},                                              # category
        {"geometry": square(x + 320, y), "KAD_NOMER": number(z, 11)},                # touches
        {"geometry": square(x + 340, y), "KAD_NOMER": number(z, 12)},                # touches
    ]
    shp = write(tmp_path / "messy.shp", recs)
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    why = {r["row"]: " | ".join(r["reasons"]) for r in rep["rejected"]}
    assert set(why) == {2, 3, 4, 5, 6, 7, 8, 10}, why
    assert "invalid geometry: Self-intersection" in why[2] and "--repair" in why[2]
    assert "geometry is missing" in why[3]
    assert "appears 2 times in the file (rows 4, 5)" in why[4]
    assert re.search(r"overlaps row 7 \(.*\) in this file by (99\.\d|100\.\d) m²", why[6])
    assert "overlaps row 6" in why[7]
    assert "not in the form" in why[8]
    assert "unknown land category 'Лунные земли'" in why[10]
    warn = {w["row"]: " ".join(w["messages"]) for w in rep["warnings"]}
    assert "declared area 520.00 m² differs" in warn[9]
    assert rep["counts"]["inserted"] == 4 and rep["counts"]["rejected"] == 8
    for row in why:
        assert f"rejected row {row}" in res.output
    assert set(parcel_rows(load_engine, z)) == {number(z, 1), number(z, 9), number(z, 11),
                                                number(z, 12)}


def test_repair_marks_the_record(cli, spot, tmp_path: Path, load_engine) -> None:
    """--repair turns a bow-tie into a valid multipolygon and says so."""
    x, y, z = spot
    shp = write(tmp_path / "bowtie.shp", [{"geometry": bowtie(x, y), "KAD_NOMER": number(z, 1)}])
    res = cli("load", "parcels", str(shp), "--repair")
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["repaired"] == 1 and rep["repaired_rows"] == [1]
    assert "repaired with make_valid" in rep["warnings"][0]["messages"][0]
    g = parcel_rows(load_engine, z)[number(z, 1)]["geom"]
    assert g.is_valid and len(g.geoms) == 2


def test_against_the_database(cli, spot, tmp_path: Path, load_engine) -> None:
    """A registered number is a duplicate in insert mode; overlapping a registered parcel is
    rejected; a number naming no district of the registry is rejected (the database would
    refuse it), not placed by its location."""
    x, y, z = spot
    first = write(tmp_path / "first.shp", [{"geometry": square(x, y), "KAD_NOMER": number(z, 1)}])
    assert cli("load", "parcels", str(first)).exit_code == 0
    second = write(tmp_path / "second.shp", [
        {"geometry": square(x + 100, y), "KAD_NOMER": number(z, 1)},
        {"geometry": square(x + 5, y + 5), "KAD_NOMER": number(z, 2)},
        {"geometry": square(x - 19.999, y), "KAD_NOMER": number(z, 3)},   # 0.02 m² ≤ tolerance
        {"geometry": square(x + 200, y), "KAD_NOMER": f"10:99:{z:02d}:01:01:0004"},
    ])
    res = cli("load", "parcels", str(second))
    assert res.exit_code == 0, res.output
    why = {r["row"]: " | ".join(r["reasons"]) for r in report_of(res)["rejected"]}
    assert set(why) == {1, 2, 4}
    assert "already registered" in why[1] and "--mode upsert" in why[1]
    assert re.search(rf"overlaps registered parcel {number(z, 1)} by 22\d\.\d m²", why[2])
    assert "names district 99, which is not a district of the registry" in why[4]


def test_missing_crs_is_refused_then_accepted_with_crs(cli, spot, tmp_path: Path,
                                                       load_engine) -> None:
    """No .prj: a clear refusal naming --crs, nothing written, a report anyway."""
    x, y, z = spot
    shp = write(tmp_path / "nocrs.shp", [{"geometry": square(x, y), "KAD_NOMER": number(z, 1)}],
                epsg=None)
    assert not shp.with_suffix(".prj").exists()
    before = counts(load_engine)
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 1
    assert "no coordinate reference system" in res.output and "--crs EPSG:28412" in res.output
    assert "report: " in res.output
    assert counts(load_engine) == before
    res = cli("load", "parcels", str(shp), "--crs", "EPSG:28412")
    assert res.exit_code == 0, res.output
    assert report_of(res)["file"]["crs"]["how"] == "given with --crs"
    assert number(z, 1) in parcel_rows(load_engine, z)


def test_encoding_declared_by_cpg_and_option(cli, spot, tmp_path: Path, load_engine) -> None:
    """A .cpg is honoured; --encoding overrides; cp866 is recognised from the bytes."""
    x, y, z = spot
    a = write(tmp_path / "a.shp", [{"geometry": square(x, y), "KAD_NOMER": number(z, 1),
                                    "ADRES": "Юнусабад"}], encoding="cp866")
    res = cli("load", "parcels", str(a), "--dry-run")
    assert report_of(res)["file"]["encoding"]["name"] == "cp866", res.output
    b = write(tmp_path / "b.shp", [{"geometry": square(x, y), "KAD_NOMER": number(z, 1),
                                    "ADRES": "Юнусабад"}], encoding="utf-8", cpg=True)
    rep = report_of(cli("load", "parcels", str(b), "--dry-run"))
    assert rep["file"]["encoding"]["how"] == "declared by b.cpg"
    res = cli("load", "parcels", str(a), "--encoding", "cp866")
    assert res.exit_code == 0, res.output
    assert parcel_rows(load_engine, z)[number(z, 1)]["address"] == "Юнусабад"


def test_empty_file(cli, tmp_path: Path, load_engine) -> None:
    """An empty layer loads nothing and says so."""
    shp = write(tmp_path / "empty.shp", [], geometry="Polygon")
    before = counts(load_engine)
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    assert report_of(res)["status"] == "nothing to load"
    assert counts(load_engine) == before


def test_truncated_file_changes_nothing(cli, spot, tmp_path: Path, load_engine) -> None:
    """A .shp cut in the middle: a clear error, nothing written."""
    x, y, z = spot
    shp = write(tmp_path / "cut.shp", [{"geometry": square(x + 30 * k, y),
                                        "KAD_NOMER": number(z, k + 1)} for k in range(50)])
    data = shp.read_bytes()
    shp.write_bytes(data[: len(data) // 2])
    before = counts(load_engine)
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 1, res.output
    assert "cannot read cut.shp" in res.output
    assert report_of(res)["status"] in ("refused", "failed")
    assert counts(load_engine) == before
    assert parcel_rows(load_engine, z) == {}


def test_dry_run_changes_nothing(cli, spot, tmp_path: Path, load_engine) -> None:
    """--dry-run checks against the database and reports, but writes nothing."""
    x, y, z = spot
    shp = write(tmp_path / "dry.shp", [{"geometry": square(x + 30 * k, y),
                                        "KAD_NOMER": number(z, k + 1)} for k in range(5)])
    before = counts(load_engine)
    res = cli("load", "parcels", str(shp), "--dry-run")
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["status"] == "dry run" and rep["counts"]["would_insert"] == 5
    assert "nothing was written" in res.output
    assert counts(load_engine) == before


def test_unknown_key_field_needs_mapping(cli, spot, tmp_path: Path, load_engine) -> None:
    """A file whose number field has an unheard-of name is refused until --mapping names it."""
    x, y, z = spot
    shp = write(tmp_path / "odd.shp", [{"geometry": square(x, y), "RAQAM_UCH": number(z, 1),
                                        "MANZIL": "Mirobod"}],
                schema={"RAQAM_UCH": "str:24", "MANZIL": "str:40"})
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 1 and "RAQAM_UCH" in res.output and "--mapping" in res.output
    m = tmp_path / "map.yaml"
    m.write_text("RAQAM_UCH: cadastral_number\n", encoding="utf-8")
    res = cli("load", "parcels", str(shp), "--mapping", str(m))
    assert res.exit_code == 0, res.output
    row = parcel_rows(load_engine, z)[number(z, 1)]
    assert row["address"] == "Mirobod"


def test_shared_boundaries_and_progress(cli, spot, tmp_path: Path, load_engine) -> None:
    """A block of parcels sharing their edges (as real surveys do) loads whole after the SK-42
    transformation; --progress shows a bar with features/s."""
    x, y, z = spot
    recs = [{"geometry": square(x + 20 * i, y + 20 * j), "KAD_NOMER": number(z, 1 + i + 5 * j)}
            for i in range(5) for j in range(4)]
    shp = write(tmp_path / "block.shp", recs)
    res = cli("load", "parcels", str(shp), "--progress")
    assert res.exit_code == 0, res.output
    assert "features/s" in res.output
    assert "writing 20 parcels through the registry's rules" in res.output
    assert report_of(res)["counts"]["inserted"] == 20
    assert len(parcel_rows(load_engine, z)) == 20


def test_eastings_without_zone_number_are_refused_with_a_hint(cli, spot, tmp_path: Path,
                                                              load_engine) -> None:
    """A classic defect: Gauss-Krüger eastings without the zone number 12 under a .prj that
    says EPSG:28412. Nothing lands 12 000 km away; the hint names the CRS that fits, and
    with it the parcels land where the zone-numbered file puts them."""
    x, y, z = spot
    recs = [{"geometry": square(x - 12_000_000 + 30 * k, y), "KAD_NOMER": number(z, k + 1)}
            for k in range(3)]
    shp = write(tmp_path / "nozone.shp", recs)
    before = counts(load_engine)
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["rejected"] == 3 and rep["counts"]["inserted"] == 0
    assert all("outside Tashkent" in r["reasons"][0] for r in rep["rejected"])
    assert "--crs EPSG:2502" in rep["hints"][0] and "hint:" in res.output
    assert counts(load_engine) == before
    res = cli("load", "parcels", str(shp), "--crs", "EPSG:2502")
    assert res.exit_code == 0, res.output
    assert report_of(res)["counts"]["inserted"] == 3
    got = parcel_rows(load_engine, z)[number(z, 1)]["geom"]
    ref = shapely.Polygon(square(x, y).exterior.coords)
    from pyproj import Transformer

    want = shapely.transform(ref, lambda xy: np.column_stack(
        Transformer.from_crs(28412, 32642, always_xy=True).transform(xy[:, 0], xy[:, 1])))
    # the same place, up to the few metres between PROJ's Pulkovo 1942 → WGS 84 operations
    assert got.centroid.distance(want.centroid) < 10.0


def test_missing_shx_is_rebuilt(cli, spot, tmp_path: Path, load_engine) -> None:
    """A Shapefile that came without its .shx loads; the report says what was mended and the
    user's files are left as they were."""
    x, y, z = spot
    shp = write(tmp_path / "noshx.shp", [{"geometry": square(x + 30 * k, y),
                                          "KAD_NOMER": number(z, k + 1)} for k in range(4)])
    shp.with_suffix(".shx").unlink()
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["inserted"] == 4
    assert "without its .shx" in rep["file"]["repairs"][0] and "mended:" in res.output
    assert not shp.with_suffix(".shx").exists()
    assert len(parcel_rows(load_engine, z)) == 4


def test_number_naming_another_district_is_rejected(cli, spot, tmp_path: Path) -> None:
    """A parcel whose number names one district but which lies in another is rejected with
    both named (the database's district-consistency rule, caught first as a finding)."""
    from pyproj import Transformer

    _x, _y, z = spot
    # the seed point of Yunusobod's district cell (12), well inside it
    far_x, far_y = Transformer.from_crs(4326, 28412, always_xy=True).transform(69.285, 41.365)
    code = district_of(z)
    assert code != "12"
    shp = write(tmp_path / "elsewhere.shp", [{"geometry": square(far_x + 25 * z, far_y),
                                              "KAD_NOMER": number(z, 1)}])
    res = cli("load", "parcels", str(shp), "--dry-run")
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["rejected"] == 1
    msg = rep["rejected"][0]["reasons"][0]
    assert msg.startswith("lies mostly in district 12 Yunusobod (100% of its area), but its "
                          f"number names {code} "), msg


def test_cyrillic_field_names_and_cpg_variants(cli, spot, tmp_path: Path, load_engine) -> None:
    """Field names written in Cyrillic (КАД_НОМЕР, АДРЕС, ПЛОЩАДЬ, КАТЕГОРИЯ) reach the model
    fields; a .cpg saying 'ANSI 1251' is understood as cp1251."""
    x, y, z = spot
    schema = {"КАД_НОМЕР": "str:24", "АДРЕС": "str:80", "ПЛОЩАДЬ": "float:12.2",
              "КАТЕГОРИЯ": "str:60"}
    shp = write(tmp_path / "kirill.shp", [{"geometry": square(x, y), "КАД_НОМЕР": number(z, 1),
                                           "АДРЕС": "ул. Мукими, 7", "ПЛОЩАДЬ": 400.0,
                                           "КАТЕГОРИЯ": "Земли населённых пунктов"}],
                schema=schema)
    shp.with_suffix(".cpg").write_text("ANSI 1251", encoding="ascii")
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["file"]["encoding"]["name"] == "cp1251", rep["file"]["encoding"]
    assert rep["fields"]["mapped"] == {"КАД_НОМЕР": "cadastral_number", "АДРЕС": "address",
                                       "ПЛОЩАДЬ": "declared_area_m2",
                                       "КАТЕГОРИЯ": "land_category"}
    row = parcel_rows(load_engine, z)[number(z, 1)]
    assert row["address"] == "ул. Мукими, 7" and row["land_category"] == "settlement"


def test_wrong_language_driver_byte_is_overruled_by_the_bytes(cli, spot, tmp_path: Path,
                                                              load_engine) -> None:
    """A .dbf whose language driver byte says cp866 (0x26) but whose text is cp1251."""
    x, y, z = spot
    shp = write(tmp_path / "ldid.shp", [{"geometry": square(x + 30 * k, y),
                                         "KAD_NOMER": number(z, k + 1),
                                         "ADRES": f"г. Ташкент, ул. Шота Руставели, {k + 1}"}
                                        for k in range(3)], ldid=0x26)
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    enc = report_of(res)["file"]["encoding"]
    assert enc["name"] == "cp1251" and "declares cp866" in enc["how"], enc
    assert parcel_rows(load_engine, z)[number(z, 1)]["address"] == \
        "г. Ташкент, ул. Шота Руставели, 1"


def test_zero_in_an_old_numeric_field_means_not_given(cli, spot, tmp_path: Path,
                                                     load_engine) -> None:
    """dBASE numeric fields cannot be empty, so old files write 0 for "unknown": a declared
    area of 0 is kept as not given, with a warning, instead of rejecting the parcel."""
    x, y, z = spot
    shp = write(tmp_path / "zero.shp", [{"geometry": square(x, y), "KAD_NOMER": number(z, 1),
                                         "PLOSHAD": 0.0}])
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["inserted"] == 1
    assert "declared_area_m2 0 taken as not given" in rep["warnings"][0]["messages"][0]
    assert parcel_rows(load_engine, z)[number(z, 1)]["declared"] is None


def test_prj_that_lies_is_refused_with_a_hint(cli, spot, tmp_path: Path, load_engine) -> None:
    """A .prj saying WGS 84 over SK-42 zone-12 coordinates: nothing is placed (the
    coordinates leave the CRS's domain), no "use --repair" advice, and the hint names
    EPSG:28412."""
    x, y, z = spot
    shp = write(tmp_path / "liar.shp", [{"geometry": square(x + 30 * k, y),
                                         "KAD_NOMER": number(z, k + 1)} for k in range(3)],
                epsg=4326)
    before = counts(load_engine)
    res = cli("load", "parcels", str(shp))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["rejected"] == 3
    reasons = [r["reasons"][0] for r in rep["rejected"]]
    assert all(r.startswith("cannot be placed") and "--repair" not in r for r in reasons)
    assert "try --crs EPSG:28412" in rep["hints"][0]
    assert counts(load_engine) == before


def test_zipped_shapefile(cli, spot, tmp_path: Path, load_engine) -> None:
    """A Shapefile sent as a .zip (in a folder inside it) loads; a .zip with two datasets is
    refused with their names."""
    import zipfile

    x, y, z = spot
    shp = write(tmp_path / "uch.shp", [{"geometry": square(x + 30 * k, y),
                                        "KAD_NOMER": number(z, k + 1)} for k in range(2)])
    other = write(tmp_path / "other.shp", [{"geometry": square(x, y + 100),
                                            "KAD_NOMER": number(z, 9)}])
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    with zipfile.ZipFile(one, "w") as zf:
        for part in tmp_path.glob("uch.*"):
            zf.write(part, f"Yakkasaroy/{part.name}")
    with zipfile.ZipFile(two, "w") as zf:
        for part in [*tmp_path.glob("uch.*"), *tmp_path.glob("other.*")]:
            zf.write(part, part.name)
    assert other.exists() and shp.exists()
    before = counts(load_engine)
    res = cli("load", "parcels", str(two))
    assert res.exit_code == 1 and "other.shp, uch.shp" in res.output, res.output
    assert counts(load_engine) == before
    res = cli("load", "parcels", str(one))
    assert res.exit_code == 0, res.output
    rep = report_of(res)
    assert rep["counts"]["inserted"] == 2
    assert "Yakkasaroy/uch.shp extracted from one.zip" in rep["file"]["repairs"][0]
    assert len(parcel_rows(load_engine, z)) == 2


def test_value_lists_abbreviations_and_value_maps(cli, spot, tmp_path: Path,
                                                  load_engine) -> None:
    """'ИЖС' and the Soviet 'Земли поселений' are understood; an unheard-of value is rejected
    with the known codes, and a mapping file's values: section maps it."""
    x, y, z = spot
    recs = [{"geometry": square(x, y), "KAD_NOMER": number(z, 1), "VID_ISP": "ИЖС",
             "KATEGORIYA": "Земли поселений"},
            {"geometry": square(x + 30, y), "KAD_NOMER": number(z, 2),
             "VID_ISP": "Жилое строительство", "KATEGORIYA": "земли населенных пунктов."}]
    shp = write(tmp_path / "vals.shp", recs)
    res = cli("load", "parcels", str(shp), "--dry-run")
    rep = report_of(res)
    assert [r["row"] for r in rep["rejected"]] == [2]
    why = rep["rejected"][0]["reasons"][0]
    assert "unknown permitted use 'Жилое строительство'" in why and "individual_housing" in why
    m = tmp_path / "map.yaml"
    m.write_text("values:\n  permitted_use:\n    Жилое строительство: individual_housing\n",
                 encoding="utf-8")
    res = cli("load", "parcels", str(shp), "--mapping", str(m))
    assert res.exit_code == 0, res.output
    assert report_of(res)["counts"]["inserted"] == 2
    rows = parcel_rows(load_engine, z)
    assert {r["permitted_use"] for r in rows.values()} == {"individual_housing"}
    assert {r["land_category"] for r in rows.values()} == {"settlement"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("values:\n  permitted_use:\n    X: moon_base\n", encoding="utf-8")
    res = cli("load", "parcels", str(shp), "--mapping", str(bad))
    assert res.exit_code == 1 and "'moon_base' is not one of" in res.output
