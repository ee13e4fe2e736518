"""Personal data kept out of public free text (PINFL, INN, phone numbers, e-mail addresses).

Public endpoints (Open311, OGC, portal, report tracking pages) show ``redact(text)``; the
operator sees the original. The database holds the same patterns in ``cadastre_redact(text)``
(migration 0010), which fills ``incident.public_description`` on every write path (Open311,
dashboard, QGIS, psql); ``tests/web/test_security_moderation.py`` keeps the two in step.
"""

from __future__ import annotations

import re

# Order matters: e-mail first (its digits are not a phone), phones (with the +998 country
# code, spaces, dashes, dots or brackets) before bare digit runs, then PINFL (14 digits) and
# INN/STIR (9 digits) as whole digit runs only.
_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),                                 # e-mail
    re.compile(r"(?<![\d+])(?:\+?998[\s().-]*)?\(?\d{2}\)?[\s.-]*\d{3}[\s.-]*\d{2}[\s.-]*\d{2}"
               r"(?!\d)"),                                                       # phone
    re.compile(r"(?<!\d)\d{14}(?!\d)"),                                          # PINFL
    re.compile(r"(?<!\d)\d{9}(?!\d)"),                                           # INN / STIR
]
MASK = "[…]"


def redact(text: str | None) -> str | None:
    """``text`` with personal-data patterns replaced by a mask."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text


def has_personal_data(text: str | None) -> bool:
    """Whether ``text`` holds anything :func:`redact` would mask."""
    return bool(text) and redact(text) != text
