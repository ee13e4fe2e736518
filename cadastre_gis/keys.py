"""Ed25519 signing keys in ``$CADASTRE_DATA_DIR/keys``: created on first use, rotated by CLI.

Layout: ``<kid>.key`` (private, PEM, mode 600) for the current key only, ``<kid>.pub`` (public,
PEM) for every key ever used, ``current`` naming the signing key and ``keys.json`` with the
creation and retirement times. Rotation keeps the old public keys (old extracts still verify)
and deletes the old private key (it can never sign again). The key id is the RFC 7638 JWK
thumbprint of the public key.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ConfigurationError
from .settings import Settings


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_public(pub: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(pub: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64u(raw_public(pub))},
                           sort_keys=True, separators=(",", ":"))
    return _b64u(hashlib.sha256(canonical.encode()).digest())


def jwk(pub: Ed25519PublicKey, kid: str | None = None) -> dict[str, str]:
    """The public key as a JWK (RFC 8037 OKP)."""
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64u(raw_public(pub)), "kid": kid or key_id(pub),
            "alg": "EdDSA", "use": "sig"}


def public_pem(pub: Ed25519PublicKey) -> str:
    """The public key as PEM text (SubjectPublicKeyInfo)."""
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """The current private key and its id."""

    kid: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        """Its public key."""
        return self.private.public_key()


class KeyStore:
    """The key directory of one data dir."""

    def __init__(self, settings: Settings) -> None:
        """Use ``settings.data_dir/keys``."""
        self.dir = settings.data_path / "keys"
        self._cache: tuple[float, SigningKey] | None = None

    # ---- files --------------------------------------------------------------------------
    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _manifest(self) -> list[dict[str, Any]]:
        path = self.dir / "keys.json"
        return json.loads(path.read_text()) if path.exists() else []

    def _write(self, path: Path, data: bytes, mode: int) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def _create(self) -> SigningKey:
        """Generate a key, store it and make it current (caller holds the lock)."""
        priv = Ed25519PrivateKey.generate()
        kid = key_id(priv.public_key())
        self._write(self.dir / f"{kid}.key", priv.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), 0o600)
        self._write(self.dir / f"{kid}.pub", public_pem(priv.public_key()).encode(), 0o644)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        manifest = self._manifest()
        for entry in manifest:
            if entry.get("retired_at") is None:
                entry["retired_at"] = now
        manifest.append({"kid": kid, "created_at": now, "retired_at": None})
        self._write(self.dir / "keys.json", json.dumps(manifest, indent=2).encode(), 0o644)
        self._write(self.dir / "current", kid.encode(), 0o644)
        return SigningKey(kid, priv)

    # ---- public API ---------------------------------------------------------------------
    def current(self) -> SigningKey:
        """The signing key, created on first use (safe across processes)."""
        cur = self.dir / "current"
        try:
            mtime = cur.stat().st_mtime
        except FileNotFoundError:
            mtime = -1.0
        if self._cache and self._cache[0] == mtime and mtime >= 0:
            return self._cache[1]
        with self._lock():
            if not cur.exists():
                key = self._create()
            else:
                kid = cur.read_text().strip()
                path = self.dir / f"{kid}.key"
                if not path.exists():
                    raise ConfigurationError(f"signing key {kid} is missing from {self.dir}")
                priv = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(priv, Ed25519PrivateKey):
                    raise ConfigurationError(f"signing key {kid} is not an Ed25519 key")
                key = SigningKey(kid, priv)
            self._cache = (cur.stat().st_mtime, key)
        return key

    def rotate(self) -> tuple[str | None, str]:
        """Make a new signing key; the old public key stays, its private key is deleted."""
        with self._lock():
            cur = self.dir / "current"
            old = cur.read_text().strip() if cur.exists() else None
            new = self._create()
            if old and old != new.kid:
                (self.dir / f"{old}.key").unlink(missing_ok=True)
        self._cache = None
        return old, new.kid

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key ever used, by key id (the current one is created if none exists)."""
        if not (self.dir / "current").exists():
            self.current()
        out: dict[str, Ed25519PublicKey] = {}
        for path in sorted(self.dir.glob("*.pub")):
            pub = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(pub, Ed25519PublicKey):
                out[path.stem] = pub
        return out

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """One public key by id, or None when unknown."""
        if not kid or "/" in kid or kid.startswith("."):
            return None
        path = self.dir / f"{kid}.pub"
        if not path.exists():
            return None
        pub = serialization.load_pem_public_key(path.read_bytes())
        return pub if isinstance(pub, Ed25519PublicKey) else None

    def listing(self) -> list[dict[str, Any]]:
        """Key ids with creation/retirement times and whether each is current."""
        if not (self.dir / "current").exists():
            self.current()
        current = (self.dir / "current").read_text().strip()
        return [{**e, "current": e["kid"] == current} for e in self._manifest()]

    def jwks(self) -> dict[str, Any]:
        """JWKS-like document of every public key, with status."""
        meta = {e["kid"]: e for e in self.listing()}
        keys = []
        for kid, pub in self.public_keys().items():
            entry: dict[str, Any] = dict(jwk(pub, kid))
            m = meta.get(kid, {})
            entry.update({"created_at": m.get("created_at"), "retired_at": m.get("retired_at"),
                          "status": "current" if m.get("current") else "retired"})
            keys.append(entry)
        keys.sort(key=lambda k: (k["status"] != "current", k.get("created_at") or ""))
        return {"keys": keys}


_stores: dict[Path, KeyStore] = {}


def store(settings: Settings) -> KeyStore:
    """The (per-process cached) key store of a data dir."""
    path = settings.data_path
    if path not in _stores:
        _stores[path] = KeyStore(settings)
    return _stores[path]


# ---- CLI: cadastre-gis keys rotate | list -----------------------------------------------
@click.group()
def keys() -> None:
    """Manage the Ed25519 keys that sign parcel extracts."""


def _settings() -> Settings:
    from .cli import _settings as s

    return s()


@keys.command("rotate")
def rotate_cmd() -> None:
    """Create a new signing key; old public keys stay so old extracts still verify."""
    old, new = store(_settings()).rotate()
    click.echo(f"new signing key {new}" + (f" (retired {old}; its public key is kept)" if old else ""))


@keys.command("list")
def list_cmd() -> None:
    """List the signing keys (the current one is marked with *)."""
    for e in store(_settings()).listing():
        mark = "*" if e["current"] else " "
        click.echo(f"{mark} {e['kid']}  created {e['created_at']}"
                   + (f"  retired {e['retired_at']}" if e.get("retired_at") else ""))
