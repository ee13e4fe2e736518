"""Fixtures for the loader tests: a fresh migrated database holding only the 12 districts,
so every test can commit its own parcels without touching the shared demo database."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from cadastre_gis import demo, migrate
from cadastre_gis.settings import Settings
from tests.conftest import create_database, drop_database

from .files import CENTRE_28412


def add_districts(url: str) -> None:
    """Insert the demo's 12 districts (Voronoi cells of the real centres) and nothing else."""
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    with eng.begin() as c:
        for (code, name, ru, _lon, _lat), poly in zip(demo.DISTRICTS, demo.district_polygons(),
                                                      strict=True):
            c.execute(text("INSERT INTO district (code, name, name_ru, geom) VALUES "
                           "(:c, :n, :r, ST_Multi(ST_GeomFromText(:g, 32642)))"),
                      {"c": code, "n": name, "r": ru, "g": poly.wkt})
    eng.dispose()


@pytest.fixture(scope="session")
def load_url(server_url: str) -> Iterator[str]:
    """URL of a migrated database with districts only."""
    url = create_database(server_url, "cadastre_loaders")
    migrate.upgrade(url)
    add_districts(url)
    yield url
    if not os.environ.get("CADASTRE_KEEP_TEST_DB"):
        from cadastre_gis.db import _engine

        _engine.cache_clear()
        drop_database(server_url, url)


@pytest.fixture(scope="session")
def load_settings(load_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on the loader database; reports go to a temporary data dir."""
    return Settings(database_url=load_url, data_dir=tmp_path_factory.mktemp("loaders-data"))


@pytest.fixture(scope="session")
def load_engine(load_url: str) -> Iterator[Engine]:
    """Engine on the loader database."""
    eng = create_engine(load_url.replace("postgresql://", "postgresql+psycopg2://"))
    yield eng
    eng.dispose()


def _cells() -> list[tuple[float, float, str]]:
    """1.5 km cells (SK-42 lower-left corners) lying wholly inside one district, with its code:
    a number built from the cell's zone names the district its parcels lie in."""
    import numpy as np
    from pyproj import Transformer

    tr = Transformer.from_crs(28412, 32642, always_xy=True)
    polys = [shapely.buffer(p, -50) for p in demo.district_polygons()]
    out = []
    for j in range(-12, 12):
        for i in range(-12, 12):
            x, y = CENTRE_28412[0] + i * 1600, CENTRE_28412[1] + j * 1600
            cell = shapely.transform(shapely.box(x, y, x + 1500, y + 1500), lambda xy: np.column_stack(
                tr.transform(xy[:, 0], xy[:, 1])))
            for (code, *_rest), poly in zip(demo.DISTRICTS, polys, strict=True):
                if poly.contains(cell):
                    out.append((x, y, code))
    return out


CELLS = _cells()
_spots = itertools.count()
_district_of_zone: dict[int, str] = {}


@pytest.fixture()
def spot() -> tuple[float, float, int]:
    """A fresh 1.5 km cell inside one district (SK-42 coordinates) and a zone number unique
    per test; :func:`number` gives parcel numbers of that zone naming that district."""
    n = next(_spots)
    x, y, code = CELLS[n % len(CELLS)]
    _district_of_zone[10 + n] = code
    return x, y, 10 + n


def district_of(zone: int) -> str:
    """Code of the district a spot's zone lies in."""
    return _district_of_zone[zone]


def number(zone: int, k: int, massiv: int = 1) -> str:
    """A parcel number in a spot's zone, naming the district the spot lies in."""
    return f"10:{district_of(zone)}:{zone:02d}:{massiv:02d}:01:{k:04d}"


def env_for(settings: Settings) -> dict[str, str]:
    """Environment that points the CLI at ``settings``."""
    return {"CADASTRE_DATABASE_URL": str(settings.database_url),
            "CADASTRE_DATA_DIR": str(settings.data_dir)}


@pytest.fixture()
def cli(load_settings: Settings) -> Callable[..., Result]:
    """Run ``cadastre-gis load|export ...`` in-process through click's CliRunner."""
    from loaders.cli import export, load

    def run(*args: str) -> Result:
        cmd = {"load": load, "export": export}[args[0]]
        return CliRunner().invoke(cmd, list(args[1:]), env=env_for(load_settings),
                                  catch_exceptions=False)

    return run


def counts(engine: Engine) -> dict[str, int]:
    """Row counts of every table a load may touch."""
    with engine.connect() as c:
        return {t: c.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                for t in ("parcel", "parcel_history", "building", "incident", "camera",
                          "district", "registry_transaction", "source_document", "audit_log")}


def report_of(result: Result) -> dict[str, Any]:
    """The JSON report named on the last 'report:' line of a CLI run."""
    import json

    line = [ln for ln in result.output.splitlines() if ln.startswith("report: ")][-1]
    return json.loads(Path(line.split(": ", 1)[1]).read_text(encoding="utf-8"))


def parcel_rows(engine: Engine, zone: int) -> dict[str, dict[str, Any]]:
    """Active parcels of a test's zone by cadastral number, geometry as Shapely."""
    with engine.connect() as c:
        rows = c.execute(text(
            "SELECT cadastral_number, address, land_category, permitted_use, "
            "declared_area_m2::float8 AS declared, cadastral_value::float8 AS value, "
            "district_id, version, ST_AsBinary(geom) AS wkb FROM parcel "
            "WHERE status = 'active' AND split_part(cadastral_number, ':', 3) = :z"),
            {"z": f"{zone:02d}"}).mappings().all()
    return {r["cadastral_number"]: {**dict(r), "geom": shapely.from_wkb(bytes(r["wkb"]))}
            for r in rows}
