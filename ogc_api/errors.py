"""Turn domain errors into pygeoapi errors with the right HTTP status and a safe message."""

from __future__ import annotations

from http import HTTPStatus

from pygeoapi.process.base import ProcessorExecuteError

from cadastre_gis.errors import CadastreError, http_status


def process_error(exc: CadastreError) -> ProcessorExecuteError:
    """A ProcessorExecuteError carrying the domain error's status, code and message."""
    err = ProcessorExecuteError(user_msg=exc.message)
    err.http_status_code = HTTPStatus(http_status(exc))
    err.ogc_exception_code = exc.code
    return err
