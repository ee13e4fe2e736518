"""``cadastre-gis load``: read a file, check every record, write what passed in one transaction.

The pipeline: Fiona reads the features (tqdm shows features/s); pyproj reprojects them with
the best available transformation in one vectorised call; Shapely checks geometry, numbers,
in-file duplicates and overlaps for the whole file at once; the survivors are COPYed into a
temporary staging table where indexed SQL joins check them against the registry; then one
``INSERT ... SELECT`` (and, for upsert, one ``UPDATE ... FROM``) writes them, so the
database's statement-level triggers check the whole batch in one query. All of it is one
database transaction: a failure, Ctrl-C, SIGTERM or a kill leaves the database unchanged.
"""

from __future__ import annotations

import getpass
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from psycopg2 import sql
from psycopg2.extras import Json

from cadastre_gis.db import copy_column, get_engine
from cadastre_gis.errors import CadastreError, InvalidInput, from_db_error
from cadastre_gis.schema import REFERENCE_TABLES
from cadastre_gis.settings import Settings

from . import fiona_, report, validate
from .mapping import FieldMap, Kind, kind, read_mapping_file, resolve
from .vocabulary import Vocabulary, value_list

SRID = fiona_.STORAGE_SRID
PSEUDO = ("district", "parcel")
BUILDING_IN_PARCEL = 0.95
"""Share of a building's footprint that must lie in its parcel (the database's rule)."""
SQL_TYPES = {"text": "text", "int": "bigint", "float": "float8", "date": "date",
             "datetime": "timestamptz"}
PAUSE_ENV = "CADASTRE_LOADER_PAUSE_BEFORE_COMMIT"
"""Test hook: seconds to wait (after writing, before COMMIT) so a test can kill the load."""


class LoadFailed(CadastreError):
    """The load did not complete; the database is unchanged."""

    code = "LoadFailed"
    status = 400


