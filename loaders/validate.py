"""Record checks: attribute values, geometry (vectorised Shapely) and set-based SQL checks.

Everything a record can fail is collected as a reason, so the report tells each rejected
record every problem at once. Cross-record checks (duplicates, overlaps inside the file) and
the checks against the database (duplicates, overlaps with active parcels) are set-based:
one STRtree query or one indexed SQL join for the whole file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import numpy as np
import shapely

from .mapping import Kind, value_key

DEFAULTS = {
    "parcels": {"land_category": "settlement", "permitted_use": "individual_housing"},
    "buildings": {"building_use": "residential"},
    "incidents": {"status": "new", "visibility": "public"},
    "cameras": {"status": "online"},
    "districts": {"region_code": "10"},
}


class Findings:
    """Reasons to reject and warnings, per record position (0-based index into the file)."""

    def __init__(self) -> None:
        """Start with no findings."""
        self.errors: dict[int, list[str]] = defaultdict(list)
        self.warnings: dict[int, list[str]] = defaultdict(list)
        self.repaired: set[int] = set()

    def reject(self, i: int, reason: str) -> None:
        """Reject record ``i`` for ``reason``."""
        self.errors[int(i)].append(reason)

    def warn(self, i: int, message: str) -> None:
        """Keep record ``i`` but note ``message``."""
        self.warnings[int(i)].append(message)

    def ok(self, n: int) -> np.ndarray:
        """Boolean mask of records with no reason to reject."""
        mask = np.ones(n, bool)
        if self.errors:
            mask[list(self.errors)] = False
        return mask


def _num(v: Any) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    s = str(v).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    return float(s)


def coerce(k: Kind, values: dict[str, list[Any]], n: int, found: Findings,
           refs: dict[str, dict[str, str]]) -> dict[str, list[Any]]:
    """Type and range-check every mapped value; fill defaults; translate reference values."""
    out: dict[str, list[Any]] = {}
    defaults = DEFAULTS.get(k.name, {})
    for f in k.fields:
        if f.name not in values:
            if f.required:
                for i in range(n):
                    found.reject(i, f"{f.name} is missing (no field in the file gives it)")
            continue
        col = values[f.name]
        if f.type == "text" and not f.required and f.name not in refs and not f.choices:
            # the common case, kept to one comprehension (200 000 rows × several fields)
            out[f.name] = [None if v is None else (t if (t := str(v).strip()) else None)
                           for v in col]
            continue
        if f.name in refs or f.choices:
            # few distinct values: decide each once
            memo: dict[Any, Any] = {}
        typed: list[Any] = [None] * n
        for i, v in enumerate(col):
            if isinstance(v, str):
                v = v.strip()
                if v == "":
                    v = None
            if v is None:
                if f.required:
                    found.reject(i, f"{f.name} is empty")
                typed[i] = defaults.get(f.name)
                continue
            try:
                if f.type == "text":
                    tv: Any = str(v)
                    if f.name == k.key and (" " in tv or not tv.isprintable()):
                        tv = re.sub(r"\s+", "", tv)
                elif f.type == "int":
                    x = _num(v)
                    if x != int(x):
                        raise ValueError
                    tv = int(x)
                elif f.type == "float":
                    tv = _num(v)
                    if tv != tv or tv in (float("inf"), float("-inf")):
                        raise ValueError
                elif f.type == "date":
                    tv = v if isinstance(v, date) else date.fromisoformat(str(v)[:10])
                else:
                    tv = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
            except (ValueError, TypeError):
                found.reject(i, f"{f.name} {v!r} is not a {_type_name(f.type)}")
                continue
            if f.min is not None and tv < f.min or f.max is not None and tv > f.max:
                if tv == 0 and not f.required and f.type in ("int", "float"):
                    # Old .dbf numeric fields cannot be empty: 0 is how "unknown" was written.
                    found.warn(i, f"{f.name} 0 taken as not given (allowed {f.min:g}..{f.max:g})")
                    typed[i] = defaults.get(f.name)
                    continue
                found.reject(i, f"{f.name} {tv} is outside {f.min:g}..{f.max:g}")
                continue
            if f.name in refs:
                if tv in memo:
                    code = memo[tv]
                else:
                    code = memo[tv] = refs[f.name].get(value_key(str(tv)))
                if code is None:
                    known = ", ".join(sorted(set(refs[f.name].values())))
                    found.reject(i, f"unknown {f.name.replace('_', ' ')} {tv!r} (known: {known}; "
                                    "or map it under values: in a --mapping file)")
                    continue
                tv = code
            elif f.choices and tv not in f.choices:
                low = str(tv).lower()
                if low in f.choices:
                    tv = low
                else:
                    found.reject(i, f"{f.name} {tv!r} is not one of {', '.join(f.choices)}")
                    continue
            typed[i] = tv
        out[f.name] = typed
    return out


def _type_name(t: str) -> str:
    return {"int": "whole number", "float": "number", "date": "date (YYYY-MM-DD)",
            "datetime": "date and time (ISO 8601)"}.get(t, t)


def check_numbers(k: Kind, keys: list[Any] | None, found: Findings) -> None:
    """Cadastral number (or code) format, and duplicates inside the file."""
    if keys is None:
        return
    positions: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if key is None:
            continue
        if k.number_pattern is not None and not k.number_pattern.match(key):
            example = "10:09:03:01:01:0045" + (":0001" if k.name == "buildings" else "")
            found.reject(i, f"cadastral number {key!r} is not in the form {example}")
            continue
        positions[key].append(i)
    for key, where in positions.items():
        if len(where) > 1:
            rows = ", ".join(str(j + 1) for j in where)
            for i in where:
                found.reject(i, f"{k.key.replace('_', ' ') if k.key else 'key'} {key} appears "
                                f"{len(where)} times in the file (rows {rows})")


def check_geometry(k: Kind, geoms: np.ndarray, repair: bool, found: Findings
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Presence, type and validity; Polygon → MultiPolygon; ``--repair`` uses make_valid.

    Returns the checked geometries and the mask of records whose geometry is usable.
    """
    out = geoms.copy()
    missing = shapely.is_missing(out) | shapely.is_empty(np.where(shapely.is_missing(out),
                                                                  shapely.Point(), out))
    for i in np.flatnonzero(missing):
        if int(i) not in found.errors:  # not already "cannot be built"
            found.reject(i, "geometry is missing")
    types = shapely.get_type_id(out)
    if k.polygonal:
        wrong = ~missing & ~np.isin(types, [3, 6])
        expected = "Polygon or MultiPolygon"
    else:
        single_mp = (types == 4) & (shapely.get_num_geometries(out) == 1)
        out[single_mp] = shapely.get_geometry(out[single_mp], 0)
        types = shapely.get_type_id(out)
        wrong = ~missing & (types != 0)
        expected = "Point"
    for i in np.flatnonzero(wrong):
        found.reject(i, f"wrong geometry type {out[i].geom_type}, expected {expected}")
    cand = ~missing & ~wrong
    # A coordinate outside the source CRS's domain transforms to infinity: no repair helps.
    unplaced = np.zeros(len(out), bool)
    unplaced[cand] = ~np.all(np.isfinite(shapely.bounds(out[cand])), axis=1)
    for i in np.flatnonzero(unplaced):
        found.reject(i, f"cannot be placed: its coordinates transform to infinity, far "
                        f"{FAR_OUTSIDE} (wrong CRS?)")
    cand &= ~unplaced
    usable = cand.copy()
    idx = np.flatnonzero(cand)
    valid = shapely.is_valid(out[idx])
    bad = idx[~valid]
    if len(bad):
        reasons = shapely.is_valid_reason(out[bad])
        if repair and k.polygonal:
            fixed = shapely.make_valid(out[bad])
            polys = [_polygonal(g) for g in fixed]
            for i, g, why in zip(bad, polys, reasons, strict=True):
                if g is None or g.is_empty or not g.is_valid:
                    usable[i] = False
                    found.reject(i, f"invalid geometry ({why}) that make_valid cannot repair "
                                    "into a polygon")
                else:
                    out[i] = g
                    found.repaired.add(int(i))
                    found.warn(i, f"geometry repaired with make_valid (was: {why})")
        else:
            hint = "; --repair applies make_valid" if k.polygonal else ""
            usable[bad] = False
            for i, why in zip(bad, reasons, strict=True):
                found.reject(i, f"invalid geometry: {why}{hint}")
    if k.polygonal:
        good = np.flatnonzero(cand & (shapely.get_type_id(out) == 3))
        if len(good):
            out[good] = shapely.multipolygons(out[good][:, None])
    return out, usable


