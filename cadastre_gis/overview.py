"""The city at a glance for the public portal: figures per district, district label points,
the city's extent. Public data only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection


def district_figures(c: Connection) -> list[dict[str, Any]]:
    """Active parcels, buildings and open incidents per district (one grouped scan per table)."""
    rows = c.execute(text("""
        WITH pc AS (SELECT district_id, count(*) AS n FROM parcel WHERE status = 'active'
                     GROUP BY district_id),
             bc AS (SELECT district_id, count(*) AS n FROM building WHERE status = 'active'
                     GROUP BY district_id),
             ic AS (SELECT district_id, count(*) AS n FROM incident
                     WHERE status NOT IN ('resolved', 'closed', 'duplicate', 'rejected')
                     GROUP BY district_id)
        SELECT d.code, d.name, d.name_ru, coalesce(pc.n, 0) AS parcels,
               coalesce(bc.n, 0) AS buildings, coalesce(ic.n, 0) AS open_incidents,
               round((d.area_m2 / 1e6)::numeric, 1) AS area_km2
          FROM district d
          LEFT JOIN pc ON pc.district_id = d.id
          LEFT JOIN bc ON bc.district_id = d.id
          LEFT JOIN ic ON ic.district_id = d.id
         ORDER BY d.name"""))
    return [dict(r._mapping) for r in rows]


def district_labels(c: Connection) -> dict[str, Any]:
    """One label point per district (CRS84 GeoJSON), so names are not repeated per tile."""
    rows = c.execute(text("""
        SELECT d.code, d.name, d.name_ru, ST_X(c) AS lon, ST_Y(c) AS lat
          FROM district d
          CROSS JOIN LATERAL (SELECT ST_Transform(ST_PointOnSurface(d.geom), 4326) AS c) g
         ORDER BY d.code"""))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": int(r.code),
         "geometry": {"type": "Point", "coordinates": [round(r.lon, 6), round(r.lat, 6)]},
         "properties": {"code": r.code, "name": r.name, "name_ru": r.name_ru or r.name}}
        for r in rows]}


def city_bounds(c: Connection) -> list[float] | None:
    """The extent of all districts in CRS84 [minx, miny, maxx, maxy]."""
    row = c.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
        " (SELECT box2d(ST_Transform(ST_SetSRID(ST_Extent(geom), 32642), 4326)) AS e"
        "  FROM district) x")).first()
    if row is None or row[0] is None:
        return None
    return [round(float(v), 5) for v in row]


def permitted_uses(c: Connection, lang: str = "en") -> list[dict[str, Any]]:
    """Permitted-use codes with their names in ``lang`` (the map legend)."""
    lang = lang if lang in ("en", "ru", "uz") else "en"
    rows = c.execute(text(f"SELECT code, name_{lang} AS name FROM permitted_use ORDER BY code"))
    return [dict(r._mapping) for r in rows]
