"""Public portal: the landing page with real figures per district (the map comes with the portal issue)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import text

from .db import conn

bp = Blueprint("portal", __name__)


def district_figures() -> list[dict]:
    """Active parcels, buildings and open incidents per district."""
    rows = conn().execute(text("""
        SELECT d.code, d.name,
               (SELECT count(*) FROM parcel p WHERE p.district_id = d.id AND p.status = 'active') AS parcels,
               (SELECT count(*) FROM building b WHERE b.district_id = d.id AND b.status = 'active') AS buildings,
               (SELECT count(*) FROM incident i WHERE i.district_id = d.id
                  AND i.status NOT IN ('resolved', 'closed', 'duplicate', 'rejected')) AS open_incidents,
               round((d.area_m2 / 1e6)::numeric, 1) AS area_km2
          FROM district d ORDER BY d.name"""))
    return [dict(r._mapping) for r in rows]


@bp.route("/")
def index():  # type: ignore[no-untyped-def]
    """Landing page: what the platform holds, per district."""
    figures = district_figures()
    totals = {k: sum(f[k] for f in figures) for k in ("parcels", "buildings", "open_incidents")}
    return render_template("index.html", figures=figures, totals=totals)
