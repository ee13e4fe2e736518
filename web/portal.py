"""Public portal: the offline web map (MapLibre on our own vector tiles), search and parcel card,
and the real figures per district below the map."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, render_template, request
from sqlalchemy import text

from .db import conn

bp = Blueprint("portal", __name__)

# Tashkent at a glance: [lon, lat], zoom (Amir Temur square).
CITY_CENTRE = (69.2797, 41.3111)
CITY_ZOOM = 10.5


FIGURES_TTL_S = 60.0
_figures_cache: dict[str, tuple[float, list[dict]]] = {}


def district_figures() -> list[dict]:
    """Active parcels, buildings and open incidents per district (cached for a minute).

    One grouped scan per table: on a 300 000-parcel city this takes ~0.3 s, so the landing
    page keeps the result for ``FIGURES_TTL_S`` seconds per process rather than delay the map.
    """
    key = str(conn().engine.url)
    hit = _figures_cache.get(key)
    if hit and time.monotonic() - hit[0] < FIGURES_TTL_S:
        return hit[1]
    rows = conn().execute(text("""
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
    figures = [dict(r._mapping) for r in rows]
    _figures_cache[key] = (time.monotonic(), figures)
    return figures


def district_labels() -> dict:
    """One label point per district (CRS84 GeoJSON), so names are not repeated per tile."""
    rows = conn().execute(text("""
        SELECT d.code, d.name, d.name_ru, ST_X(c) AS lon, ST_Y(c) AS lat
          FROM district d
          CROSS JOIN LATERAL (SELECT ST_Transform(ST_PointOnSurface(d.geom), 4326) AS c) g
         ORDER BY d.code"""))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": int(r.code),
         "geometry": {"type": "Point", "coordinates": [round(r.lon, 6), round(r.lat, 6)]},
         "properties": {"code": r.code, "name": r.name, "name_ru": r.name_ru or r.name}}
        for r in rows]}


def city_bounds() -> list[float] | None:
    """The extent of all districts in CRS84 [minx, miny, maxx, maxy]."""
    row = conn().execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
        " (SELECT box2d(ST_Transform(ST_SetSRID(ST_Extent(geom), 32642), 4326)) AS e"
        "  FROM district) x")).first()
    if row is None or row[0] is None:
        return None
    return [round(float(v), 5) for v in row]


@bp.app_context_processor
def _lang_links() -> dict:
    """``lang_url(code)``: this page in another language, keeping its query (year, parcel…)."""
    from urllib.parse import urlencode

    def lang_url(code: str) -> str:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
        return request.path + "?" + urlencode([*args, ("lang", code)])

    return {"lang_url": lang_url}


@bp.route("/")
def index():  # type: ignore[no-untyped-def]
    """The map with search, and what the platform holds per district."""
    figures = district_figures()
    totals = {k: sum(f[k] for f in figures) for k in ("parcels", "buildings", "open_incidents")}
    return render_template("portal/index.html", figures=figures, totals=totals,
                           bounds=city_bounds(), centre=CITY_CENTRE, zoom=CITY_ZOOM,
                           parcel=request.args.get("parcel", ""))


@bp.route("/api/districts/labels")
def labels() -> Response:
    """District name points for the map."""
    resp = jsonify(district_labels())
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp
