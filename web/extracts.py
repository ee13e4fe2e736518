"""Public verification of extracts: status page, upload check, public keys. No personal data."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, render_template, request

from cadastre_gis import extracts, keys
from cadastre_gis.errors import InvalidInput, NotFound

from .db import conn, settings
from .formats import prefers_html

bp = Blueprint("extracts", __name__, url_prefix="/extracts")

MAX_UPLOAD = 20 * 1024 * 1024
EXECUTION_PATH = "/ogc/processes/parcel-extract/execution"


def init_app(app: Flask) -> None:
    """Register the blueprint and log extract requests refused before the process runs."""
    app.register_blueprint(bp)

    @app.after_request
    def _log_refused(resp: Response) -> Response:
        # web/ogc.py refuses anonymous (401) and wrong-role (403) callers before pygeoapi;
        # the process logs everything else, so together every request is in the log.
        if request.path == EXECUTION_PATH and resp.status_code in (401, 403):
            try:
                body = request.get_json(silent=True, force=True) or {}
                inputs = body.get("inputs", {}) if isinstance(body, dict) else {}
                inputs = inputs if isinstance(inputs, dict) else {}
                from .db import engine

                with engine().begin() as c:
                    extracts.log_request(
                        c, account=g.get("account"), cadastral_number=inputs.get("cadastral_number"),
                        outcome="denied", case_number=inputs.get("case_number"),
                        purpose=inputs.get("purpose"), fmt=inputs.get("format"),
                        detail=f"HTTP {resp.status_code}", remote_addr=request.remote_addr)
            except Exception:  # noqa: BLE001 - logging must never break the response
                app.logger.exception("could not log a refused extract request")
        return resp


@bp.route("/keys")
def jwks() -> Response:
    """Every public key that ever signed an extract (JWKS-like), current first."""
    resp = jsonify(keys.store(settings()).jwks())
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.route("/public-key.pem")
@bp.route("/keys/<kid>.pem")
def public_key_pem(kid: str | None = None) -> Response:
    """The current public key (or one by key id) as PEM."""
    store = keys.store(settings())
    if kid is None:
        pub = store.current().public
    else:
        found = store.public_key(kid)
        if found is None:
            raise NotFound("no such key")
        pub = found
    return Response(keys.public_pem(pub), mimetype="application/x-pem-file",
                    headers={"Cache-Control": "public, max-age=300"})


def _signature_from_form() -> Any:
    raw = None
    if "signature" in request.files and request.files["signature"].filename:
        raw = request.files["signature"].read(64 * 1024).decode("utf-8", "replace")
    elif request.form.get("signature"):
        raw = request.form["signature"]
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return json.loads(raw) if raw.startswith("{") else raw
    except ValueError:
        return raw


def _check_upload() -> dict[str, Any]:
    """Read the upload (JSON document, JSON + signature, or PDF) and verify it."""
    c = conn()
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("send a JSON object: {extract, signature}")
        if "extract" in body:
            return extracts.verify_document(c, settings(), body.get("extract"), body.get("signature"))
        return extracts.verify_document(c, settings(), body, request.headers.get("X-Extract-Signature"))
    if request.mimetype == "application/pdf":
        data = request.get_data()
        return extracts.verify_pdf(c, settings(), data)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("upload the extract as 'file' (JSON or PDF)")
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput("the file is larger than 20 MB")
    if data.startswith(b"%PDF"):
        return extracts.verify_pdf(c, settings(), data)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"result": "unknown", "reason": "neither a PDF nor a JSON document",
                "extract_number": None}
    signature = _signature_from_form()
    if isinstance(doc, dict) and "extract" in doc:
        return extracts.verify_document(c, settings(), doc["extract"],
                                        signature if signature is not None else doc.get("signature"))
    return extracts.verify_document(c, settings(), doc, signature)


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> Any:
    """Upload an extract (JSON + signature, or PDF): authentic, tampered or unknown."""
    if request.method == "GET":
        return render_template("extracts/verify.html", result=None)
    result = _check_upload()
    if prefers_html() and not request.is_json:
        return render_template("extracts/verify.html", result=result)
    return jsonify(result)


@bp.route("/<number>")
def status(number: str) -> Any:
    """Public status of one extract: valid or not, times, parcel number, content hash."""
    info = extracts.public_status(conn(), settings(), number)
    if prefers_html():
        return render_template("extracts/status.html", info=info)
    return jsonify(info)
