"""A deterministic Tashkent-like demo city, generated with numpy/Shapely and loaded by COPY.

Same seed and same ``as_of`` date → byte-identical registry data. Geometry is built in the
storage CRS (EPSG:32642); district cells are Voronoi cells of the real district centres
clipped to a city outline. The database's own triggers check every row (formats, validity,
no overlaps), so the demo proves the rules as much as it fills the map.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.ops import voronoi_diagram
from sqlalchemy import text

from .db import copy_text, get_engine
from .errors import InvalidInput
from .schema import INCIDENT_STATUSES, SRID
from .settings import Settings
from .video import TEST_CLIP, make_test_clip

# (code, name, name_ru, lon, lat) — approximate centres from DESIGN.md.
DISTRICTS = [
    ("01", "Bektemir", "Бектемир", 69.335, 41.210),
    ("02", "Chilonzor", "Чиланзар", 69.205, 41.275),
    ("03", "Mirobod", "Мирабад", 69.275, 41.290),
    ("04", "Mirzo Ulugʻbek", "Мирзо-Улугбек", 69.335, 41.335),
    ("05", "Olmazor", "Алмазар", 69.215, 41.350),
    ("06", "Sergeli", "Сергели", 69.230, 41.225),
    ("07", "Shayxontohur", "Шайхантахур", 69.240, 41.320),
    ("08", "Uchtepa", "Учтепа", 69.175, 41.295),
    ("09", "Yakkasaroy", "Яккасарай", 69.250, 41.285),
    ("10", "Yangihayot", "Янгихаёт", 69.180, 41.230),
    ("11", "Yashnobod", "Яшнабад", 69.335, 41.290),
    ("12", "Yunusobod", "Юнусабад", 69.285, 41.365),
]
CITY_CENTRE = (69.2797, 41.3111)  # Amir Temur square

STREETS = [
    "Amir Temur", "Alisher Navoiy", "Bobur", "Mustaqillik", "Shota Rustaveli", "Bunyodkor",
    "Islom Karimov", "Abdulla Qodiriy", "Muqimiy", "Furqat", "Cho'lpon", "Oybek", "Gʻafur Gʻulom",
    "Mirzo Ulugʻbek", "Beruniy", "Ibn Sino", "Labzak", "Taras Shevchenko", "Yusuf Xos Hojib",
    "Nukus", "Qatortol", "Chilonzor", "Lutfiy", "Bogʻishamol", "Sebzor", "Kichik halqa yoʻli",
    "Farobiy", "Qorasaroy", "Zarqaynar", "Olmazor", "Shifokorlar", "Usmon Nosir", "Muqanna",
    "Bahor", "Nurafshon", "Sayram", "Yangi Sergeli", "Qoʻyliq", "Chimyon", "Parkent",
    "Buyuk Ipak Yoʻli", "Maxtumquli", "Sagʻbon", "Temur Malik", "Qumariq", "Gulobod", "Arnasoy",
    "Doʻrmon yoʻli", "Shahrisabz", "Afrosiyob",
]
FIRST_M = ["Aziz", "Bekzod", "Jamshid", "Sardor", "Rustam", "Otabek", "Doniyor", "Sherzod",
           "Ulugʻbek", "Farrux", "Akmal", "Javohir", "Nodir", "Bobur", "Dilshod", "Shoxrux",
           "Anvar", "Murod", "Ilhom", "Timur"]
FIRST_F = ["Dilnoza", "Malika", "Nilufar", "Gulnora", "Zarina", "Shahnoza", "Madina", "Kamola",
           "Feruza", "Mohira", "Sevara", "Nargiza", "Dildora", "Yulduz", "Lola", "Barno"]
SURNAMES = ["Karimov", "Rahimov", "Usmonov", "Yusupov", "Toshmatov", "Abdullayev", "Qodirov",
            "Ismoilov", "Saidov", "Nazarov", "Ergashev", "Mirzayev", "Xolmatov", "Rasulov",
            "Aliyev", "Hasanov", "Sobirov", "Tursunov", "Jurayev", "Mahmudov", "Sultonov",
            "Valiyev", "Zokirov", "Olimov"]
ORGS = ["Toshkent Qurilish", "Navoiy Savdo", "Samarqand Invest", "Oltin Vodiy", "Yangi Shahar",
        "Ipak Yoʻli Logistika", "Sharq Textile", "Mega Planet", "Chorsu Bozori", "Tashkent City",
        "Orient Group", "Uzbek Foods", "Artel Elektronika", "Akfa Build", "Korzinka Retail"]
BANKS = ["Ipoteka-bank ATIB", "Xalq banki AT", "Agrobank ATB", "Kapitalbank ATB",
         "Hamkorbank ATB", "Asaka bank AT", "Oʻzsanoatqurilishbank ATB", "Trastbank"]
COURTS = ["Toshkent shahar fuqarolik ishlari sudi", "Majburiy ijro byurosi Toshkent shahar boshqarmasi",
          "Davlat soliq qoʻmitasi Toshkent shahar boshqarmasi"]

CATEGORIES = [
    # code, en, ru, uz, priority (1 highest), deadline hours, public
    ("water", "Water supply outage", "Отключение водоснабжения", "Suv taʼminoti uzilishi", 2, 24, True),
    ("sewage", "Sewage overflow", "Авария канализации", "Kanalizatsiya avariyasi", 2, 24, True),
    ("heating", "Heating outage", "Отключение отопления", "Isitish uzilishi", 2, 12, True),
    ("power", "Power outage", "Отключение электроэнергии", "Elektr uzilishi", 1, 6, True),
    ("gas", "Gas leak or outage", "Утечка или отключение газа", "Gaz sizishi yoki uzilishi", 1, 4, True),
    ("road", "Road damage", "Повреждение дороги", "Yoʻl shikastlanishi", 3, 72, True),
    ("waste", "Waste not collected", "Невывоз мусора", "Chiqindi olib ketilmagan", 3, 48, True),
    ("lighting", "Street lighting", "Уличное освещение", "Koʻcha yoritilishi", 4, 72, True),
    ("urban_planning", "Urban-planning violation", "Нарушение градостроительства",
     "Shaharsozlik qoidabuzarligi", 3, 240, True),
    ("fire_safety", "Fire-safety violation", "Нарушение пожарной безопасности",
     "Yongʻin xavfsizligi buzilishi", 2, 72, True),
    ("emergency", "Emergency", "Чрезвычайная ситуация", "Favqulodda vaziyat", 1, 2, True),
    ("security", "Public order (internal)", "Общественный порядок (служебное)",
     "Jamoat tartibi (xizmat)", 2, 12, False),
]
SERVICES = [
    ("suvsoqova", "Toshkent shahar Suvsoqova", "Ташкентский городской Сувсоковa", "+998 71 200-00-01",
     ["water", "sewage"]),
    ("issiqlik", "Toshkent issiqlik markazi", "Ташкентский тепловой центр", "+998 71 200-00-02", ["heating"]),
    ("elektr", "Toshkent shahar hududiy elektr tarmoqlari", "Ташгорэлектросеть", "+998 71 200-00-03",
     ["power", "lighting"]),
    ("gaz", "Toshkent shahar Hududgaz", "Ташгоргаз", "+998 71 200-00-04", ["gas"]),
    ("obodon", "Obodonlashtirish boshqarmasi", "Управление благоустройства", "+998 71 200-00-05",
     ["road", "waste"]),
    ("qurilish", "Qurilish inspeksiyasi", "Инспекция по строительству", "+998 71 200-00-06",
     ["urban_planning"]),
    ("fvv", "Favqulodda vaziyatlar boshqarmasi", "Управление по чрезвычайным ситуациям",
     "+998 71 200-00-07", ["fire_safety", "emergency"]),
    ("iiv", "Ichki ishlar boshqarmasi", "Управление внутренних дел", "+998 71 200-00-08", ["security"]),
]
STATUSES = list(INCIDENT_STATUSES)

DEMO_PASSWORDS = {
    "admin": "admin-demo-2026",
    "registrar": "registrar-demo-2026",
    "notary": "notary-demo-2026",
    "operator": "operator-demo-2026",
    "citizen": "citizen-demo-2026",
}


@dataclass
class Block:
    """One city block (in the district's rotated frame)."""

    district: int
    i: int
    j: int
    dist: float


def _to_utm() -> Transformer:
    return Transformer.from_crs("EPSG:4326", f"EPSG:{SRID}", always_xy=True)


def city_outline() -> Polygon:
    """A fixed, slightly irregular outline of the city in EPSG:32642."""
    tr = _to_utm()
    cx, cy = tr.transform(69.28, 41.295)
    pts = []
    for k in range(72):
        t = 2 * math.pi * k / 72
        r = 1.0 + 0.06 * math.sin(3 * t) + 0.04 * math.cos(5 * t + 0.7)
        pts.append((cx + 12800 * r * math.cos(t), cy + 11800 * r * math.sin(t)))
    return Polygon(pts)


def district_polygons() -> list[Polygon]:
    """Voronoi cells of the district centres clipped to the city outline (deterministic)."""
    tr = _to_utm()
    outline = city_outline()
    centres = [Point(*tr.transform(lon, lat)) for _c, _n, _r, lon, lat in DISTRICTS]
    cells = voronoi_diagram(MultiPoint(centres), envelope=outline.buffer(5000))
    out = []
    for c in centres:
        cell = next(g for g in cells.geoms if g.contains(c))
        out.append(shapely.set_precision(cell.intersection(outline), 0.01))
    return out


def is_empty(settings: Settings) -> bool:
    """True when the database has no parcels (and so ``up`` generates the demo)."""
    with get_engine(settings).connect() as c:
        return not c.execute(text("SELECT EXISTS (SELECT 1 FROM parcel)")).scalar()


def _rects(cx: np.ndarray, cy: np.ndarray, hw: np.ndarray, hh: np.ndarray, theta: float,
           ox: float, oy: float) -> np.ndarray:
    """Corner coordinates (n, 5, 2) of rectangles given in a frame rotated by ``theta``."""
    ct, st = math.cos(theta), math.sin(theta)
    du = np.stack([-hw, hw, hw, -hw, -hw], axis=1)
    dv = np.stack([-hh, -hh, hh, hh, -hh], axis=1)
    u = cx[:, None] + du
    v = cy[:, None] + dv
    x = ox + u * ct - v * st
    y = oy + u * st + v * ct
    return np.stack([x, y], axis=2)


AVENUES = {"Amir Temur", "Mustaqillik", "Bunyodkor", "Islom Karimov", "Shota Rustaveli",
           "Buyuk Ipak Yoʻli", "Alisher Navoiy", "Kichik halqa yoʻli"}


def _street_ru() -> dict[str, str]:
    """Russian names of the demo streets (from the search exonym table), else the Uzbek one."""
    from .translit import EXONYMS

    out: dict[str, str] = {}
    for ru, uz in EXONYMS.items():
        if uz in STREETS and uz not in out:
            out[uz] = " ".join(w[:1].upper() + w[1:] for w in ru.split(" "))
    return out


def _streets(cur: Any, att: np.ndarray, thetas: list[float], centres: list[tuple[float, float]],
             pu: float, pv: float, dpolys: list[Any], say: Callable[[str], None]) -> None:
    """Centre lines of the streets between the blocks of each district, named the way the
    parcels' addresses are (a block row's lower parcels front the street below it)."""
    if not _has_table(cur, "street"):
        return
    ru = _street_ru()
    rows = []
    d_idx, bi, bj = att[:, 0], att[:, 1], att[:, 2]
    for d, poly in enumerate(dpolys):
        sel = d_idx == d
        if not sel.any():
            continue
        blocks = set(zip(bi[sel].tolist(), bj[sel].tolist(), strict=True))
        ct, st = math.cos(thetas[d]), math.sin(thetas[d])
        ox, oy = centres[d]

        def line(u0: float, v0: float, u1: float, v1: float, ox: float = ox, oy: float = oy,
                 ct: float = ct, st: float = st) -> Any:
            return shapely.LineString([(ox + u0 * ct - v0 * st, oy + u0 * st + v0 * ct),
                                       (ox + u1 * ct - v1 * st, oy + u1 * st + v1 * ct)])

        js = sorted({j for _i, j in blocks})
        for j in range(js[0] - 1, js[-1] + 1):  # the line between block rows j and j+1
            cols = [i for i, jj in blocks if jj in (j, j + 1)]
            if len(cols) < 2:
                continue
            name = STREETS[((j + 1) * 7 + d * 13) % len(STREETS)]
            geom = line(min(cols) * pu - pu / 2, (j + 0.5) * pv, max(cols) * pu + pu / 2,
                        (j + 0.5) * pv).intersection(poly)
            rows.append((name, ru.get(name, name), "avenue" if name in AVENUES else "street",
                         d + 1, geom))
        iset = sorted({i for i, _j in blocks})
        for i in range(iset[0] - 1, iset[-1] + 1):  # cross streets between block columns
            rws = [j for ii, j in blocks if ii in (i, i + 1)]
            if len(rws) < 2:
                continue
            name = STREETS[(i * 11 + d * 5 + 3) % len(STREETS)]
            geom = line((i + 0.5) * pu, min(rws) * pv - pv / 2, (i + 0.5) * pu,
                        max(rws) * pv + pv / 2).intersection(poly)
            rows.append((name, ru.get(name, name), "lane", d + 1, geom))
    out = []
    for name, name_ru, kind, district, geom in rows:
        parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "LineString"
                 and not g.is_empty and g.length > 1]
        if parts:
            mls = shapely.MultiLineString(parts)
            out.append((name, name_ru, kind, district, _hexwkb(np.array([mls]))[0]))
    _copy(cur, "street", ["name", "name_ru", "kind", "district_id", "geom"], out)
    say(f"streets: {len(out)} named centre lines")


