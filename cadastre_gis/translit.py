"""Cyrillic search input read in the registry's Latin script.

Two steps, both tested: (1) the Russian names people actually type for Tashkent's districts
and common streets (Навои, Чиланзар, Юнусабад…) replaced by their Uzbek Latin form, word by
word, including Russian endings (Навои → Navoiy, Чиланзарская → Chilonzor); (2) what remains,
Uzbek Cyrillic (Навоий, Чилонзор, Ғафур Ғулом) or any other Russian word, transliterated by
the official Uzbek Cyrillic → Latin table (1995 alphabet, ʻ for oʻ/gʻ). Trigram matching
then absorbs what transliteration cannot know (a Russian "а" for an Uzbek "o").

No library fits: ``transliterate`` has no Uzbek pack and the Uzbek converters on PyPI are
unmaintained one-offs, so the table lives here with its tests.
"""

from __future__ import annotations

import re

# Russian exonyms → Uzbek Latin. Keys are lower-case stems: a word starting with a key is
# replaced whole (Чиланзарский, Бабура). Multi-word keys first (longest match wins).
EXONYMS: dict[str, str] = {
    # the 12 districts
    "бектемир": "Bektemir", "чиланзар": "Chilonzor", "мирабад": "Mirobod",
    "мирзо-улугбек": "Mirzo Ulugʻbek", "мирзо улугбек": "Mirzo Ulugʻbek",
    "мирзоулугбек": "Mirzo Ulugʻbek", "улугбек": "Ulugʻbek", "алмазар": "Olmazor",
    "сергели": "Sergeli", "шайхантахур": "Shayxontohur", "шайхантаур": "Shayxontohur",
    "учтепин": "Uchtepa", "учтепа": "Uchtepa", "яккасарай": "Yakkasaroy",
    "янгихаят": "Yangihayot", "янгихаёт": "Yangihayot", "яшнабад": "Yashnobod",
    "юнусабад": "Yunusobod", "юнус-абад": "Yunusobod",
    # common streets and places (Russian usage → registry spelling)
    "алишера навои": "Alisher Navoiy", "навои": "Navoiy", "амира темура": "Amir Temur",
    "амир темур": "Amir Temur", "бабур": "Bobur", "мустакиллик": "Mustaqillik",
    "шота руставели": "Shota Rustaveli", "руставели": "Rustaveli", "бунёдкор": "Bunyodkor",
    "бунедкор": "Bunyodkor", "ислама каримова": "Islom Karimov", "ислам каримов": "Islom Karimov",
    "абдуллы кадыри": "Abdulla Qodiriy", "абдулла кадыри": "Abdulla Qodiriy", "кадыри": "Qodiriy",
    "мукими": "Muqimiy", "фуркат": "Furqat", "чулпан": "Choʻlpon", "айбек": "Oybek",
    "гафура гуляма": "Gʻafur Gʻulom", "гафур гулям": "Gʻafur Gʻulom", "беруни": "Beruniy",
    "ибн сины": "Ibn Sino", "ибн сино": "Ibn Sino", "лабзак": "Labzak",
    "тараса шевченко": "Taras Shevchenko", "шевченко": "Shevchenko",
    "юсуфа хос хожиба": "Yusuf Xos Hojib", "нукус": "Nukus", "катартал": "Qatortol",
    "лутфи": "Lutfiy", "богишамал": "Bogʻishamol", "себзар": "Sebzor",
    "малая кольцевая": "Kichik halqa yoʻli", "фараби": "Farobiy", "карасарай": "Qorasaroy",
    "заркайнар": "Zarqaynar", "шифокорлар": "Shifokorlar", "усмана насыра": "Usmon Nosir",
    "усмана носира": "Usmon Nosir", "муканна": "Muqanna", "бахор": "Bahor",
    "нурафшан": "Nurafshon", "сайрам": "Sayram", "куйлюк": "Qoʻyliq", "чимган": "Chimyon",
    "паркент": "Parkent", "шелковый путь": "Buyuk Ipak Yoʻli",
    "великий шелковый путь": "Buyuk Ipak Yoʻli", "махтумкули": "Maxtumquli", "сагбан": "Sagʻbon",
    "темур малик": "Temur Malik", "кумарык": "Qumariq", "гулабад": "Gulobod",
    "арнасай": "Arnasoy", "дурмен": "Doʻrmon yoʻli", "шахрисабз": "Shahrisabz",
    "афрасиаб": "Afrosiyob", "ташкент": "Toshkent",
}

# Uzbek Cyrillic → Latin (official table); Russian-only letters read the Uzbek way.
_TABLE = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "j", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "x", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "sh", "ъ": "ʼ", "ы": "i", "ь": "", "э": "e", "ю": "yu", "я": "ya", "ў": "oʻ",
    "қ": "q", "ғ": "gʻ", "ҳ": "h",
}
_VOWELS = set("аеёиоуўэюяы")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_EXONYM_RE = re.compile(
    r"(?<![\w\u0400-\u04ff])(" + "|".join(
        re.escape(k).replace(r"\ ", r"\s+") for k in sorted(EXONYMS, key=len, reverse=True))
    + r")[\u0400-\u04ff]*", re.IGNORECASE)


def has_cyrillic(s: str) -> bool:
    """True when ``s`` contains a Cyrillic letter."""
    return bool(_CYRILLIC.search(s))


def _letter(prev: str, ch: str) -> str:
    low = ch.lower()
    if low == "е" and (not prev or prev.lower() in _VOWELS or prev.lower() in "ъь"
                       or not prev.isalpha()):
        out = "ye"  # word-initial or after a vowel: Ереван → Yerevan
    else:
        out = _TABLE.get(low, ch)
    if ch != low and out:
        return out[0].upper() + out[1:]
    return out


def transliterate(s: str) -> str:
    """Uzbek (or Russian) Cyrillic letters of ``s`` in the Uzbek Latin alphabet."""
    out = []
    prev = ""
    for ch in s:
        out.append(_letter(prev, ch))
        prev = ch
    return "".join(out)


def exonyms(s: str) -> str:
    """Russian names of districts and streets in ``s`` replaced by their Uzbek Latin form."""
    def sub(m: re.Match[str]) -> str:
        key = re.sub(r"\s+", " ", m.group(1).lower())
        return EXONYMS.get(key, m.group(0))

    return _EXONYM_RE.sub(sub, s)


def to_latin(s: str) -> str:
    """Search input in the registry's script: exonyms first, then transliteration."""
    if not has_cyrillic(s):
        return s
    return transliterate(exonyms(s))
