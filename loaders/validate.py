"""Record checks: attribute values, geometry (vectorised Shapely) and set-based SQL checks.

Everything a record can fail is collected as a reason, so the report tells each rejected
record every problem at once. Cross-record checks (duplicates, overlaps inside the file) and
the checks against the database (duplicates, overlaps with active parcels) are set-based:
one STRtree query or one indexed SQL join for the whole file.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

import numpy as np
import shapely

from cadastre_gis.schema import REGION_CODE

from . import vocabulary
from .mapping import Kind
from .vocabulary import Vocabulary

DEFAULTS = {
    "parcels": {"land_category": "settlement", "permitted_use": "individual_housing"},
    "buildings": {"building_use": "residential"},
    "incidents": {"status": "new", "visibility": "public"},
    "cameras": {"status": "online"},
    "districts": {"region_code": REGION_CODE},
}
NUL = "\x00"


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
           refs: dict[str, Vocabulary]) -> dict[str, list[Any]]:
    """Type and range-check every mapped value; fill defaults; translate reference values
    (see :mod:`loaders.vocabulary`)."""
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
            texts = [None if v is None else (t if (t := str(v).strip()) else None) for v in col]
            for i, t in enumerate(texts):
                if t is not None and NUL in t:
                    found.reject(i, f"{f.name} holds a NUL character, which the database "
                                    "cannot store")
            out[f.name] = texts
            continue
        if f.type in ("int", "float") and _numeric_column(k, f, col, defaults, found, out):
            continue
        typed: list[Any] = [None] * n
        # One verdict per distinct value (a file repeats its categories and uses thousands of
        # times): (value to store, reason to reject, warning).
        memo: dict[tuple[type, Any], tuple[Any, str | None, str | None]] = {}
        for i, v in enumerate(col):
            key = (v.__class__, v)  # 1, 1.0 and True are one dict key, not one verdict
            try:
                verdict = memo[key]
            except KeyError:
                verdict = memo[key] = _verdict(k, f, v, defaults, refs)
            except TypeError:  # an unhashable value: judged on its own
                verdict = _verdict(k, f, v, defaults, refs)
            _take(found, typed, i, verdict)
        out[f.name] = typed
    return out


def _take(found: Findings, typed: list[Any], i: int,
          verdict: tuple[Any, str | None, str | None]) -> None:
    """Record one value's verdict: reject the record, or keep the value (with its warning)."""
    value, reject, warn = verdict
    if reject is not None:
        found.reject(i, reject)
        return
    if warn is not None:
        found.warn(i, warn)
    typed[i] = value


def _numeric_column(k: Kind, f: Any, col: list[Any], defaults: dict[str, Any],
                    found: Findings, out: dict[str, list[Any]]) -> bool:
    """A numeric field whose values all came as numbers (not text), checked with numpy:
    the same verdicts as :func:`_verdict`, at C speed. False: use the general path."""
    if f.choices or any(v is not None and v.__class__ not in (int, float) for v in col):
        return False
    arr = np.array([np.nan if v is None else v for v in col], dtype=float)
    given = ~np.isnan(arr)
    if f.type == "int" and not np.all(arr[given] == np.floor(arr[given])):
        return False
    if not np.all(np.isfinite(arr[given])):
        return False
    low = arr < f.min if f.min is not None else np.zeros(len(arr), bool)
    high = arr > f.max if f.max is not None else np.zeros(len(arr), bool)
    outside = given & (low | high)
    typed: list[Any] = [None if v is None else (int(v) if f.type == "int" else float(v))
                        for v in col]
    for i in np.flatnonzero(~given | outside):  # empty or out of range: as one by one
        _take(found, typed, int(i), _verdict(k, f, col[i], defaults, {}))
    out[f.name] = typed
    return True


def _verdict(k: Kind, f: Any, v: Any, defaults: dict[str, Any], refs: dict[str, Vocabulary]
             ) -> tuple[Any, str | None, str | None]:
    """What to store for one raw value of field ``f``: (value, reason to reject, warning)."""
    if isinstance(v, str):
        v = v.strip()
        if v == "":
            v = None
    if v is None:
        return defaults.get(f.name), (f"{f.name} is empty" if f.required else None), None
    try:
        if f.type == "text":
            tv: Any = str(v)
            if NUL in tv:
                return None, f"{f.name} holds a NUL character, which the database cannot store", None
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
        return None, f"{f.name} {v!r} is not a {_type_name(f.type)}", None
    if f.min is not None and tv < f.min or f.max is not None and tv > f.max:
        if tv == 0 and not f.required and f.type in ("int", "float"):
            # Old .dbf numeric fields cannot be empty: 0 is how "unknown" was written.
            return (defaults.get(f.name), None,
                    f"{f.name} 0 taken as not given (allowed {_fmt(f.min)}..{_fmt(f.max)})")
        return None, f"{f.name} {tv} is outside {_fmt(f.min)}..{_fmt(f.max)}", None
    if f.name in refs:
        code, why = refs[f.name].match(tv)
        if code is None:
            return None, f"{why} (or map it under values: in a --mapping file)", None
        return code, None, None
    if f.choices and tv not in f.choices:
        low = str(tv).lower()
        if low in f.choices:
            return low, None, None
        return None, f"{f.name} {tv!r} is not one of {', '.join(f.choices)}", None
    return tv, None, None


