"""One number, currency and date format per language (Babel), times in Asia/Tashkent.

Template filters: ``when`` (date and time), ``day`` (date), ``num`` (grouped number),
``money`` (UZS). The same functions are used by the views that format text themselves.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_date, format_datetime
from babel.dates import get_timezone as babel_timezone
from babel.numbers import format_decimal
from flask import Flask
from flask_babel import get_locale, get_timezone

TIMEZONE = "Asia/Tashkent"
DATETIME = {"uz": "dd.MM.yyyy, HH:mm", "ru": "dd.MM.yyyy, HH:mm", "en": "d MMM yyyy, HH:mm"}
DATE = {"uz": "dd.MM.yyyy", "ru": "dd.MM.yyyy", "en": "d MMM yyyy"}
CURRENCY = {"uz": "soʻm", "ru": "сум", "en": "UZS"}


def _tz() -> Any:
    return get_timezone() or babel_timezone(TIMEZONE)


def lang() -> str:
    """The request's language code (uz, ru or en)."""
    loc = str(get_locale() or "uz")[:2]
    return loc if loc in DATE else "uz"


def when(v: datetime | str | None) -> str:
    """Date and time in Tashkent, in the request's language (e.g. 03.12.2026, 16:29)."""
    if v is None or v == "":
        return "—"
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return format_datetime(v, DATETIME[lang()], tzinfo=_tz(), locale=lang())


def day(v: date | datetime | str | None) -> str:
    """A date in the request's language."""
    if v is None or v == "":
        return "—"
    if isinstance(v, str):
        v = date.fromisoformat(v[:10])
    if isinstance(v, datetime):
        return format_datetime(v, DATE[lang()], tzinfo=_tz(), locale=lang())
    return format_date(v, DATE[lang()], locale=lang())


def num(v: float | int | Decimal | None, digits: int = 0) -> str:
    """A number with the language's grouping and decimal sign."""
    if v is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(v, format=pattern, locale=lang())


def money(v: float | int | Decimal | None) -> str:
    """An amount in UZS: whole sums, grouped, with the currency name of the language."""
    if v is None:
        return "—"
    return f"{num(round(Decimal(str(v))))}\u00a0{CURRENCY[lang()]}"


def init_app(app: Flask) -> None:
    """Register the filters."""
    filters: dict[str, Any] = {"when": when, "day": day, "num": num, "money": money}
    app.jinja_env.filters.update(filters)
    app.jinja_env.globals["format_money"] = money
