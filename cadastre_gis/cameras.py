"""Street cameras: view-wedge math (mirrors the SQL functions of migration 0007) and queries.

Bearings are degrees clockwise from north (as PostGIS ``ST_Azimuth`` gives them in radians),
in the metric storage CRS EPSG:32642, where grid north is true north on the central meridian.
"""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import Point, Polygon
from sqlalchemy import text
from sqlalchemy.engine import Connection


def azimuth_deg(x0: float, y0: float, x1: float, y1: float) -> float:
    """Bearing from (x0, y0) to (x1, y1), degrees clockwise from north in [0, 360)."""
    return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0


def bearing_difference(a: float, b: float) -> float:
    """Smallest angle between two bearings, 0..180 degrees (wraps across 0°/360°)."""
    return abs((a - b + 540.0) % 360.0 - 180.0)


def sees(cam_x: float, cam_y: float, heading: float, fov: float, range_m: float,
         x: float, y: float) -> bool:
    """True when a camera at (cam_x, cam_y) sees the point (x, y): in range and in the wedge."""
    dist = math.hypot(x - cam_x, y - cam_y)
    if dist > range_m:
        return False
    if fov >= 360.0 or dist == 0.0:
        return True
    return bearing_difference(azimuth_deg(cam_x, cam_y, x, y), heading) <= fov / 2.0


def wedge(cam_x: float, cam_y: float, heading: float, fov: float, range_m: float,
          segments: int = 24) -> Polygon:
    """The view wedge polygon: apex at the camera, an arc of ``segments`` steps at range."""
    if fov >= 360.0:
        return Point(cam_x, cam_y).buffer(range_m, quad_segs=max(1, segments // 4))
    pts = [(cam_x, cam_y)]
    for s in range(segments + 1):
        b = math.radians(heading - fov / 2.0 + fov * s / segments)
        pts.append((cam_x + range_m * math.sin(b), cam_y + range_m * math.cos(b)))
    pts.append((cam_x, cam_y))
    return Polygon(pts)


def cameras_seeing(conn: Connection, incident_id: int, offline_minutes: int = 10
                   ) -> list[dict[str, Any]]:
    """Cameras that see an incident (nearest first) with their computed health."""
    rows = conn.execute(text(
        "SELECT camera_id AS id, code, name, round(distance_m::numeric, 1)::float AS distance_m,"
        " round(azimuth_deg::numeric, 1)::float AS azimuth_deg, health,"
        " (SELECT stream_url IS NOT NULL FROM camera WHERE camera.id = camera_id) AS has_stream"
        " FROM cameras_seeing(:i, :m)"), {"i": incident_id, "m": offline_minutes})
    return [dict(r._mapping) for r in rows]


def cameras_geojson(conn: Connection, offline_minutes: int = 10, with_stream: bool = False,
                    bbox: tuple[float, float, float, float] | None = None) -> dict[str, Any]:
    """Cameras as a CRS84 FeatureCollection: points with wedge polygons as a property geometry.

    Each camera yields two features: its point (``kind: camera``) and its wedge
    (``kind: wedge``), so a map draws both from one source. Stream URLs only when asked
    (never for browsers: they watch through the relay, see :mod:`cadastre_gis.video`);
    ``has_stream`` tells whether there is anything to watch.
    """
    where = ""
    params: dict[str, Any] = {"m": offline_minutes}
    if bbox:
        where = ("WHERE c.geom && ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), 32642)")
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
    rows = conn.execute(text(f"""
        SELECT c.id, c.code, c.name, c.district_id, c.heading_deg, c.fov_deg, c.range_m,
               c.status, c.last_heartbeat, c.stream_url,
               camera_health(c.status, c.last_heartbeat, :m) AS health,
               ST_AsGeoJSON(ST_Transform(c.geom, 4326), 7)::json AS point,
               ST_AsGeoJSON(ST_Transform(camera_wedge(c.geom, c.heading_deg, c.fov_deg,
                                                      c.range_m, 12), 4326), 7)::json AS wedge
          FROM camera c {where} ORDER BY c.id"""), params)
    feats = []
    for r in rows:
        props = {"id": r.id, "code": r.code, "name": r.name, "district_id": r.district_id,
                 "heading_deg": r.heading_deg, "fov_deg": r.fov_deg, "range_m": r.range_m,
                 "status": r.status, "health": r.health, "has_stream": bool(r.stream_url),
                 "last_heartbeat": r.last_heartbeat.isoformat() if r.last_heartbeat else None}
        if with_stream:
            props["stream_url"] = r.stream_url
        feats.append({"type": "Feature", "id": r.id, "geometry": r.point,
                      "properties": {**props, "kind": "camera"}})
        feats.append({"type": "Feature", "geometry": r.wedge,
                      "properties": {"id": r.id, "health": r.health, "kind": "wedge"}})
    return {"type": "FeatureCollection", "features": feats}


def stream_source(conn: Connection, camera_id: int) -> dict[str, Any]:
    """A camera's code, name and private stream URL (for the server-side video relay only)."""
    row = conn.execute(text("SELECT id, code, name, stream_url FROM camera WHERE id = :i"),
                       {"i": camera_id}).mappings().first()
    if row is None:
        from .errors import NotFound

        raise NotFound(f"camera {camera_id} does not exist")
    return dict(row)


def heartbeat(conn: Connection, code: str, offline_minutes: int = 10) -> dict[str, Any]:
    """A camera reports it is alive: an offline camera comes back online."""
    row = conn.execute(text(
        "UPDATE camera SET last_heartbeat = now(),"
        " status = CASE WHEN status = 'offline' THEN 'online' ELSE status END"
        " WHERE code = :c RETURNING id, status, camera_health(status, now(), :m) AS health"),
        {"c": code, "m": offline_minutes}).mappings().first()
    if row is None:
        from .errors import NotFound

        raise NotFound(f"camera {code} does not exist")
    return dict(row)
