"""Languages: Uzbek (Latin), Russian and English, chosen by ?lang=, a cookie or the browser."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask_babel import Babel

LANGUAGES = {"uz": "Oʻzbekcha", "ru": "Русский", "en": "English"}
DEFAULT = "uz"


def select_locale() -> str:
    """Pick the request's language."""
    lang = request.args.get("lang") or request.cookies.get("lang")
    if lang in LANGUAGES:
        return lang
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT


def init_app(app: Flask) -> None:
    """Attach Flask-Babel and remember an explicit ?lang= choice in a cookie."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    # Every time a person reads is Tashkent time (UTC+5, no DST); storage stays timestamptz.
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Tashkent")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES",
                          str(Path(__file__).parent / "translations"))
    Babel(app, locale_selector=select_locale)

    @app.after_request
    def _remember(resp):  # type: ignore[no-untyped-def]
        lang = request.args.get("lang")
        if lang in LANGUAGES and request.cookies.get("lang") != lang:
            resp.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="Lax")
        return resp

    @app.context_processor
    def _langs():  # type: ignore[no-untyped-def]
        return {"LANGUAGES": LANGUAGES, "current_lang": select_locale()}
