"""Named domain errors; each knows its HTTP status and OGC exception code.

The shape follows pygeoapi's ``GenericError`` (``http_status_code``, ``ogc_exception_code``,
a short ``message``), so one adapter (the Flask error handler registered in
``web.create_app``) answers every caller — pages, JSON endpoints, OGC API items and pygeoapi
processes alike — without a status table.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar


class CadastreError(Exception):
    """Base of every error a client may see; its message is short and safe to show."""

    http_status_code: ClassVar[HTTPStatus] = HTTPStatus.BAD_REQUEST
    ogc_exception_code: ClassVar[str] = "error"
    # Older spellings of the same two facts; a subclass may set either pair.
    status: ClassVar[int] = 400
    code: ClassVar[str] = "error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Keep ``status``/``code`` and ``http_status_code``/``ogc_exception_code`` in step."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "http_status_code" in own:
            cls.status = int(cls.http_status_code)
        elif "status" in own:
            cls.http_status_code = HTTPStatus(cls.status)
        if "ogc_exception_code" in own:
            cls.code = cls.ogc_exception_code
        elif "code" in own:
            cls.ogc_exception_code = cls.code

    def __init__(self, message: str | None = None, **details: object) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.details = details

    @property
    def user_msg(self) -> str:
        """The message, under pygeoapi's name for it."""
        return self.message

    def to_dict(self) -> dict[str, object]:
        """Return the JSON body a client receives (OGC exception: code, description)."""
        body: dict[str, object] = {"code": self.code, "description": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ConfigurationError(CadastreError):
    """The platform is misconfigured."""

    code = "configuration"
    status = 500


class InvalidInput(CadastreError):
    """The request is malformed."""

    code = "InvalidParameterValue"
    status = 400


class InvalidCadastralNumber(InvalidInput):
    """The cadastral number does not match AA:BB:CC:DD:EE:FFFF[:GGGG[:HHH]]."""

    code = "InvalidCadastralNumber"


class InvalidGeometry(InvalidInput):
    """The geometry is missing, empty, invalid or of the wrong type."""

    code = "InvalidGeometry"


class LimitTooLarge(InvalidInput):
    """The requested limit is above the allowed maximum."""

    code = "LimitTooLarge"


class TopologyViolation(CadastreError):
    """The change would make active parcels overlap."""

    code = "TopologyViolation"
    status = 409


class RuleViolation(CadastreError):
    """A database rule rejected the change."""

    code = "RuleViolation"
    status = 409


class StaleVersion(CadastreError):
    """The object changed since it was read (If-Match does not match)."""

    code = "StaleVersion"
    status = 412


class PreconditionRequired(CadastreError):
    """An If-Match header is required for this write."""

    code = "PreconditionRequired"
    status = 428


class NotAuthenticated(CadastreError):
    """Authentication is required."""

    code = "NotAuthenticated"
    status = 401


class NotAuthorized(CadastreError):
    """Your role may not do this."""

    code = "NotAuthorized"
    status = 403


class NotFound(CadastreError):
    """No such object."""

    code = "NotFound"
    status = 404


class Conflict(CadastreError):
    """The request conflicts with the current state."""

    code = "Conflict"
    status = 409


class RetiredParcel(Conflict):
    """The parcel (or building) is retired; its successors carry on."""

    code = "RetiredParcel"


class RateLimited(CadastreError):
    """Too many requests; try again later."""

    code = "RateLimited"
    status = 429


class PayloadTooLarge(CadastreError):
    """The request body or a field in it is too large."""

    code = "PayloadTooLarge"
    status = 413


TooLarge = PayloadTooLarge  # one error for 413, whichever layer raises it


class ArrestActive(RuleViolation):
    """An active arrest (ban) blocks this operation."""

    code = "ArrestActive"


def http_status(exc: CadastreError) -> int:
    """The HTTP status of a domain error (kept for callers written before the attribute)."""
    return int(exc.http_status_code)


def from_db_error(exc: BaseException) -> CadastreError:
    """Translate a database error raised by one of our rules into a named domain error.

    Our triggers raise with SQLSTATE and a message a QGIS user understands; we keep the
    message (first line only, never SQL text) and pick the error class by SQLSTATE.
    """
    orig = getattr(exc, "orig", exc)
    pgcode = getattr(orig, "pgcode", None)
    diag = getattr(orig, "diag", None)
    msg = (getattr(diag, "message_primary", None) or str(orig)).splitlines()[0]
    if pgcode == "23P01" or (msg and "overlaps" in msg):
        return TopologyViolation(msg)
    if pgcode in ("23505",):
        return Conflict("duplicate value: " + (getattr(diag, "constraint_name", None) or "unique"))
    if pgcode in ("23514", "23502", "23503", "22023", "22P02", "P0001", "XX000", "22000"):
        if pgcode == "XX000" and msg.startswith("Geometry"):
            return InvalidGeometry(msg)
        return RuleViolation(msg)
    if pgcode == "42501":
        return NotAuthorized(msg)
    if pgcode == "55000" and " is retired" in msg:
        return RetiredParcel(msg)
    return RuleViolation("the database rejected the change")
