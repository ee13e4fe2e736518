"""Incident analytics: counts by district × category, overdue incidents, time to resolve, a
trend over time and a hexagon heat layer (``ST_HexagonGrid``) — each for an
:class:`~cadastre_gis.incidents.IncidentFilter`."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .errors import InvalidInput
from .incidents import IncidentFilter

HEX_SIZES = (250, 500, 1000, 2000)


def check_size(size: Any) -> int:
    """A hexagon edge in metres: one of :data:`HEX_SIZES`."""
    if not str(size).isdigit() or int(size) not in HEX_SIZES:
        raise InvalidInput(f"size must be one of {', '.join(map(str, HEX_SIZES))}")
    return int(size)


def counts(conn: Connection, filt: IncidentFilter) -> list[dict[str, Any]]:
    """Incident counts by district × category (rows with a total)."""
    where, params = filt.where()
    rows = conn.execute(text(f"""
        SELECT coalesce(d.name, '(outside)') AS district, i.category, count(*) AS n,
               count(*) FILTER (WHERE i.status IN ('new','triaged','dispatched','in_progress')) AS open
          FROM incident i LEFT JOIN district d ON d.id = i.district_id
         WHERE {where}
         GROUP BY 1, 2 ORDER BY 1, 2"""), params).mappings()
    return [dict(r) for r in rows]


def overdue(conn: Connection, filt: IncidentFilter, limit: int = 500) -> list[dict[str, Any]]:
    """Open incidents past their deadline, most overdue first."""
    where, params = filt.where()
    rows = conn.execute(text(f"""
        SELECT i.id, i.category, i.status, i.priority, coalesce(d.name, '') AS district,
               coalesce(s.name, '') AS service, i.reported_at, i.deadline,
               round((extract(epoch FROM cadastre_now() - i.deadline) / 3600)::numeric, 1)::float
                 AS hours_overdue
          FROM incident i LEFT JOIN district d ON d.id = i.district_id
          LEFT JOIN service s ON s.id = i.service_id
         WHERE {where} AND i.deadline < cadastre_now()
           AND i.status IN ('new','triaged','dispatched','in_progress')
         ORDER BY i.deadline LIMIT :lim"""), {**params, "lim": limit}).mappings()
    return [dict(r) for r in rows]


def time_to_resolve(conn: Connection, filt: IncidentFilter, by: str) -> list[dict[str, Any]]:
    """Median (and 90th percentile) hours from report to resolution by category or district."""
    where, params = filt.where()
    key = {"category": "i.category", "district": "coalesce(d.name, '(outside)')"}[by]
    rows = conn.execute(text(f"""
        SELECT {key} AS key, count(*) AS resolved,
               round((percentile_cont(0.5) WITHIN GROUP (ORDER BY
                 extract(epoch FROM i.resolved_at - i.reported_at)) / 3600)::numeric, 1)::float
                 AS median_hours,
               round((percentile_cont(0.9) WITHIN GROUP (ORDER BY
                 extract(epoch FROM i.resolved_at - i.reported_at)) / 3600)::numeric, 1)::float
                 AS p90_hours,
               round(avg((i.resolved_at <= i.deadline)::int) * 100, 1)::float AS on_time_pct
          FROM incident i LEFT JOIN district d ON d.id = i.district_id
         WHERE {where} AND i.resolved_at IS NOT NULL
         GROUP BY 1 ORDER BY 1"""), params).mappings()
    return [dict(r) for r in rows]


def hexagons(conn: Connection, filt: IncidentFilter, size: int) -> dict[str, Any]:
    """Incident counts on a hexagon grid (edge ``size`` metres) as a CRS84 FeatureCollection."""
    where, params = filt.where()
    rows = conn.execute(text(f"""
        WITH pts AS (SELECT i.geom FROM incident i WHERE {where}),
        grid AS (
          SELECT h.geom, h.i, h.j FROM ST_HexagonGrid(:size,
            (SELECT ST_SetSRID(ST_Extent(geom), 32642) FROM district)) h)
        SELECT g.i, g.j, count(*) AS n,
               ST_AsGeoJSON(ST_Transform(g.geom, 4326), 6)::json AS geom
          FROM grid g JOIN pts p ON ST_Intersects(g.geom, p.geom)
         GROUP BY g.i, g.j, g.geom"""), {**params, "size": size})
    feats = [{"type": "Feature", "geometry": r.geom,
              "properties": {"i": r.i, "j": r.j, "count": r.n}} for r in rows]
    return {"type": "FeatureCollection", "features": feats,
            "max": max((f["properties"]["count"] for f in feats), default=0)}


def trend(conn: Connection, filt: IncidentFilter) -> dict[str, Any]:
    """Incidents reported and resolved per hour (1h/24h windows) or per day, Tashkent time."""
    where, params = filt.where()
    bucket = "hour" if filt.window in ("1h", "24h") else "day"
    rows = conn.execute(text(f"""
        WITH f AS (SELECT i.reported_at, i.resolved_at FROM incident i WHERE {where})
        SELECT 'reported' AS kind, date_trunc(:b, reported_at AT TIME ZONE 'Asia/Tashkent') AS t,
               count(*) AS n FROM f GROUP BY 2
        UNION ALL
        SELECT 'resolved', date_trunc(:b, resolved_at AT TIME ZONE 'Asia/Tashkent'), count(*)
          FROM f WHERE resolved_at IS NOT NULL GROUP BY 2
        ORDER BY 2"""), {**params, "b": bucket}).all()
    series: dict[str, dict[str, int]] = {"reported": {}, "resolved": {}}
    for kind, t, n in rows:
        series[kind][t.strftime("%Y-%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d")] = n
    labels = sorted(set(series["reported"]) | set(series["resolved"]))
    return {"bucket": bucket, "labels": labels,
            "reported": [series["reported"].get(k, 0) for k in labels],
            "resolved": [series["resolved"].get(k, 0) for k in labels]}


MAX_HEX_CELLS = 50_000
"""Largest hexagon grid one heat-map tile may build."""


def hexagon_tile(conn: Connection, filt: IncidentFilter, z: int, x: int, y: int,
                 size: int) -> bytes:
    """The heat layer as one Mapbox Vector Tile (layer ``hexagons``, property ``count``).

    The grid is built in Web Mercator on the tile, so cells line up across tiles; ``size``
    is the edge in metres on the ground at Tashkent's latitude.
    """
    check_size(size)
    if not (0 <= z <= 22 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise InvalidInput("tile out of range")
    # A low-zoom tile would grid the whole world (billions of cells, gigabytes of temp files).
    edge = size / math.cos(math.radians(41.3))
    if (40075016.69 / 2 ** z) ** 2 / (1.5 * math.sqrt(3) * edge ** 2) > MAX_HEX_CELLS:
        raise InvalidInput(f"zoom in: a tile holds at most {MAX_HEX_CELLS} hexagons")
    where, params = filt.where()
    tile = conn.execute(text(f"""
        WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env),
        pts AS (SELECT ST_Transform(i.geom, 3857) AS g FROM incident i, b
                 WHERE {where} AND i.geom && ST_Transform(b.env, 32642)),
        hex AS (SELECT h.geom, h.i, h.j FROM b,
                  ST_HexagonGrid(:size / cos(radians(41.3)), b.env) h),
        q AS (SELECT ST_AsMVTGeom(h.geom, b.env) AS geom, count(*) AS count
                FROM hex h JOIN pts p ON ST_Intersects(h.geom, p.g), b
               GROUP BY h.i, h.j, h.geom, b.env)
        SELECT ST_AsMVT(q, 'hexagons', 4096, 'geom') FROM q"""),
        {**params, "z": z, "x": x, "y": y, "size": int(size)}).scalar_one()
    return bytes(tile or b"")
