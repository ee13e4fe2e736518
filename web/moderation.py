"""Operators moderate public text: hide an incident, edit its public text, approve photos.

``POST /moderation/incidents/<id>`` with ``action`` = ``hide`` | ``show`` | ``edit`` (and
``public_description`` for ``edit``), as a form (with ``csrf_token``) or JSON;
Photos are approved at ``POST /reports/photos/<id>/moderate`` (the citizen-report area).
The model lives in :mod:`cadastre_gis.moderation`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from cadastre_gis import moderation
from cadastre_gis.errors import InvalidInput

from .db import write
from .security import current_actor, require
from .validation import json_body, text_field

bp = Blueprint("moderation", __name__, url_prefix="/moderation")


def _input() -> dict[str, Any]:
    if request.is_json:
        body = json_body()
        if not isinstance(body, dict):
            raise InvalidInput("send a JSON object")
        return body
    return request.form.to_dict()


@bp.route("/incidents/<int:incident_id>", methods=["POST"])
def incident(incident_id: int):  # type: ignore[no-untyped-def]
    """Hide, show or edit the public text of an incident."""
    require("incident.manage")
    data = _input()
    action = text_field(data.get("action"), "action", 10, multiline=False, required=True)
    with write() as c:
        if action == "hide":
            row = moderation.hide(c, incident_id, current_actor())
        elif action == "show":
            row = moderation.show(c, incident_id, current_actor())
        elif action == "edit":
            public = text_field(data.get("public_description"), "public_description",
                                moderation.MAX_PUBLIC_TEXT)
            row = moderation.edit_public_text(c, incident_id, public, current_actor())
        else:
            raise InvalidInput("action must be hide, show or edit")
    return jsonify(row)
