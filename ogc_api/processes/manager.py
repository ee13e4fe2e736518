"""A synchronous process manager that keeps our processes' HTTP status codes.

pygeoapi's Dummy manager turns every exception of a process into "400 Error executing
process: …"; ours lets ``ProcessorExecuteError`` through, so pygeoapi's API answers with the
status and code the process chose (401/403/404/409/412 from ``ogc_api.errors.process_error``).
"""

from __future__ import annotations

import uuid
from typing import Any

from pygeoapi.process.base import ProcessorExecuteError
from pygeoapi.process.manager.base import RequestedResponse
from pygeoapi.process.manager.dummy import DummyManager
from pygeoapi.util import JobStatus


class CadastreManager(DummyManager):
    """Dummy (synchronous, no job store) manager that propagates process errors."""

    def execute_process(self, process_id: str, data_dict: dict, execution_mode: Any = None,
                        requested_outputs: dict | None = None, subscriber: Any = None,
                        requested_response: Any = RequestedResponse.raw.value
                        ) -> tuple[str, str, Any, JobStatus, dict[str, str] | None]:
        """Run the process synchronously; ProcessorExecuteError reaches pygeoapi's API layer."""
        processor = self.get_processor(process_id)
        try:
            jfmt, outputs = processor.execute(data_dict, outputs=requested_outputs)
        except ProcessorExecuteError:
            raise
        except Exception:  # noqa: BLE001 - a bug: no details to the client
            import logging

            logging.getLogger(__name__).exception("process %s failed", process_id)
            return (str(uuid.uuid1()), "application/json",
                    {"code": "ServerError", "description": "the process failed"},
                    JobStatus.failed, None)
        if requested_response == RequestedResponse.document.value:
            outputs = {"outputs": [outputs]}
        return str(uuid.uuid1()), jfmt, outputs, JobStatus.successful, None
