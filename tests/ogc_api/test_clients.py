"""Real OGC API clients against the live server: GDAL's OAPIF driver, OWSLib, QGIS (PyQGIS)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import need, need_tool

BBOX = (69.30, 41.19, 69.36, 41.23)


def db_count(db: Any, table: str, bbox: tuple[float, ...], extra: str = "") -> int:
    """Active rows of ``table`` intersecting a CRS84 bbox (the way the API filters)."""
    return db.execute(text(
        f"SELECT count(*) FROM {table} WHERE status = 'active' {extra} AND ST_Intersects(geom,"
        " ST_Transform(ST_MakeEnvelope(:a, :b, :c, :d, 4326), 32642))"),
        dict(zip("abcd", bbox, strict=True))).scalar()


@pytest.mark.gdal
def test_gdal_ogrinfo_lists_collections(live_server: str) -> None:
    ogrinfo = need_tool("ogrinfo")
    out = subprocess.run([ogrinfo, "-ro", "-q", f"OAPIF:{live_server}/ogc"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    for coll in ("parcels", "buildings", "districts", "incidents", "cameras"):
        assert f": {coll}" in out, out


@pytest.mark.gdal
def test_gdal_pages_through_filtered_bbox(live_server: str, db: Any) -> None:
    ogrinfo = need_tool("ogrinfo")
    expected = db_count(db, "parcel", BBOX, "AND land_category = 'settlement'")
    assert expected > 100
    # GDAL sniffs "10:09:03:01:01:0045" as a time unless told to keep dates as strings
    out = subprocess.run(
        [ogrinfo, "-ro", "-al", "-q", "-oo", "PAGE_SIZE=100", "--config",
         "OGR_GEOJSON_DATE_AS_STRING", "YES", f"OAPIF:{live_server}/ogc",
         "parcels", "-spat", *map(str, BBOX), "-where", "land_category = 'settlement'"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    features = [ln for ln in out.splitlines() if ln.startswith("OGRFeature(parcels):")]
    numbers = [ln.split("=", 1)[1].strip() for ln in out.splitlines()
               if ln.strip().startswith("cadastral_number (String) =")]
    assert len(features) == expected
    assert len(numbers) == len(set(numbers)) == expected


@pytest.fixture()
def recording_server(settings: Any) -> Any:
    """The app on real HTTP, recording each request's path and query (what GDAL sent)."""
    import threading
    from dataclasses import replace

    from werkzeug.serving import make_server

    from tests.conftest import free_port
    from web import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(replace(settings, base_url=base))
    seen: list[str] = []
    inner = app.wsgi_app

    def record(environ: dict, start_response: Any) -> Any:
        from urllib.parse import unquote_plus

        seen.append(environ["PATH_INFO"] + "?" + unquote_plus(environ.get("QUERY_STRING", "")))
        return inner(environ, start_response)

    app.wsgi_app = record  # type: ignore[method-assign]
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, seen
    server.shutdown()


