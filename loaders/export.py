"""``cadastre-gis export``: current or as-of-date state of a KIND to GeoPackage, Shapefile,
GeoJSON or FlatGeobuf through Fiona.

Model field names are kept (so the file loads back unchanged), except in Shapefiles, whose
10-character names are the same presets the loader reads (KAD_NOMER, ADRES, KATEGORIYA...).
Reprojection uses the same pyproj choice as the loader (best available operation for the
data's area, inverted), so export → import returns the same coordinates to well under 1 mm.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from sqlalchemy import text

from cadastre_gis.db import get_engine
from cadastre_gis.errors import InvalidInput
from cadastre_gis.settings import Settings

from . import fiona_
from .mapping import Kind, kind

# Per kind: (output name, SQL expression, fiona type) in order; model fields first.
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "parcels": [
        ("cadastral_number", "t.cadastral_number", "str"), ("address", "t.address", "str"),
        ("land_category", "t.land_category", "str"), ("permitted_use", "t.permitted_use", "str"),
        ("declared_area_m2", "t.declared_area_m2::float8", "float"),
        ("cadastral_value", "t.cadastral_value::float8", "float"),
        ("district", "d.code", "str"),
        ("id", "t.id", "int"), ("area_m2", "t.area_m2::float8", "float"),
        ("version", "t.version", "int"), ("valid_from", "t.valid_from::text", "str")],
    "buildings": [
        ("cadastral_number", "t.cadastral_number", "str"), ("address", "t.address", "str"),
        ("building_use", "t.building_use", "str"), ("floors", "t.floors", "int"),
        ("year_built", "t.year_built", "int"),
        ("floor_area_m2", "t.floor_area_m2::float8", "float"),
        ("cadastral_value", "t.cadastral_value::float8", "float"),
        ("parcel", "(SELECT p.cadastral_number FROM parcel p WHERE p.id = t.parcel_id)", "str"),
        ("district", "d.code", "str"),
        ("id", "t.id", "int"), ("footprint_m2", "t.footprint_m2::float8", "float"),
        ("version", "t.version", "int"), ("valid_from", "t.valid_from::text", "str")],
    "districts": [
        ("code", "t.code", "str"), ("name", "t.name", "str"), ("name_ru", "t.name_ru", "str"),
        ("region_code", "t.region_code", "str"), ("population", "t.population", "int"),
        ("id", "t.id", "int"), ("area_m2", "t.area_m2", "float")],
    "incidents": [
        ("category", "t.category", "str"), ("status", "t.status", "str"),
        ("priority", "t.priority", "int"), ("title", "t.title", "str"),
        ("description", "t.description", "str"), ("address", "t.address", "str"),
        ("reported_at", "t.reported_at::text", "str"), ("deadline", "t.deadline::text", "str"),
        ("visibility", "t.visibility", "str"), ("district", "d.code", "str"),
        ("id", "t.id", "int")],
    "cameras": [
        ("code", "t.code", "str"), ("name", "t.name", "str"), ("address", "t.address", "str"),
        ("heading_deg", "t.heading_deg", "float"), ("fov_deg", "t.fov_deg", "float"),
        ("range_m", "t.range_m", "float"), ("status", "t.status", "str"),
        ("stream_url", "t.stream_url", "str"), ("installed_on", "t.installed_on::text", "str"),
        ("district", "d.code", "str"), ("id", "t.id", "int")],
}
SHP_COMPUTED = {"id": "ID", "area_m2": "AREA_M2", "footprint_m2": "FOOTPR_M2",
                "version": "VERSION", "valid_from": "VALID_FROM"}


def parse_as_of(value: str) -> tuple[str, bool]:
    """An ISO date (the state at the end of that day, Tashkent time) or timestamp."""
    v = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        try:
            date.fromisoformat(v)
        except ValueError:
            raise InvalidInput(f"--as-of {value!r} is not a date") from None
        return v, True
    try:
        datetime.fromisoformat(v)
    except ValueError:
        raise InvalidInput(f"--as-of {value!r} is not a date (YYYY-MM-DD) or ISO timestamp"
                           ) from None
    return v, False


def _query(k: Kind, as_of: str | None, is_date: bool, district_id: int | None
           ) -> tuple[str, dict[str, Any]]:
    cols = COLUMNS[k.name]
    select = ", ".join(f"{expr} AS \"{name}\"" for name, expr, _t in cols)
    params: dict[str, Any] = {}
    join_d = "LEFT JOIN district d ON d.id = t.district_id" if k.name != "districts" else ""
    where = []
    if district_id is not None:
        where.append("t.id = :did" if k.name == "districts" else "t.district_id = :did")
        params["did"] = district_id
    if as_of is None:
        base = f"{k.table} t"
        if k.history:
            where.append("t.status = 'active'")
    else:
        if not k.history:
            raise InvalidInput(f"--as-of needs history; {k.name} keep none "
                               "(parcels and buildings do)")
        params["t"] = as_of
        t_expr = ("((CAST(:t AS date) + 1)::timestamp AT TIME ZONE 'Asia/Tashkent')"
                  if is_date else "CAST(:t AS timestamptz)")
        cmp = "<" if is_date else "<="
        cond = (f"x.status = 'active' AND x.valid_from {cmp} {t_expr} "
                f"AND (x.valid_to IS NULL OR x.valid_to {'>=' if is_date else '>'} {t_expr})")
        cols_sql = ("id, cadastral_number, address, district_id, status, version, valid_from, "
                    "valid_to, geom, cadastral_value, ")
        cols_sql += ("land_category, permitted_use, declared_area_m2, area_m2"
                     if k.name == "parcels" else
                     "building_use, floors, year_built, floor_area_m2, footprint_m2, parcel_id")
        base = (f"(SELECT {cols_sql} FROM {k.table} x WHERE {cond} UNION ALL "
                f"SELECT {cols_sql} FROM {k.table}_history x WHERE {cond}) t")
    sql = (f"SELECT {select}, ST_AsBinary(t.geom) AS wkb FROM {base} {join_d}"
           + (" WHERE " + " AND ".join(where) if where else "")
           + (" ORDER BY " + (f"t.{k.key}" if k.key else "t.id")))
    return sql, params


def export(settings: Settings, kind_name: str, path: str | Path, *, crs: str | None = None,
           district: str | None = None, as_of: str | None = None,
           encoding: str | None = None) -> int:
    """Write KIND to ``path`` (format from the extension); returns the number of features."""
    k = kind(kind_name)
    p = Path(path)
    driver = fiona_.driver_for(p)
    if driver == "CSV":
        raise InvalidInput("export writes .gpkg, .shp, .geojson or .fgb")
    if encoding and driver != "ESRI Shapefile":
        raise InvalidInput("--encoding applies to Shapefiles only (the other formats are UTF-8)")
    enc = encoding or ("utf-8" if driver == "ESRI Shapefile" else None)
    if enc and enc.lower().replace("-", "") not in ("utf8", "cp1251", "cp866"):
        raise InvalidInput("--encoding must be utf-8, cp1251 or cp866")
    target = fiona_.parse_crs(crs) if crs else CRS.from_epsg(
        4326 if driver == "GeoJSON" else fiona_.STORAGE_SRID)
    as_of_v, is_date = parse_as_of(as_of) if as_of else (None, False)
    engine = get_engine(settings)
    with engine.connect() as conn:
        did = None
        if district:
            did = conn.execute(text(
                "SELECT id FROM district WHERE code = :d OR lower(name) = lower(:d) "
                "OR lower(name_ru) = lower(:d)"), {"d": district.strip()}).scalar()
            if did is None:
                raise InvalidInput(f"unknown district {district!r}")
        q, params = _query(k, as_of_v, is_date, did)
        rows = conn.execute(text(q), params).all()
    cols = COLUMNS[k.name]
    geoms = np.array([shapely.from_wkb(bytes(r[-1])) for r in rows], dtype=object)
    geoms = _reproject(geoms, target)
    shp = driver == "ESRI Shapefile"

    def out_name(name: str) -> str:
        if not shp:
            return name
        if name in SHP_COMPUTED:
            return SHP_COMPUTED[name]
        f = k.field(name)
        return f.shp or name[:10]

    schema = {"geometry": "Point" if k.geometry == "Point" else "MultiPolygon",
              "properties": {out_name(n): t for n, _e, t in cols}}
    records = []
    for r, g in zip(rows, geoms, strict=True):
        props = {out_name(n): r[j] for j, (n, _e, _t) in enumerate(cols)}
        records.append({"geometry": shapely.geometry.mapping(g), "properties": props})
    if p.exists():
        _remove(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    fiona_.write(p, schema, target.to_wkt(), records, driver, encoding=enc, layer=k.name)
    return len(records)


def _reproject(geoms: np.ndarray, target: CRS) -> np.ndarray:
    """Storage → ``target`` with the loader's choice of operation (so round trips match)."""
    if not len(geoms):
        return geoms
    tr = fiona_.transformation(CRS.from_epsg(fiona_.STORAGE_SRID),
                               tuple(shapely.total_bounds(geoms)), dst=target)
    return fiona_.to_storage(list(geoms), tr)


def _remove(p: Path) -> None:
    """Remove an earlier export (a Shapefile is several files)."""
    if p.suffix.lower() == ".shp":
        for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            q = p.with_suffix(ext)
            if q.exists():
                q.unlink()
    else:
        p.unlink()
