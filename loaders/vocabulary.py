"""File values → registry codes: value lists (land category, permitted use, building use,
incident category) and districts, as agencies write them.

The official names come from the reference tables (``code, name_en, name_ru, name_uz,
aliases``); nothing here lists words. A value is compared, in order of confidence:

1. exactly (case, ё/е, apostrophe kinds, punctuation and spacing aside) with a code, an
   official name, an alias from the table or the mapping file's ``values:``;
2. word by word in another grammatical form: Russian words by their lemmas (pymorphy3:
   "Земля населённого пункта" = "Земли населённых пунктов"; conjunctions and prepositions
   skipped), Uzbek and English words — and Cyrillic Uzbek transliterated to Latin — by a
   shared stem (one word a prefix of the other, or differing only in the last two letters:
   "yerlari"/"yerlar", "Office"/"Offices");
3. as an official name shortened to its first words ("Земли промышленности" for "Земли
   промышленности, транспорта, связи…"), when only one entry of the list starts so.

Several entries at the best level is ambiguous and so is no entry: the record is rejected
with the candidates or the closest known names.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# Every way an Uzbek oʻ/gʻ or a tutuq belgisi (ʼ) is typed.
_APOSTROPHES = "ʻʼ'‘’`´ʹʽ"
_FOLD = str.maketrans({**{a: "" for a in _APOSTROPHES}, "ё": "е"})

# Cyrillic (Russian and Uzbek letters) → Uzbek Latin orthography, so that "Яккасарой",
# "Yakkasaroy", "Қишлоқ хўжалиги" and "Qishloq xoʻjaligi" meet. A letter table, not a word list.
_CYR = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "j", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "x", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "ў": "o",
    "қ": "q", "ғ": "g", "ҳ": "h"}
_VOWELS = set("аеёиоуыэюяў")
_CYRILLIC = re.compile(r"[а-яёўқғҳ]")
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Exact-comparison key: lower case, ё → е, apostrophes dropped, punctuation → space."""
    t = unicodedata.normalize("NFC", str(text)).lower().translate(_FOLD)
    return " ".join(_WORD.findall(t))


def _latin_word(w: str) -> str:
    out = []
    for i, ch in enumerate(w):
        if ch == "е" and (i == 0 or w[i - 1] in _VOWELS):
            out.append("ye")  # Uzbek: "ер" is "yer", Russian "Мирзоев" -> "mirzoyev"
        else:
            out.append(_CYR.get(ch, ch))
    # One spelling for the sounds Latin writes several ways (Shaykhantahur / Shayxontohur /
    # Шайхантахур, zh/j).
    return "".join(out).replace("kh", "h").replace("x", "h").replace("zh", "j")