@pytest.mark.gdal
def test_gdal_pushes_where_and_spat_to_the_server(recording_server: Any, db: Any) -> None:
    """With Part 3 declared, GDAL sends -where as a CQL2 filter and -spat as bbox."""
    ogrinfo = need_tool("ogrinfo")
    base, seen = recording_server
    where = "land_category = 'settlement' AND area_m2 > 500"
    expected = db_count(db, "parcel", BBOX, "AND land_category = 'settlement' AND area_m2 > 500")
    total = db_count(db, "parcel", BBOX)
    assert 0 < expected < total
    out = subprocess.run(
        [ogrinfo, "-ro", "-al", "-q", "-oo", "PAGE_SIZE=1000", "--config",
         "OGR_GEOJSON_DATE_AS_STRING", "YES", f"OAPIF:{base}/ogc", "parcels",
         "-spat", *map(str, BBOX), "-where", where],
        capture_output=True, text=True, timeout=300, check=True).stdout
    assert out.count("OGRFeature(parcels):") == expected
    pages = [u for u in seen if u.startswith("/ogc/collections/parcels/items?")]
    assert pages, seen
    # the filter and the bbox reached the server: only matching features were sent (GDAL
    # reads one unfiltered page first to learn the layer's fields)
    filtered = [u for u in pages if "filter=" in u]
    assert len(pages) - len(filtered) <= 1, pages
    assert filtered and all("bbox=" in u for u in filtered), pages
    assert "land_category" in filtered[0] and "area_m2 > 500" in filtered[0], filtered[0]
    assert len(filtered) == -(-expected // 1000), pages


def test_owslib_features(live_server: str, db: Any) -> None:
    try:
        from owslib.ogcapi.features import Features
    except ImportError:
        need(False, "owslib (pip)")
    w = Features(f"{live_server}/ogc")
    ids = {c["id"] for c in w.feature_collections()} if isinstance(
        w.feature_collections()[0], dict) else set(w.feature_collections())
    assert {"parcels", "buildings", "districts", "incidents", "cameras"} <= ids
    coll = w.collection("parcels")
    assert coll["id"] == "parcels"
    q = w.collection_queryables("parcels")
    assert "cadastral_number" in q["properties"] and "owner" not in q["properties"]
    fc = w.collection_items("parcels", bbox=list(BBOX), limit=50)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 50
    # a CQL2 filter through OWSLib reaches the server (IN and NOT over a parenthesised OR)
    flt = ("land_category IN ('agricultural', 'industrial') AND NOT (area_m2 < 500 OR"
           " permitted_use = 'commercial')")
    got = w.collection_items("parcels", filter=flt, limit=10000, skipGeometry="true")
    expected = db.execute(text(
        "SELECT count(*) FROM parcel WHERE status = 'active' AND land_category IN"
        " ('agricultural', 'industrial') AND NOT (area_m2 < 500 OR permitted_use = 'commercial')"
    )).scalar()
    assert expected > 0 and len(got["features"]) == expected
    one = w.collection_item("parcels", str(fc["features"][0]["id"]))
    assert one["properties"]["cadastral_number"] == fc["features"][0]["properties"][
        "cadastral_number"]


QGIS_SCRIPT = textwrap.dedent("""
    import sys
    from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem,
                           QgsCoordinateTransform, QgsFeatureRequest, QgsProject, QgsRectangle,
                           QgsVectorLayer)
    app = QgsApplication([], False)
    app.initQgis()
    base, x1, y1, x2, y2 = sys.argv[1], *map(float, sys.argv[2:6])
    layer = QgsVectorLayer(f"url='{base}/ogc' typename='parcels' pageSize='500'", "p", "OAPIF")
    if not layer.isValid():
        print("INVALID", layer.error().summary())
        sys.exit(2)
    # QGIS reads the collection in its storage CRS (EPSG:32642): filter in the layer's CRS
    tr = QgsCoordinateTransform(QgsCoordinateReferenceSystem("OGC:CRS84"), layer.crs(),
                                QgsProject.instance())
    rect = tr.transformBoundingBox(QgsRectangle(x1, y1, x2, y2))
    req = QgsFeatureRequest().setFilterRect(rect)
    seen = [str(f["cadastral_number"]) for f in layer.getFeatures(req)]
    print("COUNT", len(seen), len(set(seen)), layer.crs().authid(), rect.xMinimum(),
          rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
    app.exitQgis()
""")


@pytest.mark.qgis
def test_qgis_reads_parcels_in_extent(live_server: str, db: Any, tmp_path: Path) -> None:
    python = "/usr/bin/python3"
    ok = Path(python).exists() and subprocess.run(
        [python, "-c", "import qgis.core"], capture_output=True).returncode == 0
    need(ok, "PyQGIS for /usr/bin/python3 (Debian package python3-qgis)")
    script = tmp_path / "qgis_oapif.py"
    script.write_text(QGIS_SCRIPT)
    # QGIS parses pages with OGR, which sniffs cadastral numbers as times unless told not to
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path),
               OGR_GEOJSON_DATE_AS_STRING="YES")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([python, str(script), live_server, *map(str, BBOX)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith(("COUNT", "INVALID"))]
    assert line and line[0].startswith("COUNT"), proc.stdout + proc.stderr
    _, n, unique, crs, *rect = line[0].split()
    assert crs in ("EPSG:32642", "OGC:CRS84", "EPSG:4326")
    srid = 32642 if crs == "EPSG:32642" else 4326
    expected = db.execute(text(
        "SELECT count(*) FROM parcel WHERE status = 'active' AND ST_Intersects(geom,"
        f" ST_Transform(ST_MakeEnvelope(:a, :b, :c, :d, {srid}), 32642))"),
        dict(zip("abcd", map(float, rect), strict=True))).scalar()
    assert expected > 100
    assert int(n) == int(unique) == expected
