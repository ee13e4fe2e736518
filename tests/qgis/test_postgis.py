"""QGIS on PostGIS: the generated project, edited headless as a registrar database login."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from cadastre_gis import dbroles, qgis_project
from cadastre_gis.settings import Settings

from ..registry.helpers import FAR_X, free_y_of, make_parcel, rect
from .helpers import need_qgis, run_script

pytestmark = pytest.mark.qgis
PASSWORD = "qgis-login-2026"


@pytest.fixture(scope="module")
def login(settings: Settings) -> Iterator[str]:
    """A registrar database login for district 09."""
    need_qgis()
    name = f"qgis_reg_{uuid.uuid4().hex[:6]}"
    dbroles.create_login_role(settings, name, "registrar", PASSWORD, [9])
    yield name
    dbroles.drop_login_role(settings, name)


@pytest.fixture(scope="module")
def project(settings: Settings, login: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated project, with the registrar's user name and no password."""
    path = tmp_path_factory.mktemp("qgis") / "cadastre.qgs"
    res = qgis_project.build_project(settings, path, user=login)
    assert "Parcels" in res["layers"]
    return path


def test_project_has_no_password_and_all_parts(project: Path, settings: Settings,
                                               login: str) -> None:
    xml = project.read_text()
    assert "password" not in xml
    assert make_url(settings.database_url).password not in xml
    assert f"user='{login}'" in xml
    for part in ("parcel_buildings", "parcel_rights", "building_rights", "ValueRelation",
                 "cadastral_number", 'table="public"."land_category"'):
        assert part in xml, part


def test_registrar_edits_in_qgis(project: Path, engine: Engine, settings: Settings,
                                 login: str, tmp_path: Path) -> None:
    y = free_y_of(engine)
    q = f"10:09:{uuid.uuid4().int % 90 + 10:02d}:66:66"
    with engine.begin() as c:
        mine = make_parcel(c, f"{q}:0001", rect(FAR_X, y))
        make_parcel(c, f"{q}:0002", rect(FAR_X + 23, y))
        other = c.execute(text("SELECT id FROM parcel WHERE status = 'active' AND district_id = 2"
                               " ORDER BY id LIMIT 1")).scalar()
        other_before = c.execute(text("SELECT address, version FROM parcel WHERE id = :i"),
                                 {"i": other}).one()
    res = run_script("postgis_edit.py", {"project": str(project), "mine": mine, "other": other,
                                         "neighbour_gap_m": 3},
                     env={"PGPASSWORD": PASSWORD}, tmp=tmp_path)
    assert res["valid"], res
    assert {"Parcels", "Buildings", "Rights", "Districts", "Land categories",
            "Permitted uses"} <= set(res["layers"])
    assert res["relations"] == ["building_rights", "parcel_buildings", "parcel_rights"]
    assert res["labels"] == "cadastral_number"
    assert res["land_category_widget"] == "ValueRelation"
    assert res["area_read_only"] is True
    assert res["move_ok"], res["move_errors"]
    assert not res["overlap_ok"] and f"overlaps {q}:0002" in res["overlap_errors"]
    assert not res["other_ok"] and "may edit only Yakkasaroy" in res["other_errors"]
    with engine.connect() as c:
        version, area = c.execute(text("SELECT version, area_m2 FROM parcel WHERE id = :i"),
                                  {"i": mine}).one()
        assert version == 2 and float(area) == pytest.approx(410.0)
        hist = c.execute(text("SELECT version, changed_by FROM parcel_history WHERE id = :i"),
                         {"i": mine}).all()
        assert [tuple(h) for h in hist] == [(1, login)]
        audit = c.execute(text("SELECT actor FROM audit_log WHERE table_name = 'parcel' AND"
                               " row_id = :i AND operation = 'U'"), {"i": mine}).scalars().all()
        assert audit == [login]
        assert tuple(c.execute(text("SELECT address, version FROM parcel WHERE id = :i"),
                               {"i": other}).one()) == tuple(other_before)


def test_qgis_project_command(settings: Settings, tmp_path: Path) -> None:
    need_qgis()
    from click.testing import CliRunner

    from cadastre_gis.qgis_project import command

    out = tmp_path / "registry.qgs"
    env = {"CADASTRE_DATABASE_URL": settings.database_url,
           "CADASTRE_DATA_DIR": str(settings.data_dir)}
    res = CliRunner().invoke(command, [str(out), "--user", "alice", "--host", "db.example.uz"],
                             env=env)
    assert res.exit_code == 0, res.output
    assert "Parcels" in res.output
    xml = out.read_text()
    assert "host=db.example.uz" in xml and "user='alice'" in xml and "password" not in xml
