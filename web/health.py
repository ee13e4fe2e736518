"""``/healthz``: is the database up, which PostgreSQL and PostGIS, which schema revision."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from .db import conn

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Report database health (503 when the database does not answer)."""
    try:
        c = conn()
        pg = c.execute(text("SHOW server_version")).scalar()
        postgis = c.execute(text("SELECT postgis_lib_version()")).scalar()
        rev = c.execute(text("SELECT version_num FROM alembic_version")).scalar()
        parcels = c.execute(text("SELECT count(*) FROM parcel WHERE status = 'active'")).scalar()
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        return jsonify({"status": "error", "database": "unavailable"}), 503
    return jsonify({"status": "ok", "database": "ok", "postgresql": pg, "postgis": postgis,
                    "schema_revision": rev, "active_parcels": parcels})