def _has_table(cur: Any, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    return bool(cur.fetchone()[0])


def _pinfl(rng: np.random.Generator, n: int) -> list[str]:
    """Plausible 14-digit PINFLs: gender/century digit, ddmmyy, region, sequence, check."""
    out = []
    seen: set[str] = set()
    days = rng.integers(1, 29, n)
    months = rng.integers(1, 13, n)
    years = rng.integers(45, 100 + 5, n)
    g = rng.integers(0, 2, n)
    for k in range(n):
        while True:
            yy = int(years[k]) % 100
            century = 3 if years[k] < 100 else 5
            first = century + int(g[k])
            body = f"{first}{int(days[k]):02d}{int(months[k]):02d}{yy:02d}{int(rng.integers(0, 1000)):03d}{int(rng.integers(0, 1000)):03d}"
            w = [7, 3, 1] * 5
            check = sum(int(ch) * w[i] for i, ch in enumerate(body)) % 10
            p = body + str(check)
            if p not in seen:
                seen.add(p)
                out.append(p)
                break
    return out


def _copy(cur: Any, table: str, columns: list[str], rows: list[tuple]) -> None:
    buf = io.StringIO()
    for r in rows:
        buf.write("\t".join(copy_text(v) for v in r))
        buf.write("\n")
    buf.seek(0)
    cols = ", ".join(f'"{c}"' for c in columns)
    cur.copy_expert(f'COPY "{table}" ({cols}) FROM STDIN', buf)


def _hexwkb(geoms: np.ndarray) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, SRID), hex=True, include_srid=True)


