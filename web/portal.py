"""Public portal: the offline web map (MapLibre on our own vector tiles), search and parcel card,
and the real figures per district below the map (queries in :mod:`cadastre_gis.overview`)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, render_template, request

from cadastre_gis import overview

from .db import read_conn

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
    key = str(read_conn().engine.url)
    hit = _figures_cache.get(key)
    if hit and time.monotonic() - hit[0] < FIGURES_TTL_S:
        return hit[1]
    figures = overview.district_figures(read_conn())
    _figures_cache[key] = (time.monotonic(), figures)
    return figures


def district_labels() -> dict:
    """One label point per district (CRS84 GeoJSON)."""
    return overview.district_labels(read_conn())


def city_bounds() -> list[float] | None:
    """The extent of all districts in CRS84 [minx, miny, maxx, maxy]."""
    return overview.city_bounds(read_conn())


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
    from .search import _lang

    return render_template("portal/index.html", figures=figures, totals=totals,
                           bounds=city_bounds(), centre=CITY_CENTRE, zoom=CITY_ZOOM,
                           parcel=request.args.get("parcel", ""),
                           uses=overview.permitted_uses(read_conn(), _lang()))


@bp.route("/api/districts/labels")
def labels() -> Response:
    """District name points for the map."""
    resp = jsonify(district_labels())
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp
