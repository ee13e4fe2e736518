"""Public search API: parse the request, call :mod:`cadastre_gis.search`, answer JSON."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import get_locale

from cadastre_gis import search as service
from cadastre_gis.search import normalize_number

from .db import read_conn

bp = Blueprint("search", __name__, url_prefix="/api")

__all__ = ["bp", "normalize_number"]


def _lang() -> str:
    loc = str(get_locale() or "en")[:2]
    return loc if loc in ("en", "ru", "uz") else "en"


@bp.route("/search")
def search_view():  # type: ignore[no-untyped-def]
    """GET /api/search?q=...&limit=10 — JSON results with bbox and centroid in CRS84."""
    query = service.SearchQuery.parse(request.args.get("q"), request.args.get("limit", "10"),
                                      _lang())
    return jsonify(service.search(read_conn(), query))


@bp.route("/parcels/<path:number>")
def parcel_view(number: str):  # type: ignore[no-untyped-def]
    """GET /api/parcels/<cadastral number> — the public parcel card (never owners)."""
    return jsonify(service.parcel_card(read_conn(), number, _lang()))
