"""Named domain errors and the one table that maps them to HTTP status codes."""

from __future__ import annotations


class CadastreError(Exception):
    """Base of every error a client may see; its message is short and safe to show."""

    code = "error"
    status = 400

    def __init__(self, message: str | None = None, **details: object) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.details = details

    def to_dict(self) -> dict[str, object]:
        """Return the JSON body a client receives."""
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


class ArrestActive(RuleViolation):
    """An active arrest (ban) blocks this operation."""

    code = "ArrestActive"


HTTP_STATUS: dict[type[CadastreError], int] = {
    cls: cls.status
    for cls in [
        CadastreError, ConfigurationError, InvalidInput, InvalidCadastralNumber, InvalidGeometry,
        LimitTooLarge, TopologyViolation, RuleViolation, StaleVersion, PreconditionRequired,
        NotAuthenticated, NotAuthorized, NotFound, Conflict, RateLimited, ArrestActive,
    ]
}


def http_status(exc: CadastreError) -> int:
    """Return the HTTP status code for a domain error."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 500


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