def default_actor() -> str:
    """``cli:<os user>``: who runs the command."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on this system
        user = str(os.getuid())
    return f"cli:{user}"


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the transaction is rolled back and reported."""
    def handler(_sig: int, _frm: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def load(settings: Settings, kind_name: str, path: str | Path, *, layer: str | None = None,
         crs: str | None = None, encoding: str | None = None, mapping: str | None = None,
         mode: str = "insert", dry_run: bool = False, repair: bool = False,
         area_tolerance: float = 5.0, actor: str | None = None,
         report_file: str | Path | None = None, progress: bool | None = None
         ) -> dict[str, Any]:
    """Load ``path`` as ``kind_name``; returns the report (also written to ``report['report']``).

    Raises :class:`LoadFailed` (after writing the report) when the file is refused or the
    transaction fails; rejected records are not a failure.
    """
    k = kind(kind_name)
    actor = actor or default_actor()
    rpath = report.report_path(settings, path, report_file)
    rep: dict[str, Any] = {
        "kind": k.name, "file": {"path": str(Path(path).resolve())}, "mode": mode,
        "dry_run": dry_run, "repair": repair, "actor": actor,
        "overlap_tolerance_m2": settings.overlap_tolerance_m2,
        "area_tolerance_pct": area_tolerance, "started_at": _now(), "status": "started",
        "counts": {}, "rejected": [], "warnings": [], "report": str(rpath)}
    t0 = time.monotonic()
    try:
        with _sigterm_as_interrupt():
            _run(settings, k, Path(path), rep, layer=layer, crs=crs, encoding=encoding,
                 mapping=mapping, mode=mode, dry_run=dry_run, repair=repair,
                 area_tolerance=area_tolerance, actor=actor, progress=progress)
    except KeyboardInterrupt as exc:
        rep["status"] = "interrupted"
        rep["error"] = f"interrupted ({exc or 'Ctrl-C'}); the database is unchanged"
        _finish(rep, rpath, t0)
        raise
    except CadastreError as exc:
        rep["status"] = "refused" if rep["status"] == "started" else "failed"
        rep["error"] = exc.message + ("" if "unchanged" in exc.message
                                      else "; the database is unchanged")
        _finish(rep, rpath, t0)
        raise LoadFailed(rep["error"], report=str(rpath)) from exc
    _finish(rep, rpath, t0)
    return rep


def _finish(rep: dict[str, Any], rpath: Path, t0: float) -> None:
    rep["finished_at"] = _now()
    rep["seconds"] = round(time.monotonic() - t0, 3)
    n = rep.get("counts", {}).get("read")
    if n and rep["seconds"]:
        rep["features_per_second"] = round(n / rep["seconds"], 1)
    report.write(rep, rpath)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _lap(rep: dict[str, Any], phase: str, t: list[float]) -> None:
    """Record how long ``phase`` took (seconds) in ``rep['timings']``."""
    now = time.monotonic()
    rep.setdefault("timings", {})[phase] = round(now - t[0], 3)
    t[0] = now


def _run(settings: Settings, k: Kind, path: Path, rep: dict[str, Any], *, layer: str | None,
         crs: str | None, encoding: str | None, mapping: str | None, mode: str, dry_run: bool,
         repair: bool, area_tolerance: float, actor: str, progress: bool | None) -> None:
    t = [time.monotonic()]
    if mode not in ("insert", "upsert"):
        raise InvalidInput("--mode must be insert or upsert")
    if mode == "upsert" and k.key is None:
        raise InvalidInput(f"{k.name} have no natural key to update by; use --mode insert")
    src = fiona_.open_source(path, layer=layer, encoding=encoding, crs=crs)
    rep["file"].update(src.report())
    rep["file"]["sha256"] = fiona_.sha256(path)
    explicit, value_maps = read_mapping_file(mapping, k) if mapping else (None, {})
    fmap = resolve(k, src.fields, explicit)
    rep["fields"] = {"mapped": fmap.mapped, "how": fmap.how, "unknown": fmap.unknown,
                     "ignored": fmap.ignored}
    if k.key and k.key not in fmap.mapped.values():
        raise InvalidInput(
            f"no field of {path.name} gives {k.key} (fields: {', '.join(src.fields) or 'none'}); "
            f"name it in a --mapping file, e.g. 'MY_FIELD: {k.key}'")
    rep["status"] = "reading"
    workers = rep["file"]["read_processes"] = 1 if fiona_.columnar(src) else fiona_.read_workers(src)
    rep["file"]["reader"] = "pyogrio (columnar)" if fiona_.columnar(src) else "fiona"

    # ---- read ------------------------------------------------------------------------------
    rows: list[int] = []
    values: dict[str, list[Any]] = {d: [] for d in fmap.mapped.values()}
    geoms: list[Any] = []
    broken: dict[int, str] = {}
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: the reader forks its worker processes
    show = sys.stderr.isatty() if progress is None else progress

    def say(msg: str) -> None:
        """One line of progress after the bar: what the loader is doing now."""
        if show:
            print(f"{msg} …", file=sys.stderr, flush=True)

    bar = tqdm(total=src.count, unit=" features", desc=f"reading {path.name}",
               disable=not show, file=sys.stderr, smoothing=0.1)
    with bar:
        for batch in fiona_.read(src, fmap, progress=bar.update, workers=workers):
            rows.extend(batch.rows)
            for key, col in batch.values.items():
                values[key].extend(col)
            geoms.extend(batch.geoms)
            broken.update(batch.broken)
    n = len(rows)
    _lap(rep, "read", t)
    rep["counts"] = {"read": n}
    if n == 0:
        rep["status"] = "nothing to load"
        rep["counts"].update({"inserted": 0, "updated": 0, "rejected": 0})
        return
    say(f"checking {n} records (geometry, numbers, overlaps, districts)")

    # ---- reproject (pyproj, best available operation for the data's area) ------------------
    garr = np.array(geoms, dtype=object)
    present = ~shapely.is_missing(garr)
    bounds = tuple(shapely.total_bounds(garr[present])) if present.any() else None
    tr = fiona_.transformation(src.crs, bounds)  # type: ignore[arg-type]
    rep["transformation"] = {"target": f"EPSG:{SRID}", **tr.report()}
    garr = fiona_.to_storage(geoms, tr)
    _lap(rep, "reproject", t)

    # ---- checks in Python, vectorised ------------------------------------------------------
    found = validate.Findings()
    for rn, why in broken.items():
        found.reject(rn - 1, f"geometry cannot be built: {why}")
    engine = get_engine(settings)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        refs, districts = _reference_data(cur, k, value_maps)
        typed = validate.coerce(k, values, n, found, refs)
        if k.name == "districts":
            validate.check_district_codes(typed, found)
        keys = typed.get(k.key) if k.key else None
        validate.check_numbers(k, keys, found)
        derived: set[int] = set()
        if k.name == "buildings":
            derived = validate.check_building_numbers(typed, keys, found)
        _lap(rep, "check_attributes", t)
        garr, geom_ok = validate.check_geometry(k, garr, repair, found)
        _lap(rep, "check_geometry", t)
        if k.name == "parcels":
            validate.check_overlaps_in_file(garr, geom_ok, keys, settings.overlap_tolerance_m2,
                                            found)
            _lap(rep, "check_overlaps_in_file", t)
            validate.check_area(typed.get("declared_area_m2"), garr, geom_ok, area_tolerance,
                                found)
        district_ids: list[int | None] = [None] * n
        if k.name != "districts":
            district_ids = validate.assign_districts(k, typed, keys, garr, found.ok(n),
                                                     districts, found)
        _lap(rep, "check_districts", t)
        far = sum(1 for rs in found.errors.values()
                  if any(validate.FAR_OUTSIDE in r for r in rs))
        if far and far * 2 >= n:
            rep["hints"] = [fiona_.crs_hint(src.crs, bounds, src.crs_how)]  # type: ignore[arg-type]

        # ---- one database transaction: stage, check against the registry, write ------------
        rep["status"] = "checking"
        say("checking against the registry")
        cur.execute("SELECT set_config('cadastre.actor', %s, true)", (actor,))
        cur.execute("SELECT set_config('cadastre.overlap_tolerance_m2', %s, true)",
                    (str(settings.overlap_tolerance_m2),))
        ok = found.ok(n)
        _stage(cur, k, typed, garr, district_ids, ok)
        _lap(rep, "copy_to_staging", t)
        _check_in_db(cur, k, mode, settings.overlap_tolerance_m2, found, derived)
        _lap(rep, "check_against_database", t)
        ok = found.ok(n)
        rejected_rn = [int(i) + 1 for i in np.flatnonzero(~ok)]
        if rejected_rn:
            cur.execute("DELETE FROM load_stage WHERE rn = ANY(%s)", (rejected_rn,))
        cur.execute("SELECT count(*) FILTER (WHERE existing_id IS NULL), "
                    "count(*) FILTER (WHERE existing_id IS NOT NULL) FROM load_stage")
        to_insert, to_update = cur.fetchone()
        rep["counts"].update({
            "accepted": int(to_insert + to_update), "rejected": int((~ok).sum()),
            "repaired": len(found.repaired & set(np.flatnonzero(ok).tolist())),
            "with_warnings": sum(1 for i in found.warnings if ok[i])})
        _collect(rep, found, keys, ok)
        if dry_run:
            rep["counts"].update({"would_insert": int(to_insert), "would_update": int(to_update),
                                  "inserted": 0, "updated": 0})
            rep["status"] = "dry run"
            raw.rollback()
            return
        if to_insert + to_update == 0:
            rep["counts"].update({"inserted": 0, "updated": 0})
            rep["status"] = "nothing to load" if not rejected_rn else "nothing loaded"
            raw.rollback()
            return
        rep["status"] = "writing"
        say(f"writing {int(to_insert + to_update)} {k.name} through the registry's rules "
            "(one transaction)")
        doc_id, tx_id = _registry_transaction(cur, k, path, rep)
        updated = _write(cur, k, fmap, tx_id, mode)
        _lap(rep, "write_with_triggers", t)
        inserted = int(to_insert)
        rep["counts"].update({"inserted": inserted, "updated": updated})
        cur.execute("UPDATE registry_transaction SET details = details || %s WHERE id = %s",
                    (Json({"counts": rep["counts"]}), tx_id))
        pause = os.environ.get(PAUSE_ENV)
        if pause:
            print(f"PAUSED BEFORE COMMIT pid={os.getpid()}", file=sys.stderr, flush=True)
            time.sleep(float(pause))
        raw.commit()
        _lap(rep, "commit", t)
        rep["status"] = "committed"
        rep["transaction_id"], rep["source_document_id"] = tx_id, doc_id
    except BaseException as exc:
        try:
            raw.rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone; the server rolls back
            pass
        if isinstance(exc, (KeyboardInterrupt, CadastreError)):
            raise
        if hasattr(exc, "pgcode") or type(exc).__module__.startswith(("psycopg2", "sqlalchemy")):
            rep["status"] = "failed"
            raise LoadFailed("the database refused the batch: " + from_db_error(exc).message
                             + "; the database is unchanged") from exc
        raise
    finally:
        raw.close()


def _reference_data(cur: Any, k: Kind, explicit: dict[str, dict[str, str]]
                    ) -> tuple[dict[str, Vocabulary], list[dict[str, Any]]]:
    """The value lists of the kind's fields (official names, aliases and the mapping file's
    ``values:``, see :mod:`loaders.vocabulary`) and the districts with their geometry."""
    refs: dict[str, Vocabulary] = {}
    for fld, table in REFERENCE_TABLES.items():
        if fld not in k.names:
            continue
        cur.execute(sql.SQL("SELECT code, name_en, name_ru, name_uz, aliases FROM {} "
                            "ORDER BY code").format(sql.Identifier(table)))
        rows = cur.fetchall()
        codes = {r[0] for r in rows}
        for given, code in explicit.get(fld, {}).items():
            if code not in codes:
                raise InvalidInput(f"mapping file: {given!r} → {code!r} under values: "
                                   f"{fld}, but {code!r} is not one of {', '.join(sorted(codes))}")
        refs[fld] = value_list(fld.replace("_", " "), rows, explicit.get(fld))
    cur.execute("SELECT id, code, region_code, name, name_ru, ST_AsBinary(geom) FROM district "
                "ORDER BY id")
    districts = [{"id": i, "code": c, "region_code": r, "name": nm, "name_ru": ru,
                  "geom": shapely.from_wkb(bytes(g))} for i, c, r, nm, ru, g in cur.fetchall()]
    return refs, districts


def _columns(k: Kind) -> list[tuple[str, str]]:
    """Staging columns: (name, SQL type) of real table columns the kind can load."""
    return [(f.name, SQL_TYPES[f.type]) for f in k.fields if f.name not in PSEUDO]


def _stage(cur: Any, k: Kind, typed: dict[str, list[Any]], geoms: np.ndarray,
           district_ids: list[int | None], ok: np.ndarray) -> None:
    """COPY the records that passed so far into a temporary table (dropped at commit)."""
    cols = _columns(k)
    ddl = sql.SQL("CREATE TEMP TABLE load_stage (rn integer PRIMARY KEY, {cols}, "
                  "parcel_number text, parcel_id bigint, district_id integer, "
                  "existing_id bigint, geom geometry(Geometry, {srid})) ON COMMIT DROP").format(
        cols=sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                                for c, t in cols),
        srid=sql.Literal(SRID))
    cur.execute(ddl)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return
    if k.name in ("parcels", "buildings"):
        # Staged in spatial (Hilbert) order, which the INSERT keeps: the GiST index then grows
        # in well-clustered pages and the rules' index probes hit warm pages (~10 % of the
        # write for 200 000 parcels), without the database sorting the rows again.
        idx = idx[hilbert_order(geoms[idx])]
    names = [c for c, _t in cols]
    columns = [*[typed.get(c) for c in names], typed.get("parcel"), None, district_ids, None]
    copy = sql.SQL("COPY load_stage (rn, {cols}, parcel_number, parcel_id, district_id, "
                   "existing_id, geom) FROM STDIN").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, names)))

    def chunks(size: int = 25_000) -> Iterator[str]:
        """COPY text, 25 000 rows at a time: built while the server parses the chunk before."""
        for a in range(0, len(idx), size):
            part = idx[a:a + size]
            picks = part.tolist()
            na = ["\\N"] * len(picks)
            text_cols = [(part + 1).astype(str).tolist()]
            text_cols += [na if col is None else copy_column([col[i] for i in picks])
                          for col in columns]
            # binary WKB, then bytes.hex: a third of the time of GEOS's own hex writer
            wkbs = shapely.to_wkb(shapely.set_srid(geoms[part], SRID), include_srid=True)
            text_cols.append(list(map(bytes.hex, wkbs)))
            yield "\n".join(map("\t".join, zip(*text_cols, strict=True))) + "\n"

    cur.copy_expert(copy.as_string(cur), _Reader(chunks()))
    # No indexes on the staging table: every check joins it to a registry table through
    # that table's own index (GiST on geom, btree on the number). Statistics of the row count
    # and the key are what those plans need (a geometry's statistics cost twice as much).
    cur.execute(sql.SQL("ANALYZE load_stage (rn{key})").format(
        key=sql.SQL(", ") + sql.Identifier(k.key) if k.key else sql.SQL("")))


