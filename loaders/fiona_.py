"""Reading and writing GIS files through Fiona: formats, layers, legacy encodings and CRS.

Old survey Shapefiles from Tashkent are in SK-42 / Gauss-Krüger zone 12 (EPSG:28412) with
Cyrillic attributes in cp1251 (sometimes cp866) and often no ``.cpg``. The encoding is taken,
in order, from ``--encoding``, the ``.cpg``, the ``.dbf`` language driver byte, and finally
from the bytes themselves; the report says which.
"""

from __future__ import annotations

import hashlib
import logging
import math
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fiona
import shapely
import shapely.errors
from fiona.errors import FionaError
from pyproj import CRS
from pyproj.exceptions import CRSError
from pyproj.transformer import AreaOfInterest, Transformer, TransformerGroup
from shapely.geometry import shape

from cadastre_gis.errors import InvalidInput
from cadastre_gis.schema import SRID

from .mapping import FieldMap

log = logging.getLogger(__name__)

STORAGE_SRID = SRID
DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON",
           ".json": "GeoJSON", ".fgb": "FlatGeobuf", ".csv": "CSV",
           # legacy desktop formats still common in agencies (read only)
           ".tab": "MapInfo File", ".mif": "MapInfo File"}
ENCODINGS = ("cp1251", "cp866", "utf-8", "koi8-r", "latin-1", "cp1252")
# dBASE language driver ids (byte 29 of the .dbf header) that name a Cyrillic code page.
LDID = {0x26: "cp866", 0x65: "cp866", 0x57: None, 0xC9: "cp1251", 0x03: "cp1252", 0x01: "cp437"}
CSV_OPTIONS = {"GEOM_POSSIBLE_NAMES": "wkt,geometry,geom,the_geom,WKT",
               "X_POSSIBLE_NAMES": "lon,longitude,lng,x,dolgota,LON,X",
               "Y_POSSIBLE_NAMES": "lat,latitude,y,shirota,LAT,Y",
               "KEEP_GEOM_COLUMNS": "NO"}
COUNTRY = "Uzbekistan"
TASHKENT_AOI = AreaOfInterest(69.1, 41.15, 69.5, 41.45)