def _fmt(x: float | None) -> str:
    """A range limit as people read it: 150, 0.01, 999,999,999,999.99."""
    if x is None:
        return ""
    return f"{x:,.2f}" if abs(x) >= 1e6 else f"{x:g}"


def _type_name(t: str) -> str:
    return {"int": "whole number", "float": "number", "date": "date (YYYY-MM-DD)",
            "datetime": "date and time (ISO 8601)"}.get(t, t)


def check_numbers(k: Kind, keys: list[Any] | None, found: Findings) -> None:
    """Cadastral number (or code) format, and duplicates inside the file."""
    if keys is None:
        return
    bad: set[int] = set()
    if k.number_pattern is not None:
        match = k.number_pattern.match
        example = "10:09:03:01:01:0045" + (":0001" if k.name == "buildings" else "")
        for i in [i for i, key in enumerate(keys) if key is not None and not match(key)]:
            found.reject(i, f"cadastral number {keys[i]!r} is not in the form {example}")
            bad.add(i)
    seen = Counter(keys)
    twice = {key for key, c in seen.items() if c > 1 and key is not None}
    if not twice:
        return
    positions: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if key in twice and i not in bad:
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
    a, b = tree.query(g)  # pairs whose boxes meet
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return
    # The area two parcels share is at most the area their boxes share: neighbours that only
    # touch (shared boundaries) are set aside without any geometry computed.
    bx = shapely.bounds(g)
    w = np.minimum(bx[a, 2], bx[b, 2]) - np.maximum(bx[a, 0], bx[b, 0])
    h = np.minimum(bx[a, 3], bx[b, 3]) - np.maximum(bx[a, 1], bx[b, 1])
    keep = (w > 0) & (h > 0) & (w * h > tolerance)
    a, b = a[keep], b[keep]
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
    """District id of each record, with every district rule the database enforces.

    A district field may hold ``BB``, ``AA:BB`` or a name (:func:`vocabulary.district_code`).
    A parcel's or building's number names its district: the number's region must be this
    registry's, its district must exist, a district field must agree with it, and the district
    holding the larger part of the record's area must be the one it names (the database's
    consistency rule) — a record covered by its district passes at once, the others are
    measured against every district they touch. One lying far outside every district is
    rejected (wrong CRS?), one just outside the city is kept with a warning. Other kinds
    take the district field, else the district their point lies in.
    """
    n = len(geoms)
    out: list[int | None] = [None] * n
    by_code = {d["code"]: d for d in districts}
    label = {d["id"]: f"{d['code']} {d['name']}" for d in districts}
    region = districts[0].get("region_code") or REGION_CODE if districts else REGION_CODE
    vocab = vocabulary.districts(districts)
    given = typed.get("district")
    numbered = keys is not None and k.number_pattern is not None
    located = k.name in ("parcels", "buildings")
    idx = np.flatnonzero(mask)
    for i in idx:
        from_field = None
        if given is not None and given[i] is not None:
            code, why = vocabulary.district_code(given[i], vocab, region)
            if code is None:
                found.reject(i, why or "unknown district")
                continue
            from_field = by_code[code]["id"]
        if numbered and keys[i]:
            aa, bb = str(keys[i]).split(":")[:2]
            if aa != region:
                found.reject(i, f"number {keys[i]} names region {aa}; this registry holds "
                                f"region {region} (Tashkent city)")
                continue
            if bb not in by_code:
                found.reject(i, f"number {keys[i]} names district {bb}, which is not a district "
                                f"of the registry ({', '.join(sorted(by_code)) or 'none'})")
                continue
            did = by_code[bb]["id"]
            if from_field is not None and from_field != did:
                found.reject(i, f"the district field names {label[from_field]} but the number "
                                f"names {label[did]}")
                continue
            out[i] = did
        else:
            out[i] = from_field
    if not len(idx):
        return out
    if not districts:
        if located:
            for i in idx:
                found.reject(i, "no district: the database has no districts")
        return out
    geoms_all = [d["geom"] for d in districts]
    ids = np.array([d["id"] for d in districts])
    if not located:
        todo = [int(i) for i in idx if out[i] is None and int(i) not in found.errors]
        if todo:
            pts = shapely.point_on_surface(geoms[todo])
            xs, ys = shapely.get_x(pts), shapely.get_y(pts)
            for d in districts:
                shapely.prepare(d["geom"])
                for j in np.flatnonzero(shapely.contains_xy(d["geom"], xs, ys)):
                    if out[todo[j]] is None:
                        out[todo[j]] = d["id"]
        return out
    # Located kinds: where the record's area lies. Fast path: covered by its district.
    todo = np.array([int(i) for i in idx if out[i] is not None and int(i) not in found.errors],
                    dtype=int)
    if not len(todo):
        return out
    named = np.array([out[i] for i in todo])
    covered = np.zeros(len(todo), bool)
    for d in districts:
        sel = np.flatnonzero(named == d["id"])
        if len(sel):
            shapely.prepare(d["geom"])
            covered[sel] = shapely.covers(d["geom"], geoms[todo[sel]])
    rest = todo[~covered]
    if not len(rest):
        return out
    tree = shapely.STRtree(geoms_all)
    rec, dist = tree.query(geoms[rest], predicate="intersects")
    areas = shapely.area(shapely.intersection(geoms[rest[rec]], np.asarray(geoms_all)[dist]))
    best: dict[int, tuple[float, int]] = {}
    for r, dj, ar in zip(rec, dist, areas, strict=True):
        if ar > best.get(int(r), (0.0, -1))[0]:
            best[int(r)] = (float(ar), int(ids[dj]))
    total = shapely.area(geoms[rest])
    outside = [j for j in range(len(rest)) if j not in best]
    far = np.zeros(len(rest))
    if outside:
        city = shapely.union_all(geoms_all)
        far[outside] = shapely.distance(city, geoms[rest[outside]])
    for j, i in enumerate(rest):
        did = out[i]
        if j not in best:
            if far[j] > OUTSIDE_CITY_M:
                found.reject(i, f"lies {far[j] / 1000:,.1f} km {FAR_OUTSIDE}'s districts "
                                "(wrong CRS or coordinates?)")
            else:
                found.warn(i, f"lies {far[j]:.0f} m outside every district; kept in district "
                              f"{label[did]} named by its number")
            continue
        ar, here = best[j]
        if here != did:
            pct = 100 * ar / total[j] if total[j] > 0 else 100
            found.reject(i, f"lies mostly in district {label[here]} ({pct:.0f}% of its area), "
                            f"but its number names {label[did]}; the district holding the "
                            "larger part must be the one the number names")
    return out


