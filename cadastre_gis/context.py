"""The caller of the current request, visible to code that Flask does not hand it to.

The web layer sets it before dispatching into pygeoapi; our pygeoapi processes and providers
(``ogc_api/``) read it, so they can authorize and audit without importing ``web``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_account: ContextVar[dict[str, Any] | None] = ContextVar("cadastre_account", default=None)
_actor: ContextVar[str | None] = ContextVar("cadastre_actor", default=None)


def set_caller(account: dict[str, Any] | None, actor: str | None) -> None:
    """Record who is calling (None for anonymous)."""
    _account.set(account)
    _actor.set(actor)


def account() -> dict[str, Any] | None:
    """The calling account, or None."""
    return _account.get()


def role() -> str | None:
    """The calling account's role, or None when anonymous."""
    acc = _account.get()
    return acc["role"] if acc else None


def actor() -> str | None:
    """The audit name of the caller."""
    return _actor.get()


_base_url: ContextVar[str | None] = ContextVar("cadastre_base_url", default=None)


def set_base_url(url: str | None) -> None:
    """Record the public root URL of the current request (set by the web layer)."""
    _base_url.set(url)


def base_url() -> str | None:
    """The public root URL of the current request, or None outside one."""
    return _base_url.get()
