"""Flask application factory: portal, notary, staff, situation, open311 and auth blueprints."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from cadastre_gis.errors import CadastreError
from cadastre_gis.settings import Settings

# One module per area; each exposes ``bp`` (a Blueprint). Areas not present yet are skipped,
# so each area can be added without touching this file.
BLUEPRINTS = [
    "web.auth", "web.health", "web.portal", "web.search", "web.my", "web.taxes",
    "web.staff", "web.notary", "web.extracts", "web.situation", "web.open311", "web.analytics",
    "web.ogc", "web.l10n", "web.report", "web.moderation",
]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    """Build the Flask app for ``settings`` (read from the environment when None)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        JSON_SORT_KEYS=False,
        CADASTRE_SETTINGS=settings,
    )
    app.config.update(config)
    app.extensions["cadastre_settings"] = settings

    from . import compression, i18n, metrics, proxy, security
    from . import db as web_db

    # First: Flask runs after_request handlers in reverse order of registration, so the
    # compressor runs last and every other handler sees the plain body.
    compression.init_app(app)
    proxy.init_app(app, settings)
    web_db.init_app(app)
    metrics.init_app(app)

    @app.before_request
    def _public_address() -> None:
        # Domain code (extract QR codes and verification URLs) reads it without Flask.
        from cadastre_gis import context

        from .urls import base_url, remember_request_base

        context.set_base_url(base_url())
        remember_request_base()

    i18n.init_app(app)
    security.init_app(app)

    for name in BLUEPRINTS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        if hasattr(mod, "init_app"):
            mod.init_app(app)
        elif hasattr(mod, "bp"):
            app.register_blueprint(mod.bp)

    @app.errorhandler(CadastreError)
    def _domain_error(exc: CadastreError):  # type: ignore[no-untyped-def]
        # the one adapter for domain errors: pages, JSON, OGC items and processes
        status = int(exc.http_status_code)
        if _wants_html():
            from flask import render_template

            return render_template("error.html", status=status, message=exc.message), status
        return jsonify(exc.to_dict()), status

    @app.route("/favicon.ico")
    def _favicon():  # type: ignore[no-untyped-def]
        return app.send_static_file("favicon.svg"), 200, {"Content-Type": "image/svg+xml"}

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if _wants_html():
            from flask import render_template

            return render_template("error.html", status=exc.code, message=exc.description), exc.code
        # keep the headers an HTTP error defines (405 carries Allow)
        extra = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return jsonify({"code": exc.name, "description": exc.description}), exc.code, extra

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"code": "ServerError", "description": "internal error"}), 500

    return app


def _wants_html() -> bool:
    if request.path.startswith(("/ogc", "/open311", "/api")):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] >= request.accept_mimetypes["application/json"]
