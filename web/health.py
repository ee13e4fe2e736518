"""``/healthz``: database up, PostgreSQL and PostGIS versions, schema revision, replicas' lag."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from .db import conn, database

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Report database health (503 when the primary does not answer).

    Replicas are listed with their replay lag; a replica that does not answer is reported
    (``"status": "unavailable"``) but does not make the platform unhealthy: reads fall back
    to the primary.
    """
    try:
        c = conn()
        pg = c.execute(text("SHOW server_version")).scalar()
        postgis = c.execute(text("SELECT postgis_lib_version()")).scalar()
        rev = c.execute(text("SELECT version_num FROM alembic_version")).scalar()
        parcels = c.execute(text("SELECT count(*) FROM parcel WHERE status = 'active'")).scalar()
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        return jsonify({"status": "error", "database": "unavailable"}), 503
    body = {"status": "ok", "database": "ok", "postgresql": pg, "postgis": postgis,
            "schema_revision": rev, "active_parcels": parcels}
    replicas = database().replica_status()
    if replicas:
        body["replicas"] = replicas
        if any(r["status"] != "ok" for r in replicas):
            body["status"] = "degraded"
    return jsonify(body)
