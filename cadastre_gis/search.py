"""Public search: parcels by cadastral number (exact or prefix) or by address (typo-tolerant),
districts by name; Cyrillic input read in the registry's Latin script (:mod:`.translit`).

Numbers use the ``parcel_number`` (text_pattern_ops) index with a ``LIKE 'prefix%'``; addresses
use pg_trgm's word similarity (``<%`` operator, GIN index ``parcel_address_trgm``) with a
threshold, ranked by similarity. Answers carry public fields only — never owners or rights —
with the bounding box and a point on the parcel in CRS84 for the map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .cadastral import BUILDING_NUMBER, PARCEL_NUMBER
from .errors import InvalidInput, NotFound
from .translit import has_cyrillic, to_latin

MAX_LIMIT = 20
LANGS = ("en", "ru", "uz")
WORD_SIMILARITY_THRESHOLD = 0.45
DISTRICT_SIMILARITY = 0.5
# 10:09:03:01:01:0045 — a parcel; a building adds :GGGG. Prefixes: any leading part.
NUMBER_PREFIX = re.compile(r"^[0-9]{1,2}(:[0-9]{0,2}){0,4}(:[0-9]{0,4}){0,2}$")
# Apostrophes people type for the Uzbek Latin oʻ/gʻ, mapped to the one the registry uses.
APOSTROPHES = str.maketrans({"'": "ʻ", "‘": "ʻ", "’": "ʻ", "`": "ʻ", "ʼ": "ʻ"})
# Words in (nearly) every address: they match every row's trigrams, so the GIN index would
# hand back the whole table to re-check. Dropped from the query before matching (also in their
# transliterated Russian forms: ulitsa, dom, rayon).
STOPWORDS = re.compile(
    r"(?<!\w)(toshkent|tashkent|ташкент|sh|shahri|shahar|tumani|tuman|koʻchasi|koʻcha|kochasi|"
    r"kocha|kuchasi|uy|ul|ulitsa|улица|ул|дом|dom|д|d|район|rayon|rayoni|g|г|prospekt|"
    r"проспект|shoh|koʻch|kv|кв)(?!\w)\.?", re.IGNORECASE)


@dataclass(frozen=True)
class SearchQuery:
    """A checked search request."""

    q: str
    limit: int = 10
    lang: str = "en"

    @classmethod
    def parse(cls, q: str | None, limit: str | int | None = 10, lang: str = "en") -> SearchQuery:
        """Check the text (2..120 characters) and the limit (1..20)."""
        q = (q or "").strip()
        if len(q) < 2 or len(q) > 120:
            raise InvalidInput("the search text must have 2 to 120 characters")
        try:
            n = int(limit if limit not in (None, "") else 10)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInput("limit must be a whole number") from None
        if not 1 <= n <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
        return cls(q, n, lang if lang in LANGS else "en")


_PUBLIC = """
SELECT p.id, p.cadastral_number, p.address, p.area_m2, p.land_category, p.permitted_use,
       p.cadastral_value, d.name AS district,
       lc.name_{lang} AS land_category_name, pu.name_{lang} AS permitted_use_name,
       ST_XMin(e) AS minx, ST_YMin(e) AS miny, ST_XMax(e) AS maxx, ST_YMax(e) AS maxy,
       ST_X(c) AS lon, ST_Y(c) AS lat{extra}
  FROM parcel p
  LEFT JOIN district d ON d.id = p.district_id
  LEFT JOIN land_category lc ON lc.code = p.land_category
  LEFT JOIN permitted_use pu ON pu.code = p.permitted_use
  CROSS JOIN LATERAL (SELECT box2d(ST_Transform(p.geom, 4326)) AS e,
                             ST_Transform(ST_PointOnSurface(p.geom), 4326) AS c) g
