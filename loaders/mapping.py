"""What each KIND of file holds: target table, fields, value checks and field-name presets.

A source field reaches a model field through, in order: the ``--mapping`` YAML file, the
model field's own name (case-insensitive, so our exports load back), then the built-in
presets of Russian/Uzbek names common in Tashkent survey files (KAD_NOMER, ADRES, PLOSHAD...).
Anything else is reported as unknown and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cadastre_gis.cadastral import BUILDING_NUMBER, PARCEL_NUMBER
from cadastre_gis.errors import InvalidInput
from cadastre_gis.schema import CAMERA_STATUSES, INCIDENT_STATUSES, VISIBILITIES

# Columns the database computes or keeps for itself: present in our exports, quietly skipped
# on import (and listed as such in the report).
COMPUTED = frozenset({"id", "area_m2", "footprint_m2", "version", "valid_from", "valid_to",
                      "status_db", "updated_at", "updated_by", "transaction_id", "district_id",
                      "parcel_id", "service_id", "last_heartbeat", "closed_at", "resolved_at",
                      "updated", "area", "fid", "ogc_fid"})


# Largest values of the numeric(p, 2) columns (a larger one is refused by the database).
NUMERIC_12_2 = 9_999_999_999.99
NUMERIC_14_2 = 999_999_999_999.99
NUMERIC_18_2 = 9_999_999_999_999_998.0  # the largest float below 10^16 (16 digits before the point)


@dataclass(frozen=True)
class Field:
    """One model field: its type and the simple rules the database would enforce."""

    name: str
    type: str = "text"  # text | int | float | date | datetime
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    required: bool = False
    shp: str | None = None
    """Field name used when exporting to a Shapefile (≤ 10 characters, a preset name)."""


@dataclass(frozen=True)
class Kind:
    """A loadable KIND: ``parcels``, ``buildings``, ``districts``, ``incidents``, ``cameras``."""

    name: str
    table: str
    geometry: str  # MultiPolygon | Point
    key: str | None
    fields: tuple[Field, ...]
    presets: dict[str, str] = field(default_factory=dict)
    number_pattern: re.Pattern[str] | None = None
    history: bool = False
    """Has a ``<table>_history`` table (and so ``--as-of``)."""
    has_transaction: bool = False
    """Has ``transaction_id`` (registry objects)."""

    def field(self, name: str) -> Field:
        """The field called ``name``."""
        return next(f for f in self.fields if f.name == name)

    @property
    def names(self) -> list[str]:
        """Model field names in order."""
        return [f.name for f in self.fields]

    @property
    def polygonal(self) -> bool:
        """True when the geometry is a (multi)polygon."""
        return self.geometry == "MultiPolygon"


_NUMBER = ["KAD_NOMER", "KADNOMER", "KAD_NOM", "KAD_NOMR", "KADASTR_N", "KADASTR_NO",
           "KADASTR_NR", "KADASTR", "KADASTR_RA", "KAD_RAQAM", "KAD_RAQAMI", "CAD_NUM",
           "CADNUM", "CADASTRAL", "CAD_NUMBER", "NOMER"]
_ADDRESS = ["ADRES", "ADRESS", "ADDRESS", "ADDR", "MANZIL", "MANZILI", "ADRES_UCH", "ADR"]
_DISTRICT = ["RAYON", "RAION", "RAJON", "TUMAN", "TUMANI", "DISTRICT", "RAYON_KOD", "KOD_RAYON"]
_VALUE = ["KAD_STOIM", "KAD_STOIMO", "KADSTOIM", "STOIMOST", "QIYMAT", "KAD_QIYMAT", "CAD_VALUE"]


# Russian and Uzbek Cyrillic letters → the Latin spelling the presets use, so that old files
# with Cyrillic field names (КАД_НОМЕР, АДРЕС, ПЛОЩАДЬ, ҚАВАТ...) reach the same model fields.
_LATIN = str.maketrans({
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Д": "D", "Е": "E", "Ё": "YO", "Ж": "ZH",
    "З": "Z", "И": "I", "Й": "Y", "К": "K", "Л": "L", "М": "M", "Н": "N", "О": "O", "П": "P",
    "Р": "R", "С": "S", "Т": "T", "У": "U", "Ф": "F", "Х": "KH", "Ц": "TS", "Ч": "CH",
    "Ш": "SH", "Щ": "SHCH", "Ъ": "", "Ы": "Y", "Ь": "", "Э": "E", "Ю": "YU", "Я": "YA",
    "Ў": "O", "Қ": "Q", "Ғ": "G", "Ҳ": "H"})


def latin(name: str) -> str:
    """A field name in upper-case Latin letters (Cyrillic transliterated)."""
    return name.upper().translate(_LATIN)


def _presets(**groups: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for model, names in groups.items():
        for n in names:
            out.setdefault(n.upper(), model)
    return out


PARCELS = Kind(
    name="parcels", table="parcel", geometry="MultiPolygon", key="cadastral_number",
    number_pattern=PARCEL_NUMBER, history=True, has_transaction=True,
    fields=(
        Field("cadastral_number", required=True, shp="KAD_NOMER"),
        Field("address", shp="ADRES"),
        Field("land_category", shp="KATEGORIYA"),
        Field("permitted_use", shp="VID_ISP"),
        Field("declared_area_m2", "float", min=0.01, max=NUMERIC_14_2, shp="PLOSHAD"),
        Field("cadastral_value", "float", min=0, max=NUMERIC_18_2, shp="KAD_STOIM"),
        Field("district", shp="RAYON"),
    ),
    presets=_presets(
        cadastral_number=_NUMBER, address=_ADDRESS, district=_DISTRICT, cadastral_value=_VALUE,
        declared_area_m2=["PLOSHAD", "PLOSHCHAD", "PLOSHAD_M2", "PLOSH", "PL_UCH", "S_UCH",
                          "S_M2", "AREA_DECL", "DECL_AREA", "MAYDON", "MAYDONI", "YER_MAYDON"],
        land_category=["KATEGORIYA", "KATEGORIA", "KATEGOR", "KATEG", "KAT_ZEM", "KATEG_ZEM",
                       "TOIFA", "TOIFASI", "YER_TOIFA", "CATEGORY"],
        permitted_use=["VID_ISP", "VID_ISPOLZ", "VID_ISPOL", "VRI", "NAZNACH", "NAZNACHEN",
                       "NAZNACHENI", "FOYDALAN", "FOYDALANIS", "MAQSAD", "USE"],
    ),
)

BUILDINGS = Kind(
    name="buildings", table="building", geometry="MultiPolygon", key="cadastral_number",
    number_pattern=BUILDING_NUMBER, history=True, has_transaction=True,
    fields=(
        Field("cadastral_number", required=True, shp="KAD_NOMER"),
        Field("address", shp="ADRES"),
        Field("building_use", shp="NAZNACH"),
        Field("floors", "int", min=1, max=150, shp="ETAJ"),
        Field("year_built", "int", min=1700, max=2100, shp="GOD_POSTR"),
        Field("floor_area_m2", "float", min=0.01, max=NUMERIC_12_2, shp="PLOSHAD"),
        Field("cadastral_value", "float", min=0, max=NUMERIC_18_2, shp="KAD_STOIM"),
        Field("parcel", shp="KAD_UCH"),
        Field("district", shp="RAYON"),
    ),
    presets=_presets(
        cadastral_number=_NUMBER + ["KAD_NOM_ZD", "KAD_ZD"], address=_ADDRESS,
        district=_DISTRICT, cadastral_value=_VALUE,
        building_use=["NAZNACH", "NAZNACHEN", "NAZNACHENI", "VID_ISP", "TIP_ZD", "TIP",
                      "FOYDALAN", "MAQSAD"],
        floors=["ETAJ", "ETAJI", "ETAJNOST", "ETAZH", "ETAZHNOST", "ETAZHEI", "QAVAT",
                "QAVATLAR", "QAVATI", "FLOORS"],
        year_built=["GOD_POSTR", "GOD_POSTRO", "GOD_STR", "GOD", "YIL", "QURILGAN", "YEAR"],
        floor_area_m2=["PLOSHAD", "PLOSHCHAD", "OBSH_PLOSH", "PLOSH_OBSH", "OBSCH_PL",
                       "UMUMIY_MAY", "MAYDON", "MAYDONI"],
        parcel=["KAD_UCH", "KAD_UCHAST", "UCHASTOK", "PARCEL", "YER_UCH", "KAD_NOM_UC"],
    ),
)

DISTRICTS = Kind(
    name="districts", table="district", geometry="MultiPolygon", key="code",
    fields=(
        Field("code", required=True, shp="KOD"),
        Field("name", required=True, shp="NAZVANIE"),
        Field("name_ru", shp="NAME_RU"),
        Field("region_code", shp="KOD_OBL"),
        Field("population", "int", min=0, max=100_000_000, shp="NASELENIE"),
    ),
    presets=_presets(
        code=["KOD", "KOD_RAYON", "RAYON_KOD", "TUMAN_KOD", "SOATO_KOD", "CODE"],
        name=["NAZVANIE", "NAIMENOV", "NAME", "NOMI", "TUMAN", "RAYON", "NAME_UZ"],
        name_ru=["NAZV_RU", "NAME_RU", "NAIMEN_RU"],
        region_code=["KOD_OBL", "OBLAST_KOD", "VILOYAT"],
        population=["NASELENIE", "NASELEN", "AHOLI", "AHOLISI", "POPULATION"],
    ),
)

INCIDENTS = Kind(
    name="incidents", table="incident", geometry="Point", key=None,
    fields=(
        Field("category", required=True, shp="KATEGORIYA"),
        Field("status", choices=INCIDENT_STATUSES, shp="STATUS"),
        Field("priority", "int", min=1, max=4, shp="PRIORITET"),
        Field("title", shp="NAZVANIE"),
        Field("description", shp="OPISANIE"),
        Field("address", shp="ADRES"),
        Field("reported_at", "datetime", shp="DATA"),
        Field("deadline", "datetime", shp="SROK"),
        Field("visibility", choices=VISIBILITIES, shp="VIDIMOST"),
        Field("district", shp="RAYON"),
    ),
    presets=_presets(
        category=["KATEGORIYA", "KATEGORIA", "KATEG", "TIP", "TURI", "CATEGORY"],
        status=["STATUS", "SOSTOYANIE", "HOLATI"], priority=["PRIORITET", "PRIORITY", "MUHIMLIK"],
        title=["NAZVANIE", "ZAGOLOVOK", "SARLAVHA", "TITLE"],
        description=["OPISANIE", "TAVSIF", "DESCR", "DESCRIPTION"], address=_ADDRESS,
        reported_at=["DATA", "DATA_VREM", "SANA", "DATE", "REPORTED"],
        deadline=["SROK", "MUDDAT", "DEADLINE"], visibility=["VIDIMOST", "VISIBILITY"],
        district=_DISTRICT,
    ),
)

CAMERAS = Kind(
    name="cameras", table="camera", geometry="Point", key="code",
    fields=(
        Field("code", required=True, shp="KOD"),
        Field("name", shp="NAZVANIE"),
        Field("address", shp="ADRES"),
        Field("heading_deg", "float", min=0, max=359.999999, required=True, shp="AZIMUT"),
        Field("fov_deg", "float", min=0.000001, max=360, required=True, shp="UGOL"),
        Field("range_m", "float", min=0.000001, max=2000, required=True, shp="DALNOST"),
        Field("status", choices=CAMERA_STATUSES, shp="STATUS"),
        Field("stream_url", shp="POTOK"),
        Field("installed_on", "date", shp="DATA_UST"),
        Field("district", shp="RAYON"),
    ),
    presets=_presets(
        code=["KOD", "NOMER", "KOD_KAM", "CODE"], name=["NAZVANIE", "NAME", "NOMI"],
        address=_ADDRESS, heading_deg=["AZIMUT", "AZIMUTH", "NAPRAVL", "HEADING", "YONALISH"],
        fov_deg=["UGOL", "UGOL_OBZ", "FOV", "KORISH_BUR"],
        range_m=["DALNOST", "RADIUS", "RANGE", "MASOFA"], status=["STATUS", "SOSTOYANIE"],
        stream_url=["POTOK", "STREAM", "URL", "RTSP"], installed_on=["DATA_UST", "INSTALLED"],
        district=_DISTRICT,
    ),
)

KINDS: dict[str, Kind] = {k.name: k for k in (PARCELS, BUILDINGS, DISTRICTS, INCIDENTS, CAMERAS)}


def kind(name: str) -> Kind:
    """The :class:`Kind` called ``name`` or a clear error."""
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidInput(f"unknown kind {name!r}; use one of {', '.join(KINDS)}") from None


def read_mapping_file(path: str | Path, k: Kind
                      ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Read a YAML mapping file: ``{source field: model field}`` (at the top or under a
    ``fields:`` key) and, under ``values:``, ``{model field: {file value: code}}`` for the
    value-list fields (land_category, permitted_use, category)."""
    try:
        data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read mapping file {path}: {exc}") from exc
    vals = data.get("values") if isinstance(data, dict) else None
    if isinstance(data, dict) and isinstance(data.get("fields"), dict):
        data = data["fields"]
    elif isinstance(data, dict):
        data = {s: d for s, d in data.items() if s != "values"}
    if not isinstance(data, dict):
        raise InvalidInput(f"mapping file {path} must be a YAML mapping of source field: "
                           "model field")
    fields: dict[str, str] = {}
    for src, dst in data.items():
        if dst is None or dst in ("", "ignore", "skip"):
            fields[str(src)] = ""
            continue
        if dst not in k.names:
            raise InvalidInput(f"mapping file {path}: {dst!r} is not a {k.name} field; "
                               f"use one of {', '.join(k.names)}")
        fields[str(src)] = str(dst)
    if vals is None:
        return fields, {}
    if not isinstance(vals, dict) or not all(isinstance(v, dict) for v in vals.values()):
        raise InvalidInput(f"mapping file {path}: 'values:' must map a field to "
                           "{file value: code}, e.g. values: {permitted_use: {ИЖС: "
                           "individual_housing}}")
    values: dict[str, dict[str, str]] = {}
    for fld, m in vals.items():
        if fld not in k.names:
            raise InvalidInput(f"mapping file {path}: {fld!r} under values: is not a {k.name} "
                               f"field; use one of {', '.join(k.names)}")
        values[str(fld)] = {str(a): str(b) for a, b in m.items()}
    return fields, values


