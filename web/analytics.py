"""Situation analytics: counts by district × category, overdue incidents, median time to
resolve, a hexagon heat layer (ST_HexagonGrid) and CSV export. Operators only."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from sqlalchemy import text

from cadastre_gis import incidents
from cadastre_gis.errors import InvalidInput

from .db import conn
from .security import current_role, require

bp = Blueprint("analytics", __name__, url_prefix="/analytics")

HEX_SIZES = (250, 500, 1000, 2000)


def _where() -> tuple[str, dict[str, Any], str]:
    window = request.args.get("window", "30d")
    if window == "all":
        window = ""
    district = request.args.get("district") or None
    if district is not None and not district.isdigit():
        raise InvalidInput("district must be a district id")
    where, params = incidents.filters_sql(category=request.args.get("category") or None,
                                          district=int(district) if district else None,
                                          window=window or None)
    return where, params, window or "all"


def counts(where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Incident counts by district × category (rows with a total)."""
    rows = conn().execute(text(f"""
        SELECT coalesce(d.name, '(outside)') AS district, i.category, count(*) AS n,
               count(*) FILTER (WHERE i.status IN ('new','triaged','dispatched','in_progress')) AS open
          FROM incident i LEFT JOIN district d ON d.id = i.district_id
         WHERE {where}
         GROUP BY 1, 2 ORDER BY 1, 2"""), params).mappings()
    return [dict(r) for r in rows]


def overdue(where: str, params: dict[str, Any], limit: int = 500) -> list[dict[str, Any]]:
    """Open incidents past their deadline, most overdue first."""
    rows = conn().execute(text(f"""
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


def time_to_resolve(where: str, params: dict[str, Any], by: str) -> list[dict[str, Any]]:
    """Median (and 90th percentile) hours from report to resolution by category or district."""
    key = {"category": "i.category", "district": "coalesce(d.name, '(outside)')"}[by]
    rows = conn().execute(text(f"""
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


def hexagons(where: str, params: dict[str, Any], size: int) -> dict[str, Any]:
    """Incident counts on a hexagon grid (edge ``size`` metres) as a CRS84 FeatureCollection."""
    rows = conn().execute(text(f"""
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


def trend(where: str, params: dict[str, Any], window: str) -> dict[str, Any]:
    """Incidents reported and resolved per hour (1h/24h windows) or per day, Tashkent time."""
    bucket = "hour" if window in ("1h", "24h") else "day"
    rows = conn().execute(text(f"""
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


JS_MESSAGES = ("Incidents", "Reported", "Resolved", "median h", "p90 h",
               "incidents per hexagon")


@bp.route("")
@bp.route("/")
def page():  # type: ignore[no-untyped-def]
    """The analytics page with tables and charts."""
    if current_role() is None:
        return redirect(url_for("auth.login", next="/analytics"))
    require("situation.view")
    from flask_babel import get_locale, gettext

    from .situation import STATUS_LABELS, WINDOW_LABELS

    where, params, window = _where()
    lang = str(get_locale() or "en")[:2]
    opts = incidents.dashboard_options(conn(), lang)
    names = {c["code"]: c["name"] for c in opts["categories"]}
    cats = sorted(names)
    cnt = counts(where, params)
    matrix: dict[str, dict[str, int]] = {}
    for r in cnt:
        matrix.setdefault(r["district"], {})[r["category"]] = r["n"]
    by_category = time_to_resolve(where, params, "category")
    data = {"matrix": matrix, "categories": cats, "names": names, "by_category": by_category,
            "trend": trend(where, params, window), "lang": lang,
            "messages": {m: gettext(m) for m in JS_MESSAGES}}
    windows = {w: gettext(WINDOW_LABELS[w]) for w in incidents.WINDOWS}
    windows["all"] = gettext("all")
    return render_template(
        "analytics/index.html", window=window, categories=cats, category_names=names,
        districts=opts["districts"], matrix=matrix, overdue=overdue(where, params, 200),
        by_category=by_category, by_district=time_to_resolve(where, params, "district"),
        statuses={k: gettext(v) for k, v in STATUS_LABELS.items()},
        args=request.args, windows=windows, data=data)


@bp.route("/api/summary.json")
def summary():  # type: ignore[no-untyped-def]
    """All figures as JSON (for charts and other systems)."""
    require("situation.view")
    where, params, window = _where()
    return jsonify({"window": window, "counts": counts(where, params),
                    "overdue": [{**r, "reported_at": r["reported_at"].isoformat(),
                                 "deadline": r["deadline"].isoformat()}
                                for r in overdue(where, params)],
                    "time_to_resolve": {"category": time_to_resolve(where, params, "category"),
                                        "district": time_to_resolve(where, params, "district")}})


@bp.route("/api/hexagons.geojson")
def hexagons_geojson():  # type: ignore[no-untyped-def]
    """Hexagon heat layer; ``size`` = hexagon edge in metres (250, 500, 1000 or 2000)."""
    require("situation.view")
    size = request.args.get("size", "500")
    if not size.isdigit() or int(size) not in HEX_SIZES:
        raise InvalidInput(f"size must be one of {', '.join(map(str, HEX_SIZES))}")
    where, params, _w = _where()
    return jsonify(hexagons(where, params, int(size)))


@bp.route("/tiles/hexagons/<int:z>/<int:x>/<int:y>.mvt")
def hexagons_mvt(z: int, x: int, y: int):  # type: ignore[no-untyped-def]
    """The heat layer as Mapbox Vector Tiles (layer ``hexagons``, property ``count``).

    The grid is built in Web Mercator on the tile, so cells line up across tiles; ``size``
    is the edge in metres on the ground at Tashkent's latitude.
    """
    require("situation.view")
    if not (0 <= z <= 22 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise InvalidInput("tile out of range")
    size = request.args.get("size", "500")
    if not size.isdigit() or int(size) not in HEX_SIZES:
        raise InvalidInput(f"size must be one of {', '.join(map(str, HEX_SIZES))}")
    where, params, _w = _where()
    tile = conn().execute(text(f"""
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
    return Response(bytes(tile or b""), mimetype="application/vnd.mapbox-vector-tile",
                    headers={"Cache-Control": "private, max-age=60"})


@bp.route("/export.csv")
def export_csv():  # type: ignore[no-untyped-def]
    """CSV export: ``table`` = counts, overdue, resolve_category or resolve_district."""
    require("situation.view")
    table = request.args.get("table", "counts")
    where, params, window = _where()
    if table == "counts":
        rows = counts(where, params)
    elif table == "overdue":
        rows = overdue(where, params, 100000)
    elif table in ("resolve_category", "resolve_district"):
        rows = time_to_resolve(where, params, table.split("_")[1])
    else:
        raise InvalidInput("table must be counts, overdue, resolve_category or resolve_district")
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()})
    return Response(buf.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="incidents-{table}-{window}.csv"'})