"""


def _public(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "cadastral_number": m["cadastral_number"],
        "address": m["address"],
        "district": m["district"],
        "area_m2": float(m["area_m2"]) if m["area_m2"] is not None else None,
        "land_category": m["land_category"],
        "land_category_name": m["land_category_name"],
        "permitted_use": m["permitted_use"],
        "permitted_use_name": m["permitted_use_name"],
        "cadastral_value": float(m["cadastral_value"]) if m["cadastral_value"] is not None else None,
        "bbox": [round(m["minx"], 7), round(m["miny"], 7), round(m["maxx"], 7), round(m["maxy"], 7)],
        "centroid": [round(m["lon"], 7), round(m["lat"], 7)],
    }


def normalize_number(q: str) -> str:
    """Cadastral number input with spaces removed and dots/dashes read as colons."""
    return re.sub(r"\s+", "", q).replace(".", ":").replace("-", ":")


def address_words(q: str) -> str:
    """The distinctive words of an address query in Latin script (Cyrillic read as Latin,
    apostrophes unified, stopwords dropped)."""
    unified = to_latin(q).translate(APOSTROPHES)
    words = " ".join(STOPWORDS.sub(" ", unified).replace(",", " ").replace("-", " ").split())
    if len(words) < 2:
        raise InvalidInput("add a street name or a cadastral number to the search")
    return words


def districts(c: Connection, words: str) -> list[dict[str, Any]]:
    """Districts whose name (Latin or Russian) is one of the query's words, with their bbox."""
    rows = c.execute(text("""
        SELECT d.code, d.name, d.name_ru, greatest(word_similarity(d.name, :q),
                                                   word_similarity(coalesce(d.name_ru, ''), :q)) AS s,
               ST_XMin(e) AS minx, ST_YMin(e) AS miny, ST_XMax(e) AS maxx, ST_YMax(e) AS maxy
          FROM district d
          CROSS JOIN LATERAL (SELECT box2d(ST_Transform(d.geom, 4326)) AS e) g
         WHERE greatest(word_similarity(d.name, :q), word_similarity(coalesce(d.name_ru, ''), :q))
               >= :t
         ORDER BY s DESC, d.code LIMIT 3"""), {"q": words, "t": DISTRICT_SIMILARITY}).mappings()
    return [{"code": r["code"], "name": r["name"], "name_ru": r["name_ru"],
             "bbox": [round(r["minx"], 6), round(r["miny"], 6), round(r["maxx"], 6),
                      round(r["maxy"], 6)]} for r in rows]


def search(c: Connection, query: SearchQuery) -> dict[str, Any]:
    """Search active parcels by number (exact/prefix) or address (trigram word similarity)."""
    q, lang, limit = query.q, query.lang, query.limit
    num = normalize_number(q)
    if NUMBER_PREFIX.match(num):
        if BUILDING_NUMBER.match(num):
            # A building's number finds the parcel it stands on.
            rows = c.execute(text(_PUBLIC.format(lang=lang, extra="") + """
                 JOIN building b ON b.parcel_id = p.id AND b.status = 'active'
                WHERE b.cadastral_number = :n AND p.status = 'active' LIMIT 1"""), {"n": num})
            return {"query": q, "mode": "number", "results": [_public(r) for r in rows]}
        rows = c.execute(text(_PUBLIC.format(lang=lang, extra="") + """
             WHERE p.status = 'active' AND p.cadastral_number LIKE :prefix
             ORDER BY p.cadastral_number <> :n, p.cadastral_number
             LIMIT :lim"""), {"prefix": num + "%", "n": num, "lim": limit})
        return {"query": q, "mode": "number", "results": [_public(r) for r in rows]}
    words = address_words(q)
    numbers = re.findall(r"\d+", words)
    c.execute(text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"),
              {"t": str(WORD_SIMILARITY_THRESHOLD)})
    # The house number, when given, ranks its house first among equally similar streets.
    rows = c.execute(text(_PUBLIC.format(lang=lang, extra=", word_similarity(:q, p.address) AS score")
                          + """
         WHERE p.status = 'active' AND :q <% p.address
         ORDER BY word_similarity(:q, p.address) DESC,
                  (CAST(:house AS text) IS NOT NULL AND p.address ~ CAST(:house AS text)) DESC,
                  similarity(:q, p.address) DESC, p.cadastral_number
         LIMIT :lim"""), {"q": words, "lim": limit,
                          "house": rf"(^|\D){numbers[-1]}(\D|$)" if numbers else None})
    results = []
    for r in rows:
        item = _public(r)
        item["score"] = round(float(r._mapping["score"]), 3)
        results.append(item)
    out: dict[str, Any] = {"query": q, "mode": "address", "results": results,
                           "districts": districts(c, words)}
    if has_cyrillic(q):
        out["read_as"] = words
    return out


def parcel_card(c: Connection, number: str, lang: str = "en") -> dict[str, Any]:
    """Public card of an active parcel: its fields, buildings and geometry (CRS84)."""
    lang = lang if lang in LANGS else "en"
    num = normalize_number(number)
    if not PARCEL_NUMBER.match(num):
        raise InvalidInput("cadastral number must look like 10:09:03:01:01:0045")
    row = c.execute(text(_PUBLIC.format(
        lang=lang, extra=", ST_AsGeoJSON(ST_Transform(p.geom, 4326), 7)::json AS geometry")
        + " WHERE p.status = 'active' AND p.cadastral_number = :n"), {"n": num}).first()
    if row is None:
        raise NotFound(f"no active parcel {num}")
    card = _public(row)
    card["geometry"] = row._mapping["geometry"]
    card["buildings"] = [dict(b._mapping) | {
        "floor_area_m2": float(b.floor_area_m2) if b.floor_area_m2 is not None else None,
        "cadastral_value": float(b.cadastral_value) if b.cadastral_value is not None else None}
        for b in c.execute(text("""
            SELECT cadastral_number, building_use, floors, year_built, floor_area_m2,
                   cadastral_value
              FROM building WHERE parcel_id = :p AND status = 'active'
             ORDER BY cadastral_number"""), {"p": card["id"]})]
    return card