class _Reader:
    """A file for ``copy_expert`` that hands over the next chunk of an iterator of text each
    time it is read, so the text is built while PostgreSQL parses what it was sent."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> str:  # noqa: ARG002 - psycopg2 sends whatever it gets
        return next(self._chunks, "")


def hilbert_order(geoms: np.ndarray, bits: int = 16) -> np.ndarray:
    """Indexes that put ``geoms`` in the order of their bounding-box centres along a Hilbert
    curve over their extent (as PostGIS orders geometries), vectorised."""
    b = shapely.bounds(geoms)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    ok = np.isfinite(cx) & np.isfinite(cy)
    if not ok.any():
        return np.arange(len(geoms))
    side = (1 << bits) - 1

    def grid(v: np.ndarray) -> np.ndarray:
        lo, hi = v[ok].min(), v[ok].max()
        q = np.where(ok, (v - lo) / ((hi - lo) or 1.0) * side, 0)
        return q.astype(np.int64)

    x, y, d = grid(cx), grid(cy), np.zeros(len(geoms), np.int64)
    s = 1 << (bits - 1)
    while s > 0:  # the classic xy → d walk, one bit level per pass over all points
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        flip = ~ry
        swap_x = np.where(flip & rx, side - x, x)
        swap_y = np.where(flip & rx, side - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    return np.argsort(d, kind="stable")


def _check_in_db(cur: Any, k: Kind, mode: str, tolerance: float,
                 found: validate.Findings, derived: set[int] | None = None) -> None:
    """Set-based checks of the staged records against the registry (``derived``: buildings
    whose parcel comes from their own number rather than a parcel field)."""
    table = sql.Identifier(k.table)
    if k.key:
        active = sql.SQL(" AND t.status = 'active'") if k.history else sql.SQL("")
        cur.execute(sql.SQL(
            "UPDATE load_stage s SET existing_id = t.id FROM {t} t "
            "WHERE t.{key} = s.{key}{active}").format(t=table, key=sql.Identifier(k.key),
                                                       active=active))
        if mode == "insert":
            cur.execute(sql.SQL("SELECT rn, {key}, existing_id FROM load_stage "
                                "WHERE existing_id IS NOT NULL").format(
                key=sql.Identifier(k.key)))
            what = {"parcels": "an active parcel", "buildings": "an active building",
                    "cameras": "a camera", "districts": "a district"}[k.name]
            for rn, key, eid in cur.fetchall():
                found.reject(rn - 1, f"{key} is already registered as {what} (id {eid}); "
                                     "use --mode upsert to update it")
    if k.name == "parcels":
        # In upsert mode the parcels being replaced are compared in their new shape (in-file
        # check), not their old one.
        replaced = ("AND p.id NOT IN (SELECT existing_id FROM load_stage "
                    "WHERE existing_id IS NOT NULL)" if mode == "upsert" else "")
        cur.execute(f"""
            SELECT s.rn, p.cadastral_number, ST_Area(ST_Intersection(s.geom, p.geom))
              FROM load_stage s
              JOIN parcel p ON p.status = 'active' AND p.geom && s.geom
             WHERE p.id IS DISTINCT FROM s.existing_id {replaced}
               AND ST_Intersects(s.geom, p.geom) AND NOT ST_Touches(s.geom, p.geom)
               AND ST_Area(ST_Intersection(s.geom, p.geom)) > %s
             ORDER BY s.rn""", (tolerance,))
        for rn, number, area in cur.fetchall():
            found.reject(rn - 1, f"overlaps registered parcel {number} by {area:.1f} m²")
        if mode == "upsert":
            # A parcel's new boundary must still hold 95 % of each of its buildings.
            cur.execute("""
                SELECT s.rn, b.cadastral_number,
                       ST_Area(ST_Intersection(b.geom, s.geom)) / nullif(ST_Area(b.geom), 0)
                  FROM load_stage s JOIN building b ON b.parcel_id = s.existing_id
                 WHERE b.status = 'active' AND NOT ST_CoveredBy(b.geom, s.geom)
                   AND ST_Area(ST_Intersection(b.geom, s.geom)) < %s * ST_Area(b.geom)
                 ORDER BY s.rn""", (BUILDING_IN_PARCEL,))
            for rn, bn, frac in cur.fetchall():
                found.reject(rn - 1, f"building {bn} would lie only {100 * (frac or 0):.0f}% in "
                                     f"the new boundary; at least {BUILDING_IN_PARCEL:.0%} must")
    if k.name == "buildings":
        # Its parcel (named by the parcel field or by its own number, see
        # validate.check_building_numbers) is registered and holds 95 % of its footprint.
        cur.execute("""
            UPDATE load_stage s SET parcel_id = p.id FROM parcel p
             WHERE p.cadastral_number = s.parcel_number AND p.status = 'active'""")
        cur.execute("SELECT rn, parcel_number FROM load_stage WHERE parcel_id IS NULL")
        for rn, pn in cur.fetchall():
            if rn - 1 in (derived or set()):
                found.warn(rn - 1, f"its parcel {pn} is not registered (or not active); loaded "
                                   "without a parcel")
            else:
                found.reject(rn - 1, f"its parcel {pn} is not registered (or not active)")
        cur.execute("""
            SELECT s.rn, p.cadastral_number,
                   ST_Area(ST_Intersection(s.geom, p.geom)) / nullif(ST_Area(s.geom), 0)
              FROM load_stage s JOIN parcel p ON p.id = s.parcel_id
             WHERE NOT ST_CoveredBy(s.geom, p.geom)
               AND ST_Area(ST_Intersection(s.geom, p.geom)) < %s * ST_Area(s.geom)
             ORDER BY s.rn""", (BUILDING_IN_PARCEL,))
        for rn, pn, frac in cur.fetchall():
            found.reject(rn - 1, f"only {100 * (frac or 0):.0f}% of its footprint lies in its "
                                 f"parcel {pn}; at least {BUILDING_IN_PARCEL:.0%} must")
    if k.name == "districts":
        cur.execute("""
            SELECT s.rn, s.name, d.code FROM load_stage s JOIN district d
              ON lower(d.name) = lower(s.name) AND d.code <> s.code ORDER BY s.rn""")
        for rn, name, code in cur.fetchall():
            found.reject(rn - 1, f"district name {name!r} is already district {code}'s")


def _collect(rep: dict[str, Any], found: validate.Findings, keys: list[Any] | None,
             ok: np.ndarray) -> None:
    """Rejected records with their reasons, and warnings of the kept ones, in file order."""
    def key(i: int) -> Any:
        return keys[i] if keys is not None else None

    rep["rejected"] = [{"row": i + 1, "key": key(i), "reasons": found.errors[i]}
                       for i in sorted(found.errors)]
    rep["warnings"] = [{"row": i + 1, "key": key(i), "messages": found.warnings[i]}
                       for i in sorted(found.warnings) if ok[i]]
    rep["repaired_rows"] = sorted(i + 1 for i in found.repaired if ok[i])


def _registry_transaction(cur: Any, k: Kind, path: Path, rep: dict[str, Any]) -> tuple[int, int]:
    """The source document (file name, sha256) and the registry transaction of this import."""
    f = rep["file"]
    cur.execute(
        "INSERT INTO source_document (kind, issued_on, issuer, title, file_name, sha256) "
        "VALUES ('import', current_date, %s, %s, %s, %s) RETURNING id",
        (rep["actor"], f"Import of {k.name} from {path.name}", path.name, f["sha256"]))
    doc_id = cur.fetchone()[0]
    details = {"kind": k.name, "file": path.name, "sha256": f["sha256"], "mode": rep["mode"],
               "crs": f.get("crs"), "encoding": f.get("encoding"),
               "transformation": rep.get("transformation"), "report": rep["report"]}
    cur.execute(
        "INSERT INTO registry_transaction (kind, source_document_id, note, details) "
        "VALUES ('import', %s, %s, %s) RETURNING id",
        (doc_id, f"import of {k.name} from {path.name}", Json(details)))
    return doc_id, cur.fetchone()[0]


def _write(cur: Any, k: Kind, fmap: FieldMap, tx_id: int, mode: str) -> int:
    """UPDATE the existing rows (upsert; the history trigger keeps the old version), INSERT the rest."""
    loaded = [c for c, _t in _columns(k) if c in fmap.mapped.values()]
    defaults = validate.DEFAULTS.get(k.name, {})
    table = sql.Identifier(k.table)
    extra: list[tuple[str, sql.Composable]] = [("geom", sql.SQL("s.geom"))]
    if k.name != "districts":
        extra.append(("district_id", sql.SQL("s.district_id")))
    if k.name == "buildings":
        extra.append(("parcel_id", sql.SQL("s.parcel_id")))
    if k.has_transaction:
        extra.append(("transaction_id", sql.Literal(tx_id)))
    updated = 0
    if mode == "upsert":
        sets = [sql.SQL("{} = s.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in loaded]
        sets += [sql.SQL("{} = {}").format(sql.Identifier(c), e) for c, e in extra]
        cur.execute(sql.SQL("UPDATE {t} t SET {sets} FROM load_stage s "
                            "WHERE t.id = s.existing_id").format(
            t=table, sets=sql.SQL(", ").join(sets)))
        updated = cur.rowcount
    cols = [sql.Identifier(c) for c in loaded] + [sql.Identifier(c) for c, _e in extra]
    exprs: list[sql.Composable] = []
    for c in loaded:
        if c in defaults:
            exprs.append(sql.SQL("coalesce(s.{}, {})").format(sql.Identifier(c),
                                                               sql.Literal(defaults[c])))
        else:
            exprs.append(sql.SQL("s.{}").format(sql.Identifier(c)))
    exprs += [e for _c, e in extra]
    if k.name == "incidents":
        cols.append(sql.Identifier("source"))
        exprs.append(sql.Literal("import"))
    # In the order staged (spatial for parcels and buildings, see _stage).
    cur.execute(sql.SQL("INSERT INTO {t} ({cols}) SELECT {exprs} FROM load_stage s "
                        "WHERE s.existing_id IS NULL").format(
        t=table, cols=sql.SQL(", ").join(cols), exprs=sql.SQL(", ").join(exprs)))
    return updated
