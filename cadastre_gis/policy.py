"""The one place that says which role may do what."""

from __future__ import annotations

from .errors import NotAuthenticated, NotAuthorized

ROLES = ("citizen", "notary", "registrar", "operator", "admin")

# action -> roles allowed. Anonymous users may only do what is listed under "public".
PERMISSIONS: dict[str, frozenset[str]] = {
    "public.read": frozenset({"anonymous", *ROLES}),
    "property.own.read": frozenset({"citizen", "admin"}),
    "tax.pay": frozenset({"citizen"}),
    "extract.issue": frozenset({"notary", "registrar", "admin"}),
    "extract.list": frozenset({"notary", "registrar", "admin"}),
    "bans.read": frozenset({"notary", "registrar", "admin"}),
    "registry.read_private": frozenset({"notary", "registrar", "admin"}),
    "registry.edit": frozenset({"registrar", "admin"}),
    "features.write.parcels": frozenset({"registrar", "admin"}),
    "features.write.buildings": frozenset({"registrar", "admin"}),
    "features.write.incidents": frozenset({"operator", "admin"}),
    "incident.report": frozenset({"anonymous", *ROLES}),
    "incident.manage": frozenset({"operator", "admin"}),
    "situation.view": frozenset({"operator", "admin"}),
    "camera.stream": frozenset({"operator", "admin"}),
    "camera.heartbeat": frozenset({"operator", "admin"}),
    "accounts.manage": frozenset({"admin"}),
}


def allowed(role: str | None, action: str) -> bool:
    """True when ``role`` (None for anonymous) may perform ``action``."""
    roles = PERMISSIONS.get(action)
    if roles is None:
        return False
    return (role or "anonymous") in roles


def require(role: str | None, action: str) -> None:
    """Raise NotAuthenticated (no identity) or NotAuthorized (wrong role) unless allowed."""
    if allowed(role, action):
        return
    if role is None:
        raise NotAuthenticated("authentication required")
    raise NotAuthorized(f"role {role} may not {action}")


def may_edit_district(role: str, district_ids: list[int], district_id: int | None) -> bool:
    """Registrars edit only their districts (none listed: none at all); admins everywhere."""
    if role == "admin":
        return True
    if role != "registrar":
        return False
    return district_id in district_ids