def latin_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` in Latin letters (Cyrillic transliterated, see :data:`_CYR`)."""
    return tuple(_latin_word(w) for w in fold(text).split())


@lru_cache(maxsize=1)
def _morph() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


# Parts of speech that carry no meaning in a list entry ("и", "с", "для").
_SKIP_POS = frozenset({"CONJ", "PREP", "PRCL"})


@lru_cache(maxsize=20_000)
def _lemmas(word: str) -> frozenset[str] | None:
    """All normal forms of a Russian word (None: a function word, to be skipped)."""
    parses = _morph().parse(word)
    if parses and parses[0].tag.POS in _SKIP_POS:
        return None
    return frozenset(p.normal_form.replace("ё", "е") for p in parses) | {word}


def russian_words(text: str) -> tuple[frozenset[str], ...]:
    """Lemma sets of the Cyrillic words of ``text`` (function words skipped)."""
    out = []
    for w in fold(text).split():
        if _CYRILLIC.search(w):
            lem = _lemmas(w)
            if lem is not None:
                out.append(lem)
        else:
            out.append(frozenset({w}))
    return tuple(out)


def same_stem(a: str, b: str) -> bool:
    """Latin words of one stem: equal, one a prefix (≥ 3 letters) of the other, or sharing
    all but the last two letters of the shorter (≥ 4) — plural and case endings."""
    if a == b:
        return True
    s, lg = (a, b) if len(a) <= len(b) else (b, a)
    if len(s) >= 3 and lg.startswith(s):
        return True
    n = 0
    for x, y in zip(s, lg, strict=False):
        if x != y:
            break
        n += 1
    return n >= 4 and n >= len(s) - 2


def _seq(given: tuple[Any, ...], name: tuple[Any, ...], eq: Any) -> str | None:
    """How ``given`` matches ``name`` word by word: 'form', 'short' (a prefix of it),
    'long' (it followed by other words) or None."""
    if not given or not name:
        return None
    k = min(len(given), len(name))
    if not all(eq(given[i], name[i]) for i in range(k)):
        return None
    if len(given) == len(name):
        return "form"
    return "short" if len(given) < len(name) else "long"


def _ru_eq(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a & b)


@dataclass
class Entry:
    """One entry of a list: its code and every name it is known by."""

    code: str
    names: list[str]
    aliases: list[str] = field(default_factory=list)
    label: str = ""


class Vocabulary:
    """One value list (or the districts) and the rules to find an entry by a file's wording."""

    def __init__(self, what: str, entries: Iterable[Entry], *, allow_long: bool = False,
                 extra: dict[str, str] | None = None) -> None:
        """``extra``: the mapping file's ``{wording: code}`` (exact). ``allow_long``: a name
        followed by other words matches too ("Yakkasaroy tumani", "Яккасарайский район")."""
        self.what = what
        self.entries = list(entries)
        self.allow_long = allow_long
        self.exact: dict[str, set[str]] = {}
        for e in self.entries:
            for nm in (e.code, *e.names, *e.aliases):
                if nm:
                    self.exact.setdefault(fold(nm), set()).add(e.code)
        for given, code in (extra or {}).items():
            self.exact[fold(given)] = {code}
        self._ru = [(e.code, russian_words(n)) for e in self.entries for n in e.names
                    if n and _CYRILLIC.search(n.lower())]
        self._lat = [(e.code, latin_words(n)) for e in self.entries for n in e.names if n]
        self.labels = {e.code: e.label or e.code for e in self.entries}
        self._memo: dict[str, tuple[str | None, str | None]] = {}

    @property
    def codes(self) -> set[str]:
        """Every code of the list."""
        return {e.code for e in self.entries}

    def match(self, value: Any) -> tuple[str | None, str | None]:
        """(code, None) when ``value`` names one entry; (None, reason) otherwise."""
        key = str(value).strip()
        if key not in self._memo:
            self._memo[key] = self._match(key)
        return self._memo[key]

    def _match(self, value: str) -> tuple[str | None, str | None]:
        hit = self.exact.get(fold(value))
        if hit is not None and len(hit) == 1:
            return next(iter(hit)), None
        ranks: dict[str, set[str]] = {"form": set(), "short": set(), "long": set()}
        if _CYRILLIC.search(value.lower()):
            given_ru = russian_words(value)
            for code, words in self._ru:
                how = _seq(given_ru, words, _ru_eq)
                if how:
                    ranks[how].add(code)
        given_lat = latin_words(value)
        for code, words in self._lat:
            how = _seq(given_lat, words, same_stem)
            if how:
                ranks[how].add(code)
        order = ("form", "short", "long") if self.allow_long else ("form", "short")
        for how in order:
            codes = ranks[how]
            if len(codes) == 1:
                return next(iter(codes)), None
            if len(codes) > 1:
                return None, (f"{self.what} {value!r} is ambiguous: it could be "
                              f"{self._names(sorted(codes))}")
        return None, f"unknown {self.what} {value!r}{self.closest(value)}"

    def _names(self, codes: list[str]) -> str:
        return ", ".join(f"{self.labels[c]} ({c})" if self.labels[c] != c else c for c in codes)

    def closest(self, value: str) -> str:
        """'; closest: …' naming the nearest known names (or listing the codes)."""
        pool: dict[str, tuple[str, str]] = {}
        for e in self.entries:
            for nm in (*e.names, *e.aliases):
                if nm:
                    pool.setdefault(fold(nm), (nm, e.code))
        near = difflib.get_close_matches(fold(value), list(pool), n=3, cutoff=0.5)
        if near:
            return "; closest: " + ", ".join(f"{pool[k][0]!r} ({pool[k][1]})" for k in near)
        known = sorted(self.codes)
        if self.allow_long:  # districts: the names say more than the codes
            return "; known: " + ", ".join(f"{c} {self.labels[c]}" for c in known)
        return "; known: " + ", ".join(known)


def value_list(what: str, rows: Iterable[tuple[Any, ...]], extra: dict[str, str] | None = None
               ) -> Vocabulary:
    """A value list from reference rows ``(code, name_en, name_ru, name_uz, aliases)``."""
    entries = [Entry(code=code, names=[n for n in (en, ru, uz) if n], aliases=list(al or ()),
                     label=ru or en or code)
               for code, en, ru, uz, al in rows]
    return Vocabulary(what, entries, extra=extra)


def districts(rows: Iterable[dict[str, Any]]) -> Vocabulary:
    """The districts by name (uz, ru, or English — a Latin spelling of either) and code."""
    entries = [Entry(code=d["code"], names=[n for n in (d.get("name"), d.get("name_ru"),
                                                        d.get("name_en")) if n],
                     label=str(d.get("name") or d["code"]))
               for d in rows]
    return Vocabulary("district", entries, allow_long=True)


_CODE = re.compile(r"(?:(\d{1,2})\s*[:./-]\s*)?(\d{1,2})")


def district_code(value: Any, vocab: Vocabulary, region: str) -> tuple[str | None, str | None]:
    """The district code a file gives as ``BB``, ``AA:BB`` (AA the region) or a name.

    Returns (code, None) or (None, reason).
    """
    v = str(value).strip()
    m = _CODE.fullmatch(v)
    if m is None:
        return vocab.match(v)
    aa, bb = m.group(1), m.group(2).zfill(2)
    if aa is not None and aa.zfill(2) != region:
        return None, (f"district {v!r}: region {aa.zfill(2)} is not this registry's region "
                      f"{region} (write {region}:{bb} or {bb})")
    if bb not in vocab.codes:
        return None, (f"unknown district code {bb} in {v!r} (known: "
                      f"{', '.join(sorted(vocab.codes))})")
    return bb, None
