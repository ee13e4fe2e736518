"""PINFL, the 14-digit personal identification number of an individual in Uzbekistan.

Structure: ``C DDMMYY RRR NNN K`` — C gives sex and century of birth (1/2: 1800s, 3/4:
1900s, 5/6: 2000s; odd male, even female), DDMMYY the birth date, RRR the code of the
issuing district, NNN a serial number, K a check digit. We check what can be checked
without the civil registry: digits, the century digit and a real, past birth date. (The
check digit's algorithm is not published officially, so it is not enforced here.)
"""

from __future__ import annotations

import re
from datetime import date

from .errors import InvalidInput

_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}


def birth_date(pinfl: str) -> date | None:
    """The birth date a PINFL encodes, or None when it is not a plausible PINFL."""
    if not isinstance(pinfl, str) or not re.fullmatch(r"[0-9]{14}", pinfl):
        return None
    century = _CENTURY.get(pinfl[0])
    if century is None:
        return None
    try:
        return date(century + int(pinfl[5:7]), int(pinfl[3:5]), int(pinfl[1:3]))
    except ValueError:
        return None


def check_pinfl(pinfl: str, today: date) -> str:
    """Return the PINFL or raise InvalidInput saying what is wrong with it (``today``: the
    registry's clock, so a birth date is judged on the same day the registry keeps)."""
    p = (pinfl or "").strip() if isinstance(pinfl, str) else ""
    if not re.fullmatch(r"[0-9]{14}", p):
        raise InvalidInput("PINFL must be 14 digits")
    if p[0] not in _CENTURY:
        raise InvalidInput(f"PINFL {p}: the first digit (sex and century of birth) must be 1-6")
    born = birth_date(p)
    if born is None:
        raise InvalidInput(f"PINFL {p}: digits 2-7 must be a birth date DDMMYY")
    if born > today:
        raise InvalidInput(f"PINFL {p}: the birth date {born.isoformat()} is in the future")
    return p