def generate(settings: Settings, parcels: int = 20000, seed: int = 42, force: bool = False,
             as_of: date | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Build the demo city; refuses to touch a non-empty database unless ``force``."""
    import time

    t0 = time.monotonic()
    out = progress or (lambda _m: None)

    def say(msg: str) -> None:
        out(f"[{time.monotonic() - t0:6.1f}s] {msg}")

    if parcels < 100 or parcels > 2_000_000:
        raise InvalidInput("--parcels must be between 100 and 2 000 000")
    as_of = as_of or datetime.now(UTC).date()
    now = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    rng = np.random.default_rng(seed)
    engine = get_engine(settings)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT EXISTS (SELECT 1 FROM parcel)")
        if cur.fetchone()[0]:
            if not force:
                raise InvalidInput("the database already has parcels; use --force to replace them")
            say("removing existing data")
            cur.execute(
                'TRUNCATE login_attempt, api_token, account, incident_event, incident, camera, '
                'service_area, service, incident_category, audit_log, right_history, '
                'building_history, parcel_history, parcel_lineage, "right", building, parcel, '
                'registry_transaction, source_document, party, district RESTART IDENTITY CASCADE')
        cur.execute("SELECT set_config('cadastre.actor', 'demo', true)")
        summary = _build(cur, rng, parcels, now, say)
        say("committing")
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    with engine.begin() as c:
        _accounts(c, settings)
    # the demo cameras' video (made once; without ffmpeg they just show "unavailable")
    if make_test_clip(settings.data_path) is not None:
        say(f"camera test clip: {settings.data_path / TEST_CLIP}")
    with engine.connect() as c:
        c.execution_options(isolation_level="AUTOCOMMIT").execute(
            text('ANALYZE parcel; ANALYZE building; ANALYZE "right"; ANALYZE incident;'))
    return summary


def _build(cur: Any, rng: np.random.Generator, n_parcels: int, now: datetime,
           say: Callable[[str], None]) -> dict[str, int]:
    tr = _to_utm()
    dpolys = district_polygons()
    say(f"districts: {len(dpolys)}")
    _copy(cur, "district", ["id", "code", "name", "name_ru", "population", "geom"], [
        (k + 1, code, name, ru, int(150000 + rng.integers(0, 200000)),
         shapely.to_wkb(shapely.set_srid(shapely.MultiPolygon([p]), SRID), hex=True,
                        include_srid=True))
        for k, ((code, name, ru, _lon, _lat), p) in enumerate(zip(DISTRICTS, dpolys, strict=True))
    ])

    # ---- parcels -------------------------------------------------------------------------
    total_area = sum(p.area for p in dpolys)
    base_pitch_u, base_pitch_v = 140.0, 100.0  # block 120 x 80 m + 20 m streets
    mean_cols = 6.0
    per_parcel = base_pitch_u * base_pitch_v / (2 * mean_cols)
    f = min(1.0, math.sqrt(0.55 * total_area / (n_parcels * per_parcel)))
    pu, pv = base_pitch_u * f, base_pitch_v * f
    street = 20.0 * f
    quotas = np.floor(n_parcels * np.array([p.area for p in dpolys]) / total_area).astype(int)
    quotas[np.argmax(quotas)] += n_parcels - quotas.sum()

    all_corners = []
    attrs: list[tuple[int, int, int, int, int, int, int]] = []  # district, i, j, row, col, kind, ncols
    centres_xy = [tr.transform(lon, lat) for *_x, lon, lat in DISTRICTS]
    carry = 0
    thetas = []
    for d, poly in enumerate(dpolys):
        quota = int(quotas[d]) + carry
        theta = math.radians(float(rng.uniform(-25, 25)))
        thetas.append(theta)
        ox, oy = centres_xy[d]
        inner = poly.buffer(-street)
        minx, miny, maxx, maxy = poly.bounds
        reach = math.hypot(maxx - minx, maxy - miny)
        ni, nj = int(reach / pu) + 2, int(reach / pv) + 2
        ii, jj = np.meshgrid(np.arange(-ni, ni + 1), np.arange(-nj, nj + 1), indexing="ij")
        ii, jj = ii.ravel(), jj.ravel()
        dist = np.hypot(ii * pu, jj * pv)
        order = np.lexsort((jj, ii, dist))
        ii, jj = ii[order], jj[order]
        # Keep blocks whose four corners lie inside the district interior (cells are convex).
        bc = _rects(ii * pu, jj * pv, np.full(ii.shape, (pu - street) / 2),
                    np.full(ii.shape, (pv - street) / 2), theta, ox, oy)
        inside = np.ones(len(ii), bool)
        for k in range(4):
            inside &= shapely.contains_xy(inner, bc[:, k, 0], bc[:, k, 1])
        ii, jj = ii[inside], jj[inside]
        taken = 0
        kinds = rng.random(len(ii))
        cols_choice = rng.integers(4, 9, len(ii))
        for b in range(len(ii)):
            if taken >= quota:
                break
            kind = 0 if kinds[b] < 0.82 else (1 if kinds[b] < 0.94 else 2)  # houses/apartments/public
            if kind == 0:
                rows, ncols = 2, int(cols_choice[b])
            elif kind == 1:
                rows, ncols = 1, 2
            else:
                rows, ncols = 1, 1
            bw, bh = pu - street, pv - street
            pw, ph = bw / ncols, bh / rows
            n_here = min(rows * ncols, quota - taken)
            k = np.arange(n_here)
            r, c = k // ncols, k % ncols
            cx = ii[b] * pu - bw / 2 + (c + 0.5) * pw
            cy = jj[b] * pv - bh / 2 + (r + 0.5) * ph
            corners = _rects(cx, cy, np.full(n_here, pw / 2 - 0.5), np.full(n_here, ph / 2 - 0.5),
                             theta, ox, oy)
            all_corners.append(corners)
            for q in range(n_here):
                attrs.append((d, int(ii[b]), int(jj[b]), int(r[q]), int(c[q]), kind, ncols))
            taken += n_here
        carry = quota - taken
    if carry > 0:
        raise InvalidInput(f"the city has no room for {n_parcels} parcels at this density")
    corners = np.concatenate(all_corners)
    n = len(corners)
    polys = shapely.polygons(corners)
    say(f"parcels: {n} (blocks {pu - street:.0f} x {pv - street:.0f} m)")

    att = np.array(attrs, dtype=np.int64)
    d_idx, bi, bj, prow, pcol, kind = att[:, 0], att[:, 1], att[:, 2], att[:, 3], att[:, 4], att[:, 5]
    cx_all = corners[:, :4, 0].mean(axis=1)
    cy_all = corners[:, :4, 1].mean(axis=1)
    centre_x, centre_y = tr.transform(*CITY_CENTRE)
    ring = np.minimum(99, 1 + np.hypot(cx_all - centre_x, cy_all - centre_y) // 3000).astype(int)
    massiv = (bi // 6 + 50).clip(1, 99)
    mavze = (bj // 6 + 50).clip(1, 99)
    numbers: list[str] = []
    counters: dict[tuple[int, int, int, int], int] = {}
    for k in range(n):
        key = (int(d_idx[k]), int(ring[k]), int(massiv[k]), int(mavze[k]))
        counters[key] = counters.get(key, 0) + 1
        numbers.append(f"10:{DISTRICTS[key[0]][0]}:{key[1]:02d}:{key[2]:02d}:{key[3]:02d}:"
                       f"{counters[key]:04d}")
    street_idx = (bj * 7 + d_idx * 13 + prow) % len(STREETS)
    house_no = (bi * 8 + pcol) % 180 + 1
    areas = shapely.area(polys)
    rate = 2_500_000 / np.maximum(1.0, ring) ** 0.7  # UZS per m², higher in the centre
    value = np.round(areas * rate * rng.uniform(0.8, 1.25, n), -3)
    use_codes = np.where(kind == 0, "individual_housing",
                         np.where(kind == 1, "multi_apartment", "public"))
    special = rng.random(n)
    use_codes = np.where((kind == 0) & (special < 0.08), "commercial", use_codes)
    use_codes = np.where((kind == 0) & (special > 0.97), "office", use_codes)
    use_codes = np.where((kind == 2) & (special < 0.3), "recreation", use_codes)
    category = np.where(use_codes == "recreation", "conservation", "settlement")
    category = np.where((kind == 0) & (special > 0.955) & (special <= 0.97), "agricultural", category)
    use_codes = np.where(category == "agricultural", "agriculture", use_codes)
    declared = np.round(areas * rng.uniform(0.985, 1.015, n), 0)
    reg_days = rng.integers(0, 365 * 15, n)
    reg_dates = [now - timedelta(days=int(365 * 16 - x)) for x in reg_days]
    hex_geoms = _hexwkb(shapely.multipolygons(polys[:, None]))
    history_pick = rng.random(n)
    # re-valued 3 years after registration — only where that date is already in the past
    revalued = ((history_pick >= 0.03) & (history_pick < 0.06)
                & (reg_days <= 365 * 13 - 60))  # reg date = as_of - (16 y - reg_days)

    cur.execute("INSERT INTO source_document (kind, number, issued_on, issuer, title) VALUES "
                "('demo', 'DEMO-1', %s, 'cadastre-gis demo', 'Demo city generation') RETURNING id",
                (now.date(),))
    doc_id = cur.fetchone()[0]
    cur.execute("INSERT INTO registry_transaction (kind, source_document_id, actor, created_at,"
                " note) VALUES ('demo', %s, 'demo', %s, 'demo city') RETURNING id", (doc_id, now))
    tx_id = cur.fetchone()[0]

    rows = []
    for k in range(n):
        st = STREETS[int(street_idx[k])]
        addr = f"Toshkent sh., {DISTRICTS[int(d_idx[k])][1]} tumani, {st} koʻchasi, {int(house_no[k])}-uy"
        since = reg_dates[k] + timedelta(days=3 * 365) if revalued[k] else reg_dates[k]
        rows.append((k + 1, numbers[k], int(d_idx[k]) + 1, addr, category[k], use_codes[k],
                     f"{declared[k]:.0f}", f"{value[k]:.2f}", "active",
                     2 if revalued[k] else 1, since.isoformat(),
                     tx_id, reg_dates[k].isoformat(), "demo", hex_geoms[k]))
    say("loading parcels (checked by the database: format, validity, overlaps)")
    # A trigram GIN index is ~5x cheaper to build once than to maintain row by row.
    cur.execute("DROP INDEX IF EXISTS parcel_address_trgm")
    _copy(cur, "parcel", ["id", "cadastral_number", "district_id", "address", "land_category",
                          "permitted_use", "declared_area_m2", "cadastral_value", "status",
                          "version", "valid_from", "transaction_id", "updated_at", "updated_by",
                          "geom"], rows)
    del rows
    cur.execute("CREATE INDEX parcel_address_trgm ON parcel USING gin (address gin_trgm_ops)")
    cur.execute("ANALYZE parcel")  # fresh statistics for the checks of the next loads

    # ---- buildings inside parcels ---------------------------------------------------------
    nb = np.where(kind == 0, rng.choice([0, 1, 1, 1, 1, 1, 2, 2, 3], n), 1)
    b_rows = []
    pw_all = np.hypot(corners[:, 1, 0] - corners[:, 0, 0], corners[:, 1, 1] - corners[:, 0, 1])
    ph_all = np.hypot(corners[:, 3, 0] - corners[:, 0, 0], corners[:, 3, 1] - corners[:, 0, 1])
    # One row per building: parcel index ks and position qs (0 = main house), vectorised.
    ks = np.repeat(np.arange(n), nb)
    starts = np.cumsum(nb) - nb
    qs = np.arange(len(ks)) - np.repeat(starts, nb)
    bid = len(ks)
    pw, ph = pw_all[ks], ph_all[ks]
    front = np.where(prow[ks] == 0, 1.0, -1.0)
    main = qs == 0
    house = kind[ks] == 0
    w = np.where(main, pw * np.where(house, 0.55, 0.6), pw * 0.22)
    h = np.where(main, ph * np.where(house, 0.45, 0.5), ph * 0.15)
    u0 = np.where(main, 0.0, np.where(qs == 1, -1.0, 1.0) * pw * 0.28)
    v0 = np.where(main, ph * 0.12 * front, -ph * 0.3 * front)
    th = np.array(thetas)[d_idx[ks]]
    b_corners = _rects(u0, v0, w / 2, h / 2, 0.0, 0.0, 0.0)  # local frame, then per-row rotation
    bx = cx_all[ks][:, None] + b_corners[:, :, 0] * np.cos(th)[:, None] - b_corners[:, :, 1] * np.sin(th)[:, None]
    by = cy_all[ks][:, None] + b_corners[:, :, 0] * np.sin(th)[:, None] + b_corners[:, :, 1] * np.cos(th)[:, None]
    b_meta = list(zip(range(1, bid + 1), ks.tolist(), qs.tolist(), strict=True))
    b_polys = shapely.polygons(np.stack([bx, by], axis=2)) if bid else np.array([])
    b_hex = _hexwkb(shapely.multipolygons(b_polys[:, None])) if bid else []
    floors = rng.choice([1, 1, 1, 2, 2, 3], bid)
    years = rng.integers(1950, 2025, bid)
    b_areas = shapely.area(b_polys) if bid else np.array([])
    for (b, k, q), g, fl, yr in zip(b_meta, b_hex, floors, years, strict=True):
        use = "residential" if kind[k] == 0 else ("apartment" if kind[k] == 1 else "public")
        if q > 0:
            use = "garage" if q == 1 else "other"
        fl_ = int(fl) if kind[k] == 0 else int(4 + (int(fl) * 3) % 13)
        if q > 0:
            fl_ = 1
        area = round(float(b_areas[b - 1]) * fl_ * 0.85, 2)
        b_rows.append((b, f"{numbers[k]}:{q + 1:04d}", k + 1, int(d_idx[k]) + 1,
                       f"Toshkent sh., {STREETS[int(street_idx[k])]} koʻchasi, {int(house_no[k])}-uy",
                       use, fl_, int(yr), f"{area:.2f}", f"{round(area * 4_000_000, -3):.2f}",
                       "active", 1, reg_dates[k].isoformat(), tx_id, reg_dates[k].isoformat(),
                       "demo", g))
    say(f"buildings: {bid}")
    _copy(cur, "building", ["id", "cadastral_number", "parcel_id", "district_id", "address",
                            "building_use", "floors", "year_built", "floor_area_m2",
                            "cadastral_value", "status", "version", "valid_from", "transaction_id",
                            "updated_at", "updated_by", "geom"], b_rows)
    cur.execute("ANALYZE building")
    del b_rows

    # ---- named streets: centre lines between the blocks ------------------------------------
    _streets(cur, att, thetas, centres_xy, pu, pv, dpolys, say)

    # ---- parties and rights -------------------------------------------------------------
    n_persons = max(50, int(n * 0.9))
    pinfls = _pinfl(rng, n_persons)
    gender = rng.integers(0, 2, n_persons)
    fi = rng.integers(0, 100, n_persons)
    si = rng.integers(0, len(SURNAMES), n_persons)
    pi_ = rng.integers(0, len(FIRST_M), n_persons)
    party_rows = []
    for k in range(n_persons):
        sur = SURNAMES[int(si[k])]
        father = FIRST_M[int(pi_[k])]
        if gender[k]:
            name = f"{sur}a {FIRST_F[int(fi[k]) % len(FIRST_F)]} {father} qizi"
        else:
            name = f"{sur} {FIRST_M[int(fi[k]) % len(FIRST_M)]} {father} oʻgʻli"
        party_rows.append((k + 1, "person", name, pinfls[k], None,
                           f"+998 9{int(rng.integers(0, 10))} {int(rng.integers(100, 1000))}-"
                           f"{int(rng.integers(10, 100))}-{int(rng.integers(10, 100))}"))
    n_orgs = max(10, n // 50)
    for k in range(n_orgs):
        party_rows.append((n_persons + k + 1, "organization",
                           f"“{ORGS[k % len(ORGS)]}{'' if k < len(ORGS) else ' ' + str(k // len(ORGS) + 1)}” MChJ",
                           None, f"{300000000 + k * 7919 % 600000000:09d}", None))
    banks_start = n_persons + n_orgs + 1
    for k, bank in enumerate(BANKS):
        party_rows.append((banks_start + k, "organization", bank, None, f"{200000100 + k:09d}", None))
    state_id = banks_start + len(BANKS)
    party_rows.append((state_id, "state", "Toshkent shahar hokimligi", None, "201122919", None))
    courts_start = state_id + 1
    for k, court in enumerate(COURTS):
        party_rows.append((courts_start + k, "state", court, None, f"{201500000 + k:09d}", None))
    _copy(cur, "party", ["id", "kind", "full_name", "pinfl", "inn", "phone"], party_rows)
    cur.execute("ANALYZE party")
    say(f"parties: {len(party_rows)}")

    owner_draw = rng.random(n)
    person_ids = rng.permutation(n_persons) + 1
    extra = rng.integers(1, n_persons + 1, (n, 2))
    r_rows = []
    rid = 0

    def add(kind_: str, party: int | None, parcel: int | None, building: int | None,
            num: int | None, den: int | None, holder: str | None, amount: str | None,
            start: datetime, status: str = "active", end: datetime | None = None,
            reg: str | None = None) -> None:
        nonlocal rid
        rid += 1
        r_rows.append((rid, kind_, party, parcel, building, num, den, holder, amount, reg,
                       start.date().isoformat(), end.date().isoformat() if end else None, status,
                       doc_id, 1, start.isoformat(), end.isoformat() if end else None, tx_id,
                       start.isoformat(), "demo"))

    first_building: dict[int, int] = {}
    for b, k, q in b_meta:
        if q == 0:
            first_building[k] = b
    enc = rng.random(n)
    for k in range(n):
        pid = k + 1
        start = reg_dates[k]
        o = owner_draw[k]
        if kind[k] == 2 and use_codes[k] in ("public", "recreation"):
            owners = [(state_id, 1, 1)]
        elif o < 0.75:
            owners = [(int(person_ids[k % n_persons]), 1, 1)]
        elif o < 0.90:
            owners = [(int(person_ids[k % n_persons]), 1, 2), (int(extra[k, 0]), 1, 2)]
        elif o < 0.96:
            a, b2 = int(extra[k, 0]), int(extra[k, 1])
            owners = [(int(person_ids[k % n_persons]), 1, 3), (a, 1, 3), (b2, 1, 3)]
        else:
            owners = [(n_persons + 1 + k % n_orgs, 1, 1)]
        # de-duplicate a party drawn twice for the same parcel
        seen: dict[int, list[int]] = {}
        for p_, nu, de in owners:
            if p_ in seen:
                seen[p_][0] += nu
            else:
                seen[p_] = [nu, de]
        if history_pick[k] < 0.03:
            # An earlier owner sold the parcel: ended right, visible to as-of queries.
            prev = int(extra[k, 1])
            sold = start + timedelta(days=int(200 + (k * 37) % 2000))
            if sold < now - timedelta(days=30):
                add("ownership", prev, pid, None, 1, 1, None, None, start, "ended", sold, None)
                start = sold
        for p_, (nu, de) in seen.items():
            add("ownership", p_, pid, None, nu, de, None, None, start)
            if k in first_building:
                add("ownership", p_, None, first_building[k], nu, de, None, None, start)
        e = enc[k]
        if e < 0.04:
            add("mortgage", banks_start + k % len(BANKS), pid, None, None, None,
                BANKS[k % len(BANKS)], f"{float(round(value[k] * 0.5, -3)):.2f}",
                start + timedelta(days=30), reg=f"IP-{k:07d}")
        elif e < 0.05:
            add("arrest", courts_start + k % len(COURTS), pid, None, None, None,
                COURTS[k % len(COURTS)], None, now - timedelta(days=int(10 + k % 300)),
                reg=f"AR-{k:07d}")
        elif e < 0.08 and kind[k] != 0:
            add("lease", n_persons + 1 + k % n_orgs, pid, None, None, None, None,
                f"{float(round(value[k] * 0.02, -3)):.2f}", start + timedelta(days=60),
                reg=f"IJ-{k:07d}")
        elif e < 0.09:
            add("servitude", state_id, pid, None, None, None, "Suvsoqova: suv quvuri", None,
                start + timedelta(days=90), reg=f"SV-{k:07d}")
    say(f"rights: {rid}")
    _copy(cur, "right", ["id", "kind", "party_id", "parcel_id", "building_id", "share_num",
                         "share_den", "holder", "amount_uzs", "registration_number", "starts_on",
                         "ends_on", "status", "source_document_id", "version", "valid_from",
                         "valid_to", "transaction_id", "updated_at", "updated_by"], r_rows)
    r_rows.clear()

    # ---- history and lineage: earlier versions, splits and merges ------------------------
    hist_rows = []
    lin_rows = []
    retired_rows = []
    next_pid = n + 1
    lid = 0
    for k in range(n):
        h = history_pick[k]
        if revalued[k]:
            # an earlier valuation: version 1 in the history, version 2 current
            hist_rows.append(k)
        elif 0.06 <= h < 0.08 and pcol[k] % 2 == 0 and k + 1 < n and d_idx[k + 1] == d_idx[k] \
                and bi[k + 1] == bi[k] and bj[k + 1] == bj[k] and prow[k + 1] == prow[k]:
            # split: a retired parent covering this parcel and its neighbour
            parent = shapely.convex_hull(shapely.union(polys[k], polys[k + 1]))
            retired_rows.append((next_pid, k, parent, "split", [k, k + 1]))
            next_pid += 1
        elif 0.08 <= h < 0.09:
            # merge: two retired parents (halves of this parcel) became this one
            c = corners[k]
            mid_a = (c[0] + c[1]) / 2
            mid_b = (c[3] + c[2]) / 2
            left = Polygon([c[0], mid_a, mid_b, c[3]])
            right = Polygon([mid_a, c[1], c[2], mid_b])
            for half in (left, right):
                retired_rows.append((next_pid, k, half, "merge", [k]))
                next_pid += 1
    # version 1 of re-valued parcels: the same parcel with its earlier valuation
    if hist_rows:
        cur.execute(
            "INSERT INTO parcel_history SELECT (jsonb_populate_record(NULL::parcel_history,"
            " to_jsonb(p) || jsonb_build_object('cadastral_value', round(p.cadastral_value * 0.7, -3),"
            " 'version', 1, 'valid_from', p.valid_from - interval '1095 days',"
            " 'valid_to', p.valid_from, 'operation', 'U',"
            " 'changed_at', p.valid_from, 'changed_by', 'demo',"
            " 'history_id', nextval('parcel_history_history_id_seq')))).*"
            " FROM parcel p WHERE p.id = ANY(%s) ORDER BY p.id", ([k + 1 for k in hist_rows],))
    if retired_rows:
        rows = []
        for pid, k, geom, _kind, _children in retired_rows:
            born = reg_dates[k] - timedelta(days=int(400 + pid % 2000))
            code = DISTRICTS[int(d_idx[k])][0]
            parts = numbers[k].split(":")
            num = f"10:{code}:{parts[2]}:{parts[3]}:{parts[4]}:{9999 - (pid % 5000):04d}"
            g = shapely.to_wkb(shapely.set_srid(shapely.MultiPolygon([geom]), SRID), hex=True,
                               include_srid=True)
            rows.append((pid, num, int(d_idx[k]) + 1, f"(tarixiy) {numbers[k]}", "settlement",
                         "individual_housing", f"{float(round(geom.area * 1_500_000, -3)):.2f}",
                         "retired", 1, born.isoformat(), reg_dates[k].isoformat(), tx_id,
                         reg_dates[k].isoformat(), "demo", g))
        _copy(cur, "parcel", ["id", "cadastral_number", "district_id", "address", "land_category",
                              "permitted_use", "cadastral_value", "status", "version",
                              "valid_from", "valid_to", "transaction_id", "updated_at",
                              "updated_by", "geom"], rows)
        for pid, k, _g, kind_, children in retired_rows:
            for ch in children:
                lid += 1
                lin_rows.append((lid, pid, ch + 1, kind_, tx_id, reg_dates[k].isoformat()))
        _copy(cur, "parcel_lineage", ["id", "parent_id", "child_id", "kind", "transaction_id",
                                      "created_at"], lin_rows)
    say(f"history: {len(hist_rows)} earlier versions, {len(retired_rows)} retired parents, "
        f"{lid} lineage links")

    # ---- services, categories, incidents, cameras --------------------------------------
    _copy(cur, "incident_category", ["code", "name_en", "name_ru", "name_uz", "default_priority",
                                     "deadline_hours", "public"],
          [(c, en, ru, uz, p, h, "t" if pub else "f") for c, en, ru, uz, p, h, pub in CATEGORIES])
    _copy(cur, "service", ["id", "code", "name", "name_ru", "phone"],
          [(k + 1, code, name, ru, phone) for k, (code, name, ru, phone, _c) in enumerate(SERVICES)])
    sa_rows = []
    said = 0
    for k, (_code, _n, _r, _p, cats) in enumerate(SERVICES):
        for cat in cats:
            said += 1
            sa_rows.append((said, k + 1, cat, None))
    # district branches of the landscaping service
    obodon = [k for k, s in enumerate(SERVICES) if s[0] == "obodon"][0] + 1
    for d in range(len(DISTRICTS)):
        said += 1
        code, name = DISTRICTS[d][0], DISTRICTS[d][1]
        sa_rows.append((said, len(SERVICES) + d + 1, "waste", d + 1))
    _copy(cur, "service", ["id", "code", "name", "name_ru", "phone"],
          [(len(SERVICES) + d + 1, f"obodon-{DISTRICTS[d][0]}",
            f"{DISTRICTS[d][1]} tumani obodonlashtirish boʻlimi", None, f"+998 71 201-00-{d + 10:02d}")
           for d in range(len(DISTRICTS))])
    _copy(cur, "service_area", ["id", "service_id", "category", "district_id"], sa_rows)
    _ = obodon

    n_inc = 2000 if n >= 5000 else max(50, n // 10)
    pick = rng.integers(0, n, n_inc)
    # Within half a street of the parcel centre: parcels lie a full street inside their
    # district, so every incident stays inside its district (and the city).
    jitter = np.clip(rng.normal(0, 15, (n_inc, 2)), -street / 2, street / 2)
    cat_idx = rng.choice(len(CATEGORIES), n_inc,
                         p=np.array([14, 8, 10, 14, 6, 12, 12, 8, 6, 4, 2, 4]) / 100)
    ages = rng.uniform(0, 90 * 24, n_inc)  # hours before as-of
    st_draw = rng.random(n_inc)
    inc_rows = []
    for k in range(n_inc):
        code, _en, _ru, uz, prio, hours, pub = CATEGORIES[int(cat_idx[k])]
        at = now - timedelta(hours=float(ages[k]))
        recent = ages[k] < 72
        s = st_draw[k]
        if recent:
            status = STATUSES[min(4, int(s * 5))]
        else:
            status = "closed" if s < 0.7 else ("resolved" if s < 0.85 else
                                               ("rejected" if s < 0.9 else
                                                ("in_progress" if s < 0.97 else "duplicate")))
        resolved = (at + timedelta(hours=float(hours) * float(0.3 + s))).isoformat() \
            if status in ("resolved", "closed") else None
        x = cx_all[pick[k]] + jitter[k, 0]
        y = cy_all[pick[k]] + jitter[k, 1]
        inc_rows.append((k + 1, code, status, prio, f"{uz}", None, None, "demo",
                         "public" if pub else "internal", f"Fuqaro {k + 1}",
                         f"+998 90 {100 + k % 900:03d}-{k % 100:02d}-{(k * 7) % 100:02d}",
                         at.isoformat(), resolved, resolved if status == "closed" else None,
                         (at + timedelta(minutes=5)).isoformat(),
                         f"SRID={SRID};POINT({x:.2f} {y:.2f})"))
    _copy(cur, "incident", ["id", "category", "status", "priority", "title", "description",
                            "address", "source", "visibility", "reporter_name", "reporter_phone",
                            "reported_at", "resolved_at", "closed_at", "updated_at", "geom"],
          inc_rows)
    # The database enriched each incident on insert (district, parcel, building, service,
    # priority, deadline) and wrote its "created" event (migration 0007); the demo adds the
    # status changes its incidents went through.
    cur.execute("""
        INSERT INTO incident_event (incident_id, at, actor, kind, from_status, to_status, note)
        SELECT id, reported_at + interval '20 minutes', 'demo', 'status', 'new', status, 'demo'
          FROM incident WHERE status <> 'new' ORDER BY id""")
    say(f"incidents: {n_inc}")

    n_cam = 500 if n >= 5000 else max(20, n // 40)
    cam_pick = rng.integers(0, n, n_cam)
    heading = rng.uniform(0, 360, n_cam)
    fov = rng.choice([60.0, 75.0, 90.0, 110.0, 120.0], n_cam)
    rng_m = rng.choice([50.0, 80.0, 100.0, 150.0], n_cam)
    cam_status = rng.random(n_cam)
    cam_rows = []
    for k in range(n_cam):
        x = corners[cam_pick[k], 0, 0] - 3.0
        y = corners[cam_pick[k], 0, 1] - 3.0
        st = "online" if cam_status[k] < 0.9 else ("offline" if cam_status[k] < 0.97 else "maintenance")
        cam_rows.append((k + 1, f"CAM-{k + 1:04d}", f"Kamera {k + 1}",
                         int(d_idx[cam_pick[k]]) + 1, f"{heading[k]:.1f}", f"{fov[k]:.0f}",
                         f"{rng_m[k]:.0f}", st,
                         # every other demo camera plays the test clip (offline video)
                         TEST_CLIP if k % 2 == 0 else
                         f"rtsp://video.internal/cam/{k + 1:04d}?token=demo-{seed_token(k)}",
                         (now - timedelta(minutes=int(k % 5 if st == 'online' else 600))).isoformat(),
                         f"SRID={SRID};POINT({x:.2f} {y:.2f})"))
    _copy(cur, "camera", ["id", "code", "name", "district_id", "heading_deg", "fov_deg", "range_m",
                          "status", "stream_url", "last_heartbeat", "geom"], cam_rows)
    say(f"cameras: {n_cam}")

    for table in ("district", "party", "parcel", "building", "right", "parcel_lineage", "incident",
                  "incident_event", "camera", "service", "service_area", "source_document",
                  "registry_transaction", "parcel_history"):
        seq_col = "history_id" if table == "parcel_history" else "id"
        cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{seq_col}'),"
                    f" greatest(1, (SELECT max({seq_col}) FROM \"{table}\")))")
    return {"districts": len(DISTRICTS), "parcels": n, "retired": len(retired_rows),
            "buildings": bid, "parties": len(party_rows), "rights": rid,
            "incidents": n_inc, "cameras": n_cam}


def seed_token(k: int) -> str:
    """A fake per-camera stream secret (private data that must never leave publicly)."""
    return f"{(k * 2654435761) % 10**10:010d}"


def _accounts(conn: Any, settings: Settings) -> None:
    """One account per role (README lists them); the citizen owns demo property."""
    from .accounts import add_user

    if conn.execute(text("SELECT count(*) FROM account")).scalar():
        return
    pinfl = conn.execute(text(
        "SELECT p.pinfl FROM party p JOIN \"right\" r ON r.party_id = p.id"
        " WHERE r.kind = 'ownership' AND r.status = 'active' AND p.kind = 'person'"
        "   AND r.parcel_id IS NOT NULL AND r.share_den = 2"
        " ORDER BY p.id LIMIT 1")).scalar()
    if pinfl is None:
        pinfl = conn.execute(text("SELECT pinfl FROM party WHERE pinfl IS NOT NULL ORDER BY id"
                                  " LIMIT 1")).scalar()
    yakkasaroy = conn.execute(text("SELECT code FROM district WHERE code = '09'")).scalar()
    for role, pw in DEMO_PASSWORDS.items():
        add_user(settings, role, role, pw,
                 districts=[yakkasaroy] if role == "registrar" and yakkasaroy else [],
                 pinfl=pinfl if role == "citizen" else None,
                 full_name={"admin": "Administrator", "registrar": "Registrator (Yakkasaroy)",
                            "notary": "Notarius", "operator": "Operator",
                            "citizen": "Fuqaro"}[role], conn=conn)