@dataclass
class FieldMap:
    """How the source's fields map to model fields, with what was left out."""

    mapped: dict[str, str]
    """source field → model field."""
    how: dict[str, str]
    """source field → ``mapping file`` | ``model name`` | ``preset``."""
    unknown: list[str]
    ignored: list[str]
    """Fields the database computes itself (id, area_m2, version...) or mapped to nothing."""


def resolve(k: Kind, source_fields: list[str], explicit: dict[str, str] | None = None
            ) -> FieldMap:
    """Decide the model field of every source field; one source per model field."""
    explicit_ci = {s.upper(): d for s, d in (explicit or {}).items()}
    names_ci = {n.upper(): n for n in k.names}
    mapped: dict[str, str] = {}
    how: dict[str, str] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    taken: set[str] = set()
    # Three passes so a field named exactly like a model field wins over a preset synonym.
    passes = [("mapping file", lambda s: explicit_ci.get(s.upper())),
              ("model name", lambda s: names_ci.get(s.upper())),
              ("preset", lambda s: k.presets.get(latin(s)))]
    for label, pick in passes:
        for src in source_fields:
            if src in mapped or src in ignored:
                continue
            dst = pick(src)
            if dst is None:
                continue
            if dst == "":
                ignored.append(src)
                continue
            if dst in taken:
                continue
            mapped[src] = dst
            how[src] = label
            taken.add(dst)
    for src in source_fields:
        if src in mapped or src in ignored:
            continue
        if src.lower() in COMPUTED:
            ignored.append(src)
        else:
            unknown.append(src)
    return FieldMap(mapped, how, unknown, ignored)
