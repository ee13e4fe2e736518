"""One moderation model for public text about incidents (Open311, citizen reports, OGC).

An incident carries, since migration 0010:

* ``description`` — what the reporter wrote; operators see it as is;
* ``public_description`` — what anonymous callers see: the description with personal data
  masked (``cadastre_redact`` in a trigger, on every write path), or a moderator's own text;
* ``moderation_status`` — ``visible`` (public text follows the description), ``edited`` (a
  moderator wrote the public text) or ``hidden`` (out of every public list and page).

Photos of citizen reports are the third part of the same model: a photo is public only once
approved (:func:`approve_photo`, which is ``reports.moderate_photo``; the operator endpoint is
``POST /reports/photos/<id>/moderate``). Every change is an UPDATE as the acting operator, so
the incident timeline and the audit log record who moderated what.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .errors import InvalidInput, NotFound

STATUSES = ("visible", "edited", "hidden")
MAX_PUBLIC_TEXT = 4000


def _update(conn: Connection, incident_id: int, sets: str, params: dict[str, Any],
            actor: str) -> dict[str, Any]:
    row = conn.execute(text(
        f"UPDATE incident SET {sets}, moderated_by = :actor, moderated_at = now()"
        " WHERE id = :i RETURNING id, moderation_status, public_description"),
        {**params, "i": incident_id, "actor": actor}).mappings().first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return dict(row)


def hide(conn: Connection, incident_id: int, actor: str) -> dict[str, Any]:
    """Take an incident out of every public list (Open311, OGC, portal)."""
    return _update(conn, incident_id, "moderation_status = 'hidden'", {}, actor)


def show(conn: Connection, incident_id: int, actor: str) -> dict[str, Any]:
    """Make it public again; the public text follows the (masked) description."""
    return _update(conn, incident_id, "moderation_status = 'visible'", {}, actor)


def edit_public_text(conn: Connection, incident_id: int, public_text: str | None,
                     actor: str) -> dict[str, Any]:
    """Replace the public text by the moderator's (None: back to the masked description)."""
    if public_text is None:
        return show(conn, incident_id, actor)
    if "\x00" in public_text or len(public_text) > MAX_PUBLIC_TEXT:
        raise InvalidInput(f"public text: at most {MAX_PUBLIC_TEXT} characters, no NUL")
    return _update(conn, incident_id,
                   "moderation_status = 'edited', public_description = :t",
                   {"t": public_text.strip()}, actor)


def public_view(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """The public text of an incident, or None when it is hidden or internal."""
    row = conn.execute(text(
        "SELECT id, public_description FROM incident WHERE id = :i"
        " AND visibility = 'public' AND moderation_status <> 'hidden'"),
        {"i": incident_id}).mappings().first()
    return dict(row) if row else None


def approve_photo(conn: Connection, photo_id: int, approved: bool, actor: str) -> None:
    """Publish (``approved``) or withdraw a report photo."""
    from .reports import moderate_photo

    moderate_photo(conn, photo_id, approved, actor)


__all__ = ["hide", "show", "edit_public_text", "public_view", "approve_photo", "STATUSES"]
