"""Synchronous process manager that keeps our error statuses and lets processes add headers.

pygeoapi's DummyManager turns every exception raised by a process into a 400 "failed job",
so a domain error carrying 404 (unknown parcel) or 403 would lose its status. This manager
lets ``CadastreError`` through to the app's one error adapter (``web.create_app``, the same
that answers the items routes) and ``ProcessorExecuteError`` to pygeoapi, and merges
``processor.response_headers`` (e.g. the detached signature of a PDF extract) into the
response.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from pygeoapi.process.base import ProcessorExecuteError
from pygeoapi.process.manager.dummy import DummyManager
from pygeoapi.util import JobStatus, RequestedProcessExecutionMode, RequestedResponse

from cadastre_gis.errors import CadastreError

LOGGER = logging.getLogger(__name__)


class CadastreManager(DummyManager):
    """DummyManager with domain error statuses and per-process response headers."""

    def execute_process(self, process_id: str, data_dict: dict,  # type: ignore[override]
                        execution_mode: Any = None, requested_outputs: dict | None = None,
                        subscriber: Any = None,
                        requested_response: str | None = RequestedResponse.raw.value,
                        ) -> tuple[str, str, Any, JobStatus, dict[str, str] | None]:
        """Run the process synchronously; domain errors keep their HTTP status."""
        headers: dict[str, str] = {}
        if execution_mode is not None:
            headers["Preference-Applied"] = RequestedProcessExecutionMode.wait.value
        processor = self.get_processor(process_id)
        try:
            jfmt, outputs = processor.execute(data_dict, outputs=requested_outputs)
        except (CadastreError, ProcessorExecuteError):
            raise
        except Exception as err:  # noqa: BLE001 - as pygeoapi: a failed job is a 400
            LOGGER.exception("process %s failed", process_id)
            failed = ProcessorExecuteError(user_msg="error executing the process")
            failed.http_status_code = HTTPStatus.BAD_REQUEST
            failed.ogc_exception_code = "InvalidParameterValue"
            raise failed from err
        headers.update(getattr(processor, "response_headers", None) or {})
        if requested_response == RequestedResponse.document.value:
            outputs = {"outputs": [outputs]}
        return str(uuid.uuid1()), jfmt, outputs, JobStatus.successful, headers or None
