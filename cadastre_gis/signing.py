"""Canonical JSON and detached Ed25519 signatures over it."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature

from .keys import store
from .settings import Settings

ALG = "Ed25519"


def canonical(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (not ASCII-escaped)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def b64u(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """Decode base64url with or without padding (raises ValueError on garbage)."""
    text = text.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("signature is not base64url") from exc


def sign_bytes(settings: Settings, data: bytes) -> dict[str, str]:
    """Detached signature of ``data`` with the current key: alg, key id, value, sha256."""
    key = store(settings).current()
    return {"alg": ALG, "key_id": key.kid, "value": b64u(key.private.sign(data)),
            "sha256": sha256(data)}


def sign(settings: Settings, obj: Any) -> tuple[bytes, dict[str, str]]:
    """Canonical bytes of ``obj`` and their detached signature."""
    data = canonical(obj)
    return data, sign_bytes(settings, data)


def verify_bytes(settings: Settings, data: bytes, signature: dict[str, Any] | str,
                 key_id: str | None = None) -> bool:
    """True when ``signature`` (object or base64url value) is a valid signature of ``data``."""
    if isinstance(signature, dict):
        key_id = str(signature.get("key_id") or key_id or "")
        value = str(signature.get("value") or "")
        if signature.get("alg", ALG) != ALG:
            return False
    else:
        value = signature
    pub = store(settings).public_key(key_id or "")
    if pub is None:
        return False
    try:
        pub.verify(unb64u(value), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify(settings: Settings, obj: Any, signature: dict[str, Any]) -> bool:
    """True when ``signature`` signs the canonical form of ``obj``."""
    return verify_bytes(settings, canonical(obj), signature)
