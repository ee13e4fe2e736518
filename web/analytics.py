"""Situation analytics pages: parse the filters, call :mod:`cadastre_gis.analytics`, render
(tables, charts, a hexagon heat layer, CSV). Operators only."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for

from cadastre_gis import analytics, incidents
from cadastre_gis.errors import InvalidInput

from .db import conn
from .security import current_role, require

bp = Blueprint("analytics", __name__, url_prefix="/analytics")



def _filter() -> tuple[incidents.IncidentFilter, str]:
    """The page's filters (window default 30 days; ``all`` for any time) and the window."""
    window = request.args.get("window", "30d")
    if window == "all":
        window = ""
    filt = incidents.IncidentFilter.parse(category=request.args.get("category"),
                                          district=request.args.get("district"),
                                          window=window or None)
    return filt, window or "all"


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

    filt, window = _filter()
    c = conn()
    lang = str(get_locale() or "en")[:2]
    opts = incidents.dashboard_options(c, lang)
    names = {c["code"]: c["name"] for c in opts["categories"]}
    cats = sorted(names)
    cnt = analytics.counts(c, filt)
    matrix: dict[str, dict[str, int]] = {}
    for r in cnt:
        matrix.setdefault(r["district"], {})[r["category"]] = r["n"]
    by_category = analytics.time_to_resolve(c, filt, "category")
    data = {"matrix": matrix, "categories": cats, "names": names, "by_category": by_category,
            "trend": analytics.trend(c, filt), "lang": lang,
            "messages": {m: gettext(m) for m in JS_MESSAGES}}
    windows = {w: gettext(WINDOW_LABELS[w]) for w in incidents.WINDOWS}
    windows["all"] = gettext("all")
    return render_template(
        "analytics/index.html", window=window, categories=cats, category_names=names,
        districts=opts["districts"], matrix=matrix, overdue=analytics.overdue(c, filt, 200),
        by_category=by_category, by_district=analytics.time_to_resolve(c, filt, "district"),
        statuses={k: gettext(v) for k, v in STATUS_LABELS.items()},
        args=request.args, windows=windows, data=data)


@bp.route("/api/summary.json")
def summary():  # type: ignore[no-untyped-def]
    """All figures as JSON (for charts and other systems)."""
    require("situation.view")
    filt, window = _filter()
    c = conn()
    return jsonify({"window": window, "counts": analytics.counts(c, filt),
                    "overdue": [{**r, "reported_at": r["reported_at"].isoformat(),
                                 "deadline": r["deadline"].isoformat()}
                                for r in analytics.overdue(c, filt)],
                    "time_to_resolve": {
                        "category": analytics.time_to_resolve(c, filt, "category"),
                        "district": analytics.time_to_resolve(c, filt, "district")},
                    "trend": analytics.trend(c, filt)})


@bp.route("/api/hexagons.geojson")
def hexagons_geojson():  # type: ignore[no-untyped-def]
    """Hexagon heat layer; ``size`` = hexagon edge in metres (250, 500, 1000 or 2000)."""
    require("situation.view")
    size = analytics.check_size(request.args.get("size", "500"))
    return jsonify(analytics.hexagons(conn(), _filter()[0], size))


@bp.route("/tiles/hexagons/<int:z>/<int:x>/<int:y>.mvt")
def hexagons_mvt(z: int, x: int, y: int):  # type: ignore[no-untyped-def]
    """The heat layer as Mapbox Vector Tiles (layer ``hexagons``, property ``count``)."""
    require("situation.view")
    tile = analytics.hexagon_tile(conn(), _filter()[0], z, x, y,
                                  analytics.check_size(request.args.get("size", "500")))
    return Response(tile, mimetype="application/vnd.mapbox-vector-tile",
                    headers={"Cache-Control": "private, max-age=60"})


@bp.route("/export.csv")
def export_csv():  # type: ignore[no-untyped-def]
    """CSV export: ``table`` = counts, overdue, resolve_category or resolve_district."""
    require("situation.view")
    table = request.args.get("table", "counts")
    filt, window = _filter()
    c = conn()
    if table == "counts":
        rows = analytics.counts(c, filt)
    elif table == "overdue":
        rows = analytics.overdue(c, filt, 100000)
    elif table in ("resolve_category", "resolve_district"):
        rows = analytics.time_to_resolve(c, filt, table.split("_")[1])
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