_DISTRICT_CODE = re.compile(r"(?:(\d{1,2})\s*[:./-]\s*)?(\d{1,2})")


def check_district_codes(typed: dict[str, list[Any]], found: Findings) -> None:
    """A districts layer's codes as the database takes them: ``BB`` (two digits), with the
    region in ``region_code``; ``AA:BB`` is split, AA must be this registry's region; names
    are unique in the file."""
    codes = typed.get("code") or []
    regions = typed.get("region_code") or [None] * len(codes)
    for i, c in enumerate(codes):
        if c is None:
            continue
        m = _DISTRICT_CODE.fullmatch(str(c).strip())
        if m is None:
            found.reject(i, f"district code {c!r} is not BB (09) or AA:BB ({REGION_CODE}:09)")
            continue
        aa, bb = m.group(1), m.group(2).zfill(2)
        r = regions[i]
        if r is not None:
            rs = str(r).strip()
            if not rs.isdigit() or len(rs) > 2:
                found.reject(i, f"region code {r!r} is not two digits ({REGION_CODE})")
                continue
            r = rs.zfill(2)
        for what, reg in (("code", aa and aa.zfill(2)), ("region code", r)):
            if reg is not None and reg != REGION_CODE:
                found.reject(i, f"district {c!r}: {what} names region {reg}; this registry "
                                f"holds region {REGION_CODE} (Tashkent city)")
                break
        else:
            codes[i] = bb
            regions[i] = REGION_CODE
    if "region_code" in typed:
        typed["region_code"] = regions
    positions: dict[str, list[int]] = defaultdict(list)
    for i, nm in enumerate(typed.get("name") or []):
        if nm is not None and i not in found.errors:
            positions[str(nm).strip().lower()].append(i)
    for where in positions.values():
        if len(where) > 1:
            rows = ", ".join(str(j + 1) for j in where)
            for i in where:
                found.reject(i, f"district name appears {len(where)} times in the file (rows "
                                f"{rows})")


def check_building_numbers(typed: dict[str, list[Any]], keys: list[Any] | None,
                           found: Findings) -> set[int]:
    """A building's number extends its parcel's: the parcel field, when given, must be the
    number without its last part; when not given, that is the parcel. Returns the records
    whose parcel came from the number."""
    derived: set[int] = set()
    if keys is None:
        return derived
    parcels = typed.get("parcel") or [None] * len(keys)
    for i, key in enumerate(keys):
        if key is None or i in found.errors:
            continue
        own = str(key).rsplit(":", 1)[0]
        p = parcels[i]
        if p is None:
            parcels[i] = own
            derived.add(i)
        elif re.sub(r"\s+", "", str(p)) != own:
            found.reject(i, f"building number {key} does not extend its parcel's number {p} "
                            f"(a building on {p} is numbered {p}:NNNN)")
    typed["parcel"] = parcels
    return derived
