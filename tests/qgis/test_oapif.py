"""QGIS over OGC API Features Part 4: the parcels OAPIF layer edited with a registrar token."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cadastre_gis import accounts
from cadastre_gis.settings import Settings

from ..registry.helpers import FAR_X, free_y_of, make_parcel, rect
from .helpers import need_qgis, run_script

pytestmark = pytest.mark.qgis


def test_qgis_edits_parcels_over_oapif(live_server: str, settings: Settings, engine: Engine,
                                       tmp_path: Path) -> None:
    need_qgis()
    token = accounts.create_token(settings, "registrar", label="qgis")
    y = free_y_of(engine)
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:{uuid.uuid4().int % 90 + 10:02d}:33"
    with engine.begin() as c:
        pid = make_parcel(c, f"{q}:0001", rect(FAR_X, y))
        bbox = c.execute(text(
            "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT"
            " ST_Transform(ST_Expand(geom, 30), 4326)::box2d AS b FROM parcel WHERE id = :i) s"),
            {"i": pid}).one()
        area_before = float(c.execute(text("SELECT area_m2 FROM parcel WHERE id = :i"),
                                      {"i": pid}).scalar())
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir()
    res = run_script("oapif_edit.py", {"base": f"{live_server}/ogc", "token": token,
                                       "username": "registrar", "bbox": list(bbox),
                                       "parcel_id": pid},
                     env={"QGIS_AUTH_DB_DIR_PATH": str(auth_dir)}, tmp=tmp_path)
    assert {"APIHeader", "Basic"} <= set(res["methods"])
    assert res["can_change_attributes"] and res["can_change_geometry"] and res["can_add"], res
    assert res["commit1"], res["errors1"]
    assert res["commit2"], res["errors2"]
    with engine.connect() as c:
        row = c.execute(text("SELECT address, permitted_use, area_m2, version FROM parcel"
                             " WHERE id = :i"), {"i": pid}).one()
        assert row[0] == "edited in QGIS over OAPIF" and row[1] == "office"
        assert float(row[2]) != area_before and abs(float(row[2]) - area_before) < 60
        assert row[3] >= 3
        actors = c.execute(text("SELECT DISTINCT actor FROM audit_log WHERE table_name = 'parcel'"
                                " AND row_id = :i AND operation = 'U'"), {"i": pid}).scalars().all()
        assert actors == ["registrar:registrar"]
        notes = c.execute(text("SELECT t.details->>'method' FROM parcel_history h JOIN"
                               " registry_transaction t ON t.id = h.transaction_id WHERE h.id = :i"
                               " AND h.version > 1 UNION SELECT t.details->>'method' FROM parcel p"
                               " JOIN registry_transaction t ON t.id = p.transaction_id"
                               " WHERE p.id = :i"), {"i": pid}).scalars().all()
        assert set(notes) <= {"PUT", "PATCH"} and notes
