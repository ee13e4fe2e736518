"""Personal data kept out of public free text (PINFL, INN, phone numbers, e-mail addresses).

Public endpoints (Open311, OGC, portal, report tracking pages) show ``redact(text)``; the
operator sees the original. Issue "Hardening" owns and extends this module.
"""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),                       # e-mail
    re.compile(r"(?<!\d)\d{14}(?!\d)"),                                  # PINFL
    re.compile(r"(?<!\d)\d{9}(?!\d)"),                                   # INN / STIR
    re.compile(r"(?<![\w])\+?(?:998[\s-]?)?\(?\d{2}\)?[\s-]?\d{3}[\s-]?\d{2}[\s-]?\d{2}(?!\d)"),
]
MASK = "[…]"


def redact(text: str | None) -> str | None:
    """``text`` with personal-data patterns replaced by a mask."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return text
