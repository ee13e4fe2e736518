"""Camera view wedges: hand-computed cases in Python and the same answers from PostGIS."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import Point
from sqlalchemy import text

from cadastre_gis import cameras


def _at(az_deg: float, dist: float, x0: float = 0.0, y0: float = 0.0) -> tuple[float, float]:
    """A point at bearing az_deg (clockwise from north) and distance from (x0, y0)."""
    return x0 + dist * math.sin(math.radians(az_deg)), y0 + dist * math.cos(math.radians(az_deg))


# (heading, fov, range, point bearing, point distance, seen)
CASES = [
    (350, 40, 100, 5, 50, True),     # wedge 330..10 wraps over north: 5° is inside
    (350, 40, 100, 30, 50, False),   # 30° is 40° away from the heading
    (350, 40, 100, 335, 50, True),
    (350, 40, 100, 329, 50, False),
    (10, 40, 100, 355, 50, True),    # wedge -10..30 seen from the other side of north
    (10, 40, 100, 345, 50, False),
    (0, 90, 100, 44.9, 99, True),
    (0, 90, 100, 45.1, 99, False),
    (0, 90, 100, 0, 100.5, False),   # out of range
    (90, 60, 80, 90, 79, True),      # due east
    (90, 60, 80, 0, 10, False),
    (180, 120, 150, 239, 140, True),
    (180, 120, 150, 241, 140, False),
    (0, 360, 50, 200, 49, True),     # a 360° dome camera sees all around
]


@pytest.mark.parametrize("heading,fov,rng,az,dist,seen", CASES)
def test_python_wedge_math(heading, fov, rng, az, dist, seen) -> None:  # type: ignore[no-untyped-def]
    x, y = _at(az, dist)
    assert cameras.sees(0, 0, heading, fov, rng, x, y) is seen
    if dist <= rng and fov < 360:
        wedge = cameras.wedge(0, 0, heading, fov, rng, segments=64).buffer(1e-6)
        assert wedge.contains(Point(x, y)) is seen


def test_azimuth_and_difference() -> None:
    assert cameras.azimuth_deg(0, 0, 0, 10) == pytest.approx(0)
    assert cameras.azimuth_deg(0, 0, 10, 0) == pytest.approx(90)
    assert cameras.azimuth_deg(0, 0, -10, 0) == pytest.approx(270)
    assert cameras.bearing_difference(350, 5) == pytest.approx(15)
    assert cameras.bearing_difference(5, 350) == pytest.approx(15)
    assert cameras.bearing_difference(0, 180) == pytest.approx(180)


def test_wedge_area() -> None:
    w = cameras.wedge(0, 0, 350, 40, 100, segments=256)
    assert w.area == pytest.approx(math.pi * 100 ** 2 * 40 / 360, rel=1e-3)


@pytest.mark.parametrize("heading,fov,rng,az,dist,seen", CASES)
def test_postgis_agrees(db, heading, fov, rng, az, dist, seen) -> None:  # type: ignore[no-untyped-def]
    x0, y0 = 500000.0, 4570000.0
    x, y = _at(az, dist, x0, y0)
    got = db.execute(text(
        "SELECT camera_sees(ST_SetSRID(ST_MakePoint(:x0, :y0), 32642), :h, :f, :r,"
        " ST_SetSRID(ST_MakePoint(:x, :y), 32642))"),
        {"x0": x0, "y0": y0, "h": heading, "f": fov, "r": rng, "x": x, "y": y}).scalar_one()
    assert got is seen
    if dist <= rng and fov < 360:
        inside = db.execute(text(
            "SELECT ST_Intersects(ST_Buffer(camera_wedge(ST_SetSRID(ST_MakePoint(:x0, :y0), 32642),"
            " :h, :f, :r, 64), 1e-6), ST_SetSRID(ST_MakePoint(:x, :y), 32642))"),
            {"x0": x0, "y0": y0, "h": heading, "f": fov, "r": rng, "x": x, "y": y}).scalar_one()
        assert inside is seen


def test_cameras_seeing_an_incident_and_health(db) -> None:  # type: ignore[no-untyped-def]
    x, y = db.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p"
                           " FROM building WHERE status = 'active' ORDER BY id LIMIT 1) q")).one()
    inc = db.execute(text("INSERT INTO incident (category, geom) VALUES ('road',"
                          " ST_SetSRID(ST_MakePoint(:x, :y), 32642)) RETURNING id"),
                     {"x": x, "y": y}).scalar_one()
    # camera 30 m south looking north (sees), one looking south (does not), one with the
    # incident just outside its wedge, one far away
    cams = [("T-N", x, y - 30, 0, 60, 100, 2), ("T-S", x, y - 30, 180, 60, 100, 2),
            ("T-EDGE", x - 30, y - 30, 0, 60, 100, 2),  # incident at 45°: outside a ±30° wedge
            ("T-FAR", x, y - 300, 0, 60, 100, 2),
            ("T-OLD", x + 20, y, 270, 90, 50, 25)]      # sees it, but silent for 25 min
    for code, cx, cy, h, f, r, mins in cams:
        db.execute(text("INSERT INTO camera (code, heading_deg, fov_deg, range_m, last_heartbeat,"
                        " stream_url, geom) VALUES (:c, :h, :f, :r,"
                        " now() - make_interval(mins => :m), 'rtsp://x/' || :c,"
                        " ST_SetSRID(ST_MakePoint(:x, :y), 32642))"),
                   {"c": code, "h": h, "f": f, "r": r, "m": mins, "x": cx, "y": cy})
    seen = {c["code"]: c for c in cameras.cameras_seeing(db, inc, offline_minutes=10)
            if c["code"].startswith("T-")}
    assert set(seen) == {"T-N", "T-OLD"}
    assert seen["T-N"]["distance_m"] == pytest.approx(30, abs=0.1)
    assert seen["T-N"]["azimuth_deg"] == pytest.approx(0, abs=0.1)
    assert seen["T-N"]["health"] == "online" and seen["T-OLD"]["health"] == "offline"
    fc = cameras.cameras_geojson(db, 10, with_stream=False)
    props = [f["properties"] for f in fc["features"] if f["properties"]["kind"] == "camera"]
    assert props and all("stream_url" not in p for p in props)
    wedges = [f for f in fc["features"] if f["properties"]["kind"] == "wedge"]
    assert len(wedges) == len(props) and wedges[0]["geometry"]["type"] == "Polygon"
