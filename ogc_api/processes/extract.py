"""OGC API process ``parcel-extract``: a signed parcel extract for notaries, JSON or PDF.

web/ogc.py checks the caller against PROCESS_POLICY ("extract.issue") before execution; the
process checks again, logs every request (issued or refused) with notary, case number and
time, and raises domain errors as ``ProcessorExecuteError`` with their HTTP status.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.process.base import BaseProcessor
from sqlalchemy.exc import SQLAlchemyError

from cadastre_gis import context, extracts, policy
from cadastre_gis.db import get_engine
from cadastre_gis.errors import CadastreError, InvalidInput, NotFound, from_db_error
from cadastre_gis.settings import Settings

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "parcel-extract",
    "title": {"en": "Signed parcel extract", "ru": "Подписанная выписка по участку",
              "uz": "Imzolangan yer uchastkasi koʻchirmasi"},
    "description": {"en": "Official extract of a parcel (owners with shares, rights and "
                          "encumbrances, buildings, lineage, plan with coordinates) as of an "
                          "instant, signed with Ed25519. Notary or registrar token required; "
                          "every request is logged and visible to the owners."},
    "jobControlOptions": ["sync-execute"],
    "keywords": ["cadastre", "extract", "notary", "signature"],
    "links": [{"type": "text/html", "rel": "about", "title": "Verification of extracts",
               "href": "/extracts/verify", "hreflang": "en-US"}],
    "inputs": {
        "cadastral_number": {
            "title": "Cadastral number", "description": "Parcel number AA:BB:CC:DD:EE:FFFF",
            "schema": {"type": "string", "pattern": extracts.PARCEL_NUMBER.pattern},
            "minOccurs": 1, "maxOccurs": 1},
        "as_of": {
            "title": "As of", "description": "ISO 8601 instant or date (a date means the end "
                                             "of that day, Tashkent time); default now",
            "schema": {"type": "string"}, "minOccurs": 0, "maxOccurs": 1},
        "case_number": {
            "title": "Notarial case number", "schema": {"type": "string", "maxLength": 64},
            "minOccurs": 1, "maxOccurs": 1},
        "purpose": {
            "title": "Purpose", "description": "e.g. sale, gift, mortgage, inheritance",
            "schema": {"type": "string", "maxLength": 200}, "minOccurs": 0, "maxOccurs": 1},
        "format": {
            "title": "Output format", "schema": {"type": "string", "enum": ["json", "pdf"],
                                                 "default": "json"},
            "minOccurs": 0, "maxOccurs": 1},
    },
    "outputs": {
        "extract": {
            "title": "Signed extract (JSON)",
            "description": "{extract, signature, content_sha256, verification_url}",
            "schema": {"type": "object", "contentMediaType": "application/json"}},
        "pdf": {
            "title": "Signed extract (PDF)",
            "description": "The PDF (canonical JSON and signature attached inside); the "
                           "detached Ed25519 signature of the PDF bytes is in the "
                           "X-Extract-Signature header",
            "schema": {"type": "string", "contentEncoding": "binary",
                       "contentMediaType": "application/pdf"}},
    },
    "example": {"inputs": {"cadastral_number": "10:09:03:01:01:0045",
                           "case_number": "N-2026/1234", "purpose": "sale", "format": "json"}},
}


def _settings() -> Settings:
    try:
        from flask import current_app, has_app_context

        if has_app_context() and "cadastre_settings" in current_app.extensions:
            return current_app.extensions["cadastre_settings"]
    except ImportError:  # pragma: no cover - pygeoapi always brings Flask
        pass
    return Settings.from_env()


def _remote_addr() -> str | None:
    try:
        from flask import has_request_context, request

        return request.remote_addr if has_request_context() else None
    except ImportError:  # pragma: no cover
        return None


class ParcelExtractProcessor(BaseProcessor):
    """Issue a signed extract of one parcel."""

    def __init__(self, processor_def: dict) -> None:
        """pygeoapi creates one instance per execution."""
        super().__init__(processor_def, PROCESS_METADATA)
        self.supports_outputs = True
        self.response_headers: dict[str, str] = {}

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        """Validate, issue, log; return JSON (with signature) or the raw PDF."""
        settings = _settings()
        account = context.account()
        data = data if isinstance(data, dict) else {}
        fmt = data.get("format")
        if fmt is None and isinstance(outputs, dict) and "pdf" in outputs and "extract" not in outputs:
            fmt = "pdf"
        engine = get_engine(settings)
        log = {"cadastral_number": data.get("cadastral_number"), "case_number": data.get("case_number"),
               "purpose": data.get("purpose"), "fmt": fmt, "remote_addr": _remote_addr()}
        try:
            policy.require(context.role(), "extract.issue")
        except CadastreError as exc:
            with engine.begin() as c:
                extracts.log_request(c, account=account, outcome="denied", detail=exc.message, **log)
            raise
        assert account is not None
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SELECT set_config('cadastre.actor', %s, true)",
                                     (context.actor() or account["username"],))
                issued = extracts.issue(conn, settings, account=account,
                                        cadastral_number=data.get("cadastral_number"),
                                        as_of=data.get("as_of"), case_number=data.get("case_number"),
                                        purpose=data.get("purpose"), fmt=fmt,
                                        remote_addr=log["remote_addr"])
        except SQLAlchemyError as exc:
            err = from_db_error(exc)
            self._log_failure(engine, account, "error", err.message, log)
            raise err from exc
        except CadastreError as exc:
            outcome = "not_found" if isinstance(exc, NotFound) else (
                "invalid" if isinstance(exc, InvalidInput) else "error")
            self._log_failure(engine, account, outcome, exc.message, log)
            raise
        self.response_headers = {
            "X-Extract-Number": issued.number,
            "X-Extract-Key-Id": issued.signature["key_id"],
            "X-Extract-Content-SHA256": issued.signature["sha256"],
            "Link": f'<{issued.content["verification_url"]}>; rel="describedby"',
        }
        if issued.pdf is not None and issued.pdf_signature is not None:
            self.response_headers.update({
                "X-Extract-Signature": issued.pdf_signature["value"],
                "X-Extract-PDF-SHA256": issued.pdf_signature["sha256"],
                "Content-Disposition": f'attachment; filename="{issued.number}.pdf"',
            })
            return "application/pdf", issued.pdf
        self.response_headers["X-Extract-Signature"] = issued.signature["value"]
        return "application/json", issued.document()

    @staticmethod
    def _log_failure(engine: Any, account: dict[str, Any], outcome: str, detail: str,
                     log: dict[str, Any]) -> None:
        with engine.begin() as c:
            extracts.log_request(c, account=account, outcome=outcome, detail=detail, **log)

    def __repr__(self) -> str:
        """Short description."""
        return "<ParcelExtractProcessor>"