def driver_for(path: str | Path) -> str:
    """The OGR driver for a file name (by extension), or a clear error."""
    ext = Path(path).suffix.lower()
    if ext not in DRIVERS:
        raise InvalidInput(f"unsupported file type {ext or '(none)'}; use one of "
                           + ", ".join(sorted(DRIVERS)))
    return DRIVERS[ext]


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file (for a Shapefile: of .shp, .shx, .dbf, .prj, .cpg together)."""
    p = Path(path)
    h = hashlib.sha256()
    parts = [p]
    if p.suffix.lower() == ".shp":
        parts = [q for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")
                 for q in _sidecars(p, ext)]
    for q in parts:
        with open(q, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _sidecars(p: Path, ext: str) -> list[Path]:
    out = []
    for cand in (p.with_suffix(ext), p.with_suffix(ext.upper())):
        if cand.exists():
            out.append(cand)
            break
    return out


def cpg_encoding(text: str) -> str | None:
    """The Python codec a .cpg names: ``UTF-8``, ``1251``, ``ANSI 1251``, ``CP866``,
    ``windows-1251``, ``OEM 866``...; None for ``OEM``/``ANSI`` alone or anything unknown."""
    import codecs

    t = text.strip().strip("\ufeff").lower()
    if not t:
        return "utf-8"
    m = re.fullmatch(r"(?:ansi|oem|cp|windows-?|ibm)?[ _-]?(\d{3,5})", t)
    name = f"cp{m.group(1)}" if m else t
    try:
        return codecs.lookup(name).name.replace("_", "-")
    except LookupError:
        return None


_CYRILLIC_LETTER = re.compile("[\u0410-\u044fЁёЎўҚқҒғҲҳ]")


def detect_dbf_encoding(dbf: Path) -> tuple[str, str]:
    """Guess a .dbf's code page: language driver byte, else UTF-8 validity, else letter counts."""
    with open(dbf, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            return "utf-8", "the .dbf header is truncated; assumed UTF-8"
        records = int.from_bytes(head[4:8], "little")
        header_len = int.from_bytes(head[8:10], "little")
        rec_len = max(1, int.from_bytes(head[10:12], "little"))
        # Whole records from the start, the middle and the end of the file (~100 KB each):
        # enough letters to tell the code pages apart, and no character cut in two.
        per = max(1, (100 << 10) // rec_len)
        starts = sorted({0, max(0, records // 2 - per // 2), max(0, records - per)})
        chunks = []
        for first in starts:
            fh.seek(header_len + first * rec_len)
            chunks.append(fh.read(per * rec_len))
        sample = b"".join(chunks)
    ldid = head[29]
    high = sample.translate(None, delete=bytes(range(0x80)))

    def score(enc: str) -> float:
        text = high.decode(enc, errors="replace")
        return len(_CYRILLIC_LETTER.findall(text)) / max(1, len(text))

    declared = LDID.get(ldid)
    if declared in ("cp1251", "cp866"):
        # Some tools write the wrong byte: believe it unless the bytes clearly disagree.
        best = max(("cp1251", "cp866"), key=score)
        if high and best != declared and score(best) - score(str(declared)) >= 0.2:
            return best, (f"the .dbf language driver byte 0x{ldid:02X} declares {declared}, but "
                          f"the bytes read as Cyrillic in {best} ({score(best):.0%} letters "
                          f"against {score(str(declared)):.0%})")
        return str(declared), f"the .dbf language driver byte 0x{ldid:02X} declares it"
    if not high:
        return "utf-8", "no .cpg; the attributes are plain ASCII"
    try:
        sample.decode("utf-8")
        return "utf-8", "no .cpg; the attribute bytes are valid UTF-8"
    except UnicodeDecodeError:
        pass
    best = max(("cp1251", "cp866", "koi8-r"), key=score)
    return best, (f"no .cpg; the attribute bytes are not UTF-8 and read as Cyrillic in {best} "
                  f"({score(best):.0%} letters)")


@dataclass
class Source:
    """An opened input file: what it is, how to read it, and what we decided about it."""

    path: Path
    driver: str
    layer: str | None
    layers: list[str]
    encoding: str | None
    encoding_how: str
    crs: CRS | None
    crs_how: str
    fields: list[str]
    count: int
    geometry_type: str
    open_kwargs: dict[str, Any] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)
    """What was mended before reading (e.g. a missing .shx rebuilt in a temporary copy)."""

    def report(self) -> dict[str, Any]:
        """The part of the load report that describes the file."""
        return {"path": str(self.path), "driver": self.driver, "layer": self.layer,
                "layers": self.layers, "features": self.count,
                "geometry_type": self.geometry_type, "fields": self.fields,
                "encoding": {"name": self.encoding, "how": self.encoding_how},
                "crs": {"source": _crs_name(self.crs), "how": self.crs_how},
                "repairs": self.repairs}


def _crs_name(crs: CRS | None) -> str | None:
    if crs is None:
        return None
    auth = crs.to_authority(min_confidence=70)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


def parse_crs(text: str) -> CRS:
    """A CRS from ``EPSG:n`` (or anything pyproj understands), or a clear error."""
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise InvalidInput(f"unknown CRS {text!r}: use the form EPSG:28412") from exc


def open_source(path: str | Path, layer: str | None = None, encoding: str | None = None,
                crs: str | None = None) -> Source:
    """Open ``path`` with Fiona and settle its layer, encoding and CRS (or refuse clearly)."""
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"no such file: {p}")
    repairs: list[str] = []
    tmp: Path | None = None
    if p.suffix.lower() == ".zip":
        tmp, inner = _unzip(p)
        repairs.append(f"{inner.relative_to(tmp)} extracted from {p.name} into a temporary "
                       "directory")
        p = inner
    driver = driver_for(p)
    if driver == "ESRI Shapefile" and not _sidecars(p, ".shx"):
        rebuilt = _rebuild_shx(p)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        tmp = rebuilt
        repairs.append(f"{p.name} came without its .shx index: rebuilt from the .shp in a "
                       "temporary copy (the original files are untouched)")
        p = tmp / p.name
    kwargs: dict[str, Any] = {}
    if driver == "CSV":
        kwargs.update(CSV_OPTIONS)
    elif driver == "GeoJSON":
        # GDAL would read "10:09:10:01:01:0001" as a time of day otherwise.
        kwargs["DATE_AS_STRING"] = "YES"
    try:
        layers = fiona.listlayers(p)
    except (FionaError, OSError) as exc:
        raise InvalidInput(f"cannot read {p.name}: {_first_line(exc)}") from exc
    if layer is None:
        if len(layers) > 1:
            raise InvalidInput(f"{p.name} has {len(layers)} layers ({', '.join(layers)}); "
                               "choose one with --layer")
        layer = layers[0] if layers else None
    elif layer not in layers:
        raise InvalidInput(f"{p.name} has no layer {layer!r}; it has {', '.join(layers)}")

    enc, enc_how = None, "the format stores UTF-8"
    if encoding:
        enc, enc_how = _check_encoding(encoding), "given with --encoding"
    elif driver == "ESRI Shapefile":
        cpg = _sidecars(p, ".cpg")
        declared = cpg[0].read_text(errors="replace").strip() if cpg else None
        enc = cpg_encoding(declared) if declared is not None else None
        if enc is not None:
            enc_how = f"declared by {cpg[0].name}" + (
                f" ({declared!r})" if declared.lower() != enc else "")
        else:
            dbf = _sidecars(p, ".dbf")
            enc, enc_how = detect_dbf_encoding(dbf[0]) if dbf else ("utf-8", "no .dbf")
            if cpg:
                enc_how = f"{cpg[0].name} says {declared!r}, which names no code page; {enc_how}"
    if enc:
        kwargs["encoding"] = enc
    try:
        with fiona.open(p, layer=layer, **kwargs) as src:
            fields = list(src.schema["properties"].keys())
            file_crs = CRS.from_user_input(src.crs.to_wkt()) if src.crs else None
            try:
                count = len(src)
            except TypeError:  # no fast count (MapInfo MIF): one pass
                count = sum(1 for _f in src)
            gtype = str(src.schema.get("geometry"))
    except (FionaError, OSError, ValueError, CRSError) as exc:
        raise InvalidInput(f"cannot read {p.name}: {_first_line(exc)}") from exc

    if crs:
        chosen, how = parse_crs(crs), "given with --crs" + (
            f" (the file says {_crs_name(file_crs)})" if file_crs else "")
    elif file_crs is not None:
        chosen, how = file_crs, "read from the file"
    elif driver == "CSV" and _has_lonlat(fields, p):
        chosen, how = CRS.from_epsg(4326), "CSV with lon/lat columns: EPSG:4326 assumed"
    else:
        raise InvalidInput(
            f"{p.name} has no coordinate reference system (no .prj or CRS in the file); "
            "give it with --crs, e.g. --crs EPSG:28412 for SK-42 Gauss-Krüger zone 12 "
            "or --crs EPSG:4326 for longitude/latitude")
    source = Source(p, driver, layer, layers, enc, enc_how, chosen, how, fields, count, gtype,
                    kwargs, repairs)
    if tmp is not None:
        weakref.finalize(source, shutil.rmtree, tmp, True)
    return source


def _unzip(archive: Path) -> tuple[Path, Path]:
    """Extract a .zip (as agencies send Shapefiles) and find the one dataset in it."""
    import zipfile

    tmp = Path(tempfile.mkdtemp(prefix="cadastre-zip-"))
    try:
        with zipfile.ZipFile(archive) as z:
            total = sum(i.file_size for i in z.infolist())
            if total > 4 << 30:
                raise InvalidInput(f"{archive.name} would unpack to {total / 2**30:.1f} GiB; "
                                   "unpack it yourself and load the file inside")
            for info in z.infolist():
                target = (tmp / info.filename).resolve()
                if not str(target).startswith(str(tmp.resolve())):
                    raise InvalidInput(f"{archive.name} holds a path outside the archive "
                                       f"({info.filename!r}); refused")
            z.extractall(tmp)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidInput(f"cannot read {archive.name}: {_first_line(exc)}") from exc
    except InvalidInput:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    found = sorted(q for q in tmp.rglob("*") if q.is_file() and q.suffix.lower() in DRIVERS
                   and not q.name.startswith("."))
    if len(found) != 1:
        shutil.rmtree(tmp, ignore_errors=True)
        what = ", ".join(str(q.relative_to(tmp)) for q in found) or "no GIS file"
        raise InvalidInput(f"{archive.name} holds {what}; it must hold exactly one GIS file "
                           "(unpack it and load the one you want)")
    return tmp, found[0]


def _rebuild_shx(p: Path) -> Path:
    """Copy a Shapefile's parts to a temporary directory and let GDAL rebuild its .shx there."""
    tmp = Path(tempfile.mkdtemp(prefix="cadastre-shx-"))
    try:
        for part in p.parent.iterdir():
            if part.is_file() and part.stem == p.stem:
                shutil.copy2(part, tmp / part.name)
        with fiona.Env(SHAPE_RESTORE_SHX="YES"), fiona.open(tmp / p.name):
            pass
    except (FionaError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidInput(f"cannot read {p.name}: it has no .shx index and GDAL could not "
                           f"rebuild one ({_first_line(exc)})") from exc
    if not _sidecars(tmp / p.name, ".shx"):
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidInput(f"cannot read {p.name}: it has no .shx index and GDAL could not "
                           "rebuild one")
    return tmp


def _has_lonlat(fields: list[str], p: Path) -> bool:
    header = p.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
    cols = [c.strip().strip('"').lower() for c in (header[0].split(",") if header else [])]
    return any(c in ("lon", "longitude", "lng") for c in cols) and any(
        c in ("lat", "latitude") for c in cols)


def _check_encoding(name: str) -> str:
    enc = cpg_encoding(name) if name.strip() else None
    if enc is None:
        raise InvalidInput(f"unknown encoding {name!r}; use e.g. cp1251, cp866 or utf-8")
    return enc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass
class Transformation:
    """The coordinate operation from the file's CRS to storage, as chosen by PROJ."""

    transformer: Transformer | None
    description: str
    accuracy_m: float | None
    best_available: bool
    candidates: int
    considered: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """The part of the report that records the transformation."""
        return {"description": self.description,
                "accuracy_m": self.accuracy_m, "best_available": self.best_available,
                "candidates": self.candidates, "considered": self.considered}


def transformation(src: CRS, bounds: tuple[float, float, float, float] | None = None,
                   dst: CRS | None = None) -> Transformation:
    """The best available operation from ``src`` to ``dst`` (EPSG:32642) for the data's area.

    ``bounds`` are the data's bounds in ``src``.
    """
    dst = dst or CRS.from_epsg(STORAGE_SRID)
    if src.equals(dst, ignore_axis_order=True):
        return Transformation(None, f"none (already in {_crs_name(dst)})", 0.0, True, 0)
    aoi = TASHKENT_AOI
    if bounds and all(math.isfinite(b) for b in bounds):
        try:
            to_ll = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
            w, s, e, n = to_ll.transform_bounds(*bounds)
            if all(math.isfinite(v) for v in (w, s, e, n)) and w <= e and s <= n:
                aoi = AreaOfInterest(w, s, e, n)
        except Exception:  # noqa: BLE001 - fall back to Tashkent's extent
            log.debug("could not derive an area of interest", exc_info=True)
    group = TransformerGroup(src, dst, always_xy=True, area_of_interest=aoi)
    if not group.transformers and aoi is not TASHKENT_AOI:
        # The data's own bounds can be nonsense in this CRS (a wrong .prj): choose the
        # operation for Tashkent; the district check then tells the user what went wrong.
        group = TransformerGroup(src, dst, always_xy=True, area_of_interest=TASHKENT_AOI)
    if not group.transformers:
        raise InvalidInput(f"PROJ has no transformation from {_crs_name(src)} to "
                           f"{_crs_name(dst)}")
    # PROJ ranks candidates by bounding boxes only, so an operation meant for Russia can
    # outrank the one whose area of use names Uzbekistan; prefer the latter when it exists.
    # Export uses the same rule, so export → import returns the same coordinates.
    pick = next((t for t in group.transformers if COUNTRY in _area_name(t)),
                group.transformers[0])
    acc = pick.accuracy if pick.accuracy is not None and pick.accuracy >= 0 else None
    return Transformation(pick, pick.description, acc, bool(group.best_available),
                          len(group.transformers),
                          [{"description": t.description, "accuracy_m": t.accuracy,
                            "area_of_use": _area_name(t)} for t in group.transformers])


# Pulkovo 1942 Gauss-Krüger CRSs for Tashkent whose eastings carry no zone number.
GK_NO_ZONE = {2502, 28472}


def crs_hint(src: CRS | None, bounds: tuple[float, float, float, float] | None,
             how: str) -> str:
    """Why most records would land far outside Tashkent, and what to try instead."""
    name = _crs_name(src) or "none"
    text = (f"most records lie far outside Tashkent, so the CRS is probably wrong "
            f"(EPSG:{name.split(':')[-1]} {how})" if name.startswith("EPSG:")
            else f"most records lie far outside Tashkent, so the CRS ({name}, {how}) is "
                 "probably wrong")
    epsg = src.to_epsg(min_confidence=70) if src is not None else None
    if bounds is None or not all(math.isfinite(b) for b in bounds):
        return text
    x = (bounds[0] + bounds[2]) / 2
    y = (bounds[1] + bounds[3]) / 2
    gk_north = 4_400_000 < y < 4_800_000
    if gk_north and 12_000_000 < x < 13_000_000:
        if epsg in GK_NO_ZONE:
            return (f"{text}: the eastings (~{x:,.0f}) start with the zone number 12; "
                    "try --crs EPSG:28412 (Pulkovo 1942 / Gauss-Krüger zone 12)")
        return (f"{text}: the coordinates look like Pulkovo 1942 / Gauss-Krüger zone 12 with "
                "the zone number; try --crs EPSG:28412")
    if gk_north and 0 < x < 1_000_000:
        if epsg == 28412:
            return (f"{text}: the eastings (~{x:,.0f}) lack the zone number 12; try --crs "
                    "EPSG:2502 (Pulkovo 1942 / Gauss-Krüger CM 69E, no zone number)")
        return (f"{text}: the coordinates look like UTM zone 42N (try --crs EPSG:32642) or "
                "Gauss-Krüger without the zone number (--crs EPSG:2502)")
    if 69 <= y <= 70 and 41 <= x <= 42:
        return f"{text}: the coordinates look like latitude/longitude swapped; check the axes"
    if 69 <= x <= 70 and 41 <= y <= 42:
        return f"{text}: the coordinates look like longitude/latitude; try --crs EPSG:4326"
    return text


def _area_name(t: Transformer) -> str:
    area = t.area_of_use
    return area.name if area is not None else ""


@dataclass
class Batch:
    """Features read from the file: row numbers, attribute columns and Shapely geometries."""

    rows: list[int]
    values: dict[str, list[Any]]
    geoms: list[Any]
    broken: dict[int, str] = field(default_factory=dict)
    """Row number → why its geometry could not even be built (e.g. a 3-point ring)."""


def to_shapely(raw: list[Any]) -> tuple[Any, dict[int, str]]:
    """Fiona geometries → Shapely, (multi)polygons in one ``from_ragged_array`` call.

    Building each polygon with ``shape()`` costs ~5x more; anything unusual (points, lines,
    3D/mixed coordinates, degenerate rings) falls back to ``shape()`` one by one.
    """
    import numpy as np

    out = np.empty(len(raw), dtype=object)
    broken: dict[int, str] = {}
    poly_idx: list[int] = []
    coords: list[Any] = []
    ring_off, poly_off, mp_off = [0], [0], [0]
    for i, g in enumerate(raw):
        if g is None:
            continue
        typ = g.type
        if typ == "Polygon" or typ == "MultiPolygon":
            polys = g.coordinates if typ == "MultiPolygon" else [g.coordinates]
            for poly in polys:
                for ring in poly:
                    coords.extend(ring)
                    ring_off.append(len(coords))
                poly_off.append(len(ring_off) - 1)
            mp_off.append(len(poly_off) - 1)
            poly_idx.append(i)
        else:
            _one(raw, i, out, broken)
    if poly_idx:
        try:
            arr = np.asarray(coords, dtype=float)
            if arr.ndim != 2 or arr.shape[1] < 2:
                raise ValueError("unexpected coordinates")
            built = shapely.from_ragged_array(
                shapely.GeometryType.MULTIPOLYGON, np.ascontiguousarray(arr[:, :2]),
                (np.asarray(ring_off), np.asarray(poly_off), np.asarray(mp_off)))
            out[poly_idx] = built
        except (ValueError, TypeError, shapely.errors.GEOSException):
            for i in poly_idx:
                _one(raw, i, out, broken)
    return out, broken


def _one(raw: list[Any], i: int, out: Any, broken: dict[int, str]) -> None:
    try:
        out[i] = shape(raw[i])
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
        broken[i] = _first_line(exc)


# Formats whose features Fiona can reach by index cheaply (OGR_L_SetNextByIndex), so that a
# large file can be read in ranges by several processes at once.
RANGE_DRIVERS = {"ESRI Shapefile", "GPKG", "FlatGeobuf"}
PARALLEL_MIN_FEATURES = 20_000
WORKERS_ENV = "CADASTRE_LOAD_WORKERS"


def read_workers(src: Source, min_features: int | None = None) -> int:
    """How many processes read ``src``: one for small files and formats without random access,
    else ``$CADASTRE_LOAD_WORKERS`` or the number of CPUs (at most 4)."""
    if src.driver not in RANGE_DRIVERS or src.count < (min_features or PARALLEL_MIN_FEATURES):
        return 1
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise InvalidInput(f"{WORKERS_ENV} must be a number, got {env!r}") from None
    return max(1, min(4, os.cpu_count() or 1))


READER_ENV = "CADASTRE_LOAD_READER"
"""``fiona`` reads every format through Fiona's per-feature objects (the columnar reader is
otherwise used for Shapefile, GeoPackage and FlatGeobuf)."""
COLUMNAR_DRIVERS = {"ESRI Shapefile", "GPKG", "FlatGeobuf"}


def columnar(src: Source) -> bool:
    """Is ``src`` read by pyogrio's columnar reader (whole columns and WKB in one GDAL call,
    ~7x faster than building Fiona's per-feature objects)?"""
    if src.driver not in COLUMNAR_DRIVERS or os.environ.get(READER_ENV, "").strip() == "fiona":
        return False
    try:
        import pyogrio  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency; Fiona still reads everything
        return False
    return True


def read(src: Source, fmap: FieldMap, progress: Callable[[int], None] | None = None,
         chunk: int = 5000, workers: int | None = None) -> Iterator[Batch]:
    """Yield the file's features in file order, in chunks, attributes renamed to model fields.

    Shapefile, GeoPackage and FlatGeobuf are read column-wise by pyogrio (see
    :func:`columnar`); other formats through Fiona. With ``workers`` > 1 a Fiona read cuts
    the file into index ranges read by that many processes, each through its own Fiona
    collection; the batches still arrive in file order.
    """
    pairs = list(fmap.mapped.items())
    if columnar(src):
        yield from _read_columnar(src, pairs, progress, chunk)
        return
    n_workers = read_workers(src) if workers is None else workers
    if n_workers > 1 and src.count > 0:
        yield from _read_parallel(src, pairs, n_workers, progress, chunk)
        return
    try:
        rn = 0
        for batch, errors in _read_range(src.path, src.layer, src.open_kwargs, pairs, 0, None,
                                         chunk):
            rn += len(batch.rows)
            if errors:
                _refuse(src.path, errors)
            if progress:
                progress(len(batch.rows))
            yield batch
        if rn < src.count:
            _refuse_short(src, rn)
    except (FionaError, OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"cannot read {src.path.name}: {_first_line(exc)}") from exc


def _shapefile_truncated(shp: Path) -> str | None:
    """Why a Shapefile is cut short (its index points past the end of the .shp, or the .dbf
    is shorter than its header says), or None. Fiona learns it from GDAL's read errors; the
    columnar reader checks the files' own bookkeeping first."""
    import numpy as np

    shx, dbf = shp.with_suffix(".shx"), shp.with_suffix(".dbf")
    for cand in (shx, shp.with_suffix(".SHX")):
        if cand.exists():
            idx = np.frombuffer(cand.read_bytes()[100:], dtype=">i4")
            if len(idx) >= 2:
                ends = idx[0::2].astype(np.int64) * 2 + 8 + idx[1::2].astype(np.int64) * 2
                if int(ends.max()) > shp.stat().st_size:
                    return f"{shp.name} ends before its last feature (truncated)"
            break
    for cand in (dbf, shp.with_suffix(".DBF")):
        if cand.exists():
            head = cand.read_bytes()[:12]
            if len(head) == 12:
                n = int.from_bytes(head[4:8], "little")
                hlen = int.from_bytes(head[8:10], "little")
                rlen = int.from_bytes(head[10:12], "little")
                if cand.stat().st_size < hlen + n * rlen:
                    return f"{cand.name} ends before its last record (truncated)"
            break
    return None


def _read_columnar(src: Source, pairs: list[tuple[str, str]],
                   progress: Callable[[int], None] | None, chunk: int) -> Iterator[Batch]:
    """The whole layer in one pyogrio call: attribute columns and WKB geometries, then
    batches as Fiona would give them (numbers as int/float, NULL as None, dates as text)."""
    import numpy as np
    import pyogrio

    if src.driver == "ESRI Shapefile":
        why = _shapefile_truncated(src.path)
        if why:
            _refuse(src.path, [why])
    kwargs: dict[str, Any] = {"layer": src.layer, "datetime_as_string": True,
                              "columns": [s for s, _d in pairs]}
    if src.driver == "ESRI Shapefile" and src.encoding:
        kwargs["encoding"] = src.encoding
    try:
        meta, _fids, wkb, cols = pyogrio.raw.read(src.path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - pyogrio/GDAL errors of every kind: refuse
        raise InvalidInput(f"cannot read {src.path.name}: {_first_line(exc)}") from exc
    n = len(wkb)
    if n < src.count:
        _refuse_short(src, n)
    names = [str(f) for f in meta["fields"]]
    dtypes = [str(t) for t in meta["dtypes"]]
    values: dict[str, list[Any]] = {}
    for s, dst in pairs:
        j = names.index(s)
        col, dt = cols[j], dtypes[j]
        if dt.startswith(("int", "uint")) or dt.startswith("float"):
            arr = np.asarray(col, dtype=float)
            nan = np.isnan(arr)
            vals = arr.astype(object)
            if dt.startswith(("int", "uint")):
                vals[~nan] = arr[~nan].astype(np.int64).tolist()
            vals[nan] = None
            values[dst] = vals.tolist()
        elif dt == "bool":
            values[dst] = [None if v is None else bool(v) for v in col.tolist()]
        else:
            values[dst] = [None if isinstance(v, float) and v != v else v for v in col.tolist()]
    try:
        geoms = shapely.from_wkb(wkb)
        broken: dict[int, str] = {}
    except shapely.errors.GEOSException:
        geoms = np.empty(n, dtype=object)
        broken = {}
        for i, g in enumerate(wkb):
            try:
                geoms[i] = None if g is None else shapely.from_wkb(g)
            except shapely.errors.GEOSException as exc:
                broken[i + 1] = _first_line(exc)
    # As Fiona's path gives them (to_shapely): every polygon a MultiPolygon.
    poly = np.flatnonzero(shapely.get_type_id(geoms) == 3)
    if len(poly):
        geoms[poly] = shapely.multipolygons(geoms[poly][:, None])
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        rows = list(range(a + 1, b + 1))
        bt = Batch(rows, {k: v[a:b] for k, v in values.items()}, list(geoms[a:b]),
                   {r: w for r, w in broken.items() if a < r <= b})
        if progress:
            progress(len(rows))
        yield bt


def _read_range(path: Path, layer: str | None, open_kwargs: dict[str, Any],
                pairs: list[tuple[str, str]], start: int, stop: int | None,
                chunk: int) -> Iterator[tuple[Batch, list[str]]]:
    """Features ``start`` .. ``stop`` (exclusive; None: to the end) in batches of ``chunk``,
    each with the errors GDAL reported while reading it."""
    errors = _GdalErrors()
    flog = logging.getLogger("fiona")
    flog.addHandler(errors)
    try:
        with fiona.open(path, layer=layer, **open_kwargs) as f:
            rows: list[int] = []
            values: dict[str, list[Any]] = {dst: [] for _s, dst in pairs}
            raw: list[Any] = []
            rn = start
            feats = iter(f) if start == 0 and stop is None else (
                feat for _fid, feat in f.items(start, stop))
            for feat in feats:
                rn += 1
                rows.append(rn)
                props = feat.properties
                for s, dst in pairs:
                    values[dst].append(props[s])
                raw.append(feat.geometry)
                if len(rows) >= chunk:
                    yield _batch(rows, values, raw), errors.take()
                    rows, values, raw = [], {dst: [] for _s, dst in pairs}, []
            if rows or errors.messages:
                yield _batch(rows, values, raw), errors.take()
    finally:
        flog.removeHandler(errors)


def _read_range_all(path: Path, layer: str | None, open_kwargs: dict[str, Any],
                    pairs: list[tuple[str, str]], start: int, stop: int,
                    chunk: int) -> tuple[list[Batch], list[str], str | None]:
    """One worker's share: its batches, GDAL's errors, or why it could not read at all."""
    batches: list[Batch] = []
    errors: list[str] = []
    try:
        for batch, errs in _read_range(path, layer, open_kwargs, pairs, start, stop, chunk):
            # WKB crosses the process boundary ~5x faster than pickled Shapely objects.
            batch.geoms = shapely.to_wkb(batch.geoms)  # type: ignore[assignment]
            batches.append(batch)
            errors.extend(errs)
    except (FionaError, OSError, ValueError, KeyError) as exc:
        return batches, errors, _first_line(exc)
    return batches, errors, None


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the loader, which stops them and rolls back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _read_parallel(src: Source, pairs: list[tuple[str, str]], workers: int,
                   progress: Callable[[int], None] | None, chunk: int) -> Iterator[Batch]:
    from concurrent.futures import ProcessPoolExecutor

    # Several ranges per worker keep the progress bar moving and the workers evenly busy.
    step = max(chunk, -(-src.count // (workers * 4)))
    ranges = [(a, min(a + step, src.count)) for a in range(0, src.count, step)]
    ctx = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(ranges)), mp_context=ctx,
                               initializer=_ignore_sigint)
    try:
        futures = [pool.submit(_read_range_all, src.path, src.layer, src.open_kwargs, pairs,
                               a, b, chunk) for a, b in ranges]
        for (a, b), fut in zip(ranges, futures, strict=True):
            batches, errors, failure = fut.result()
            if failure:
                raise InvalidInput(f"cannot read {src.path.name}: {failure}")
            if errors:
                _refuse(src.path, errors)
            got = sum(len(bt.rows) for bt in batches)
            if got < b - a:
                _refuse_short(src, a + got)
            for bt in batches:
                bt.geoms = list(shapely.from_wkb(bt.geoms))
                if progress:
                    progress(len(bt.rows))
                yield bt
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _refuse(path: Path, messages: list[str]) -> None:
    more = f" (and {len(messages) - 1} more errors)" if len(messages) > 1 else ""
    raise InvalidInput(f"cannot read {path.name}: {messages[0]}{more}; "
                       "is the file truncated or damaged?")


def _refuse_short(src: Source, got: int) -> None:
    raise InvalidInput(f"cannot read {src.path.name}: only {got} of {src.count} "
                       "features could be read (is the file truncated?)")


def _batch(rows: list[int], values: dict[str, list[Any]], raw: list[Any]) -> Batch:
    geoms, broken = to_shapely(raw)
    return Batch(rows, values, list(geoms), {rows[i]: why for i, why in broken.items()})


class _GdalErrors(logging.Handler):
    """Collects the errors GDAL reports while Fiona reads (a truncated .shp yields features
    with no geometry and only an error message; we refuse such a file instead)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Remember one error."""
        self.messages.append(record.getMessage())

    def take(self) -> list[str]:
        """The errors reported since the last call."""
        out, self.messages = self.messages, []
        return out


def to_storage(geoms: list[Any], tr: Transformation) -> Any:
    """Apply the chosen transformation to Shapely geometries in one vectorised call."""
    import numpy as np

    arr = np.array(geoms, dtype=object)
    if tr.transformer is None:
        return arr
    t = tr.transformer

    def fn(xy: Any) -> Any:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(arr, fn)


def write(path: str | Path, schema: dict[str, Any], crs_wkt: str, records: list[dict[str, Any]],
          driver: str, encoding: str | None = None, layer: str | None = None) -> None:
    """Write records with Fiona (a Shapefile gets a .cpg naming its encoding)."""
    kwargs: dict[str, Any] = {}
    if encoding:
        kwargs["encoding"] = encoding
    if layer and driver == "GPKG":
        kwargs["layer"] = layer
    with fiona.open(path, "w", driver=driver, schema=schema, crs_wkt=crs_wkt, **kwargs) as dst:
        dst.writerecords(records)