def _polygonal(g: Any) -> Any:
    """The polygonal part of a make_valid result as a MultiPolygon (or None)."""
    if g is None:
        return None
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "MultiPolygon":
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in (p.geoms if p.geom_type == "MultiPolygon" else [p])]
    if not polys:
        return None
    mp = shapely.MultiPolygon(polys)
    return mp if mp.is_valid else shapely.make_valid(mp)


def check_overlaps_in_file(geoms: np.ndarray, mask: np.ndarray, keys: list[Any] | None,
                           tolerance: float, found: Findings) -> None:
    """Pairs of records in the file whose interiors overlap by more than ``tolerance`` m²."""
    idx = np.flatnonzero(mask)
    if len(idx) < 2:
        return
    g = geoms[idx]
    tree = shapely.STRtree(g)
    a, b = tree.query(g, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return
    touching = shapely.touches(g[a], g[b])
    a, b = a[~touching], b[~touching]
    if not len(a):
        return
    areas = shapely.area(shapely.intersection(g[a], g[b]))
    over = areas > tolerance
    for i, j, ar in zip(idx[a[over]], idx[b[over]], areas[over], strict=True):
        ki = keys[i] if keys else None
        kj = keys[j] if keys else None
        found.reject(i, f"overlaps row {j + 1}{' (' + kj + ')' if kj else ''} in this file "
                        f"by {ar:.1f} m²")
        found.reject(j, f"overlaps row {i + 1}{' (' + ki + ')' if ki else ''} in this file "
                        f"by {ar:.1f} m²")


def check_area(declared: list[Any] | None, geoms: np.ndarray, mask: np.ndarray,
               tolerance_pct: float, found: Findings) -> None:
    """Warn when the declared area differs from the computed one by more than the tolerance."""
    if declared is None:
        return
    idx = [i for i in np.flatnonzero(mask) if declared[i] is not None]
    if not idx:
        return
    areas = shapely.area(geoms[idx])
    for i, ar in zip(idx, areas, strict=True):
        d = float(declared[i])
        if ar > 0 and abs(d - ar) / ar * 100 > tolerance_pct:
            found.warn(i, f"declared area {d:.2f} m² differs from the computed {ar:.2f} m² "
                          f"by {abs(d - ar) / ar * 100:.1f}% (tolerance {tolerance_pct:g}%)")


# A parcel or building further than this from every district is not in Tashkent: almost
# always a wrong CRS (e.g. Gauss-Krüger eastings without the zone number) or swapped axes.
OUTSIDE_CITY_M = 2000.0
FAR_OUTSIDE = "outside Tashkent"


def assign_districts(k: Kind, typed: dict[str, list[Any]], keys: list[Any] | None,
                     geoms: np.ndarray, mask: np.ndarray, districts: list[dict[str, Any]],
                     found: Findings) -> list[int | None]:
    """District id of each record: the district field, else the number's code, else location.

    Parcels and buildings are also located: one lying far outside every district is rejected
    (wrong CRS?), one near the city's edge is kept with a warning, and one whose number or
    district field names another district than the one it lies in gets a warning.
    """
    n = len(geoms)
    out: list[int | None] = [None] * n
    by_name: dict[str, int] = {}
    by_code: dict[str, int] = {}
    label: dict[int, str] = {}
    for d in districts:
        by_code[d["code"]] = d["id"]
        label[d["id"]] = f"{d['code']} {d['name']}"
        for nm in (d["code"], d["name"], d.get("name_ru")):
            if nm:
                by_name[str(nm).lower()] = d["id"]
    given = typed.get("district")
    need_loc: list[int] = []
    claimed: dict[int, tuple[int, str]] = {}  # record → (district it names, where it says so)
    for i in np.flatnonzero(mask):
        if given is not None and given[i] is not None:
            v = str(given[i]).strip()
            did = by_name.get(v.lower()) or by_name.get(v.zfill(2))
            if did is None:
                found.reject(i, f"unknown district {v!r}")
            else:
                claimed[int(i)] = (did, "the district field")
            out[i] = did
            continue
        if keys is not None and k.number_pattern is not None and keys[i]:
            code = str(keys[i]).split(":")[1] if ":" in str(keys[i]) else None
            if code in by_code:
                out[i] = by_code[code]
                claimed[int(i)] = (by_code[code], "the number")
                continue
        need_loc.append(int(i))
    located = k.name in ("parcels", "buildings")
    to_locate = sorted(set(need_loc) | (set(claimed) if located else set()))
    if to_locate and districts:
        pts = shapely.point_on_surface(geoms[to_locate])
        xs, ys = shapely.get_x(pts), shapely.get_y(pts)
        where = np.full(len(to_locate), -1)
        for d in districts:
            shapely.prepare(d["geom"])
            inside = shapely.contains_xy(d["geom"], xs, ys) & (where < 0)
            where[inside] = d["id"]
        outside = np.flatnonzero(where < 0)
        far = np.zeros(len(to_locate), float)
        if len(outside):
            city = shapely.union_all([d["geom"] for d in districts])
            far[outside] = shapely.distance(city, pts[outside])
        for j, i in enumerate(to_locate):
            here = int(where[j])
            if here < 0 and located and far[j] > OUTSIDE_CITY_M:
                found.reject(i, f"lies {far[j] / 1000:,.1f} km {FAR_OUTSIDE}'s districts "
                                "(wrong CRS or coordinates?)")
            elif i in claimed:
                did, how = claimed[i]
                if here < 0:
                    found.warn(i, f"lies {far[j]:.0f} m outside every district; kept in "
                                  f"district {label.get(did, did)} named by {how}")
                elif here != did:
                    found.warn(i, f"{how} names district {label.get(did, did)} but it lies in "
                                  f"{label.get(here, here)}")
            elif here >= 0:
                out[i] = here
            elif located:
                code = str(keys[i]).split(":")[1] if keys and keys[i] and ":" in keys[i] else "?"
                found.reject(i, f"no district: the number's district code {code} is unknown "
                                "and the geometry lies outside every district")
    elif need_loc and located:
        for i in need_loc:
            found.reject(i, "no district: the database has no districts")
    return out
