"""One typed settings object, read from ``CADASTRE_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import ConfigurationError

PREFIX = "CADASTRE_"


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    """Platform settings; every field maps to ``CADASTRE_<FIELD>`` (upper case)."""

    database_url: str | None = None
    """PostgreSQL URL; unset means the embedded cluster under ``data_dir/pg``."""
    data_dir: Path = Path("./var")
    """Where the embedded cluster, signing keys, reports and uploads live."""
    secret_key: str | None = None
    """Flask session key; generated once and kept in ``data_dir/secret_key`` when unset."""
    base_url: str | None = None
    """Public URL of the platform (OGC links, QR codes); unset: links follow the request."""
    trusted_proxies: str = ""
    """Comma-separated addresses/CIDRs of reverse proxies whose ``X-Forwarded-*`` count."""
    allowed_hosts: str = ""
    """Comma-separated host names (``name`` or ``name:port``) a direct client may use in Host."""
    replica_urls: str = ""
    """Comma-separated read-only PostgreSQL URLs (streaming replicas) for read-only pages."""
    replica_stickiness: float = 5.0
    """Seconds a client that has just written keeps reading from the primary."""
    pool_size: int = 5
    metrics_allow: str = "127.0.0.0/8,::1/128"
    """Comma-separated addresses/CIDRs that may read ``/metrics``."""
    """Database connections kept per engine and worker process."""
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 2
    """Web server worker processes."""
    overlap_tolerance_m2: float = 0.05
    """Largest overlap between two active parcels the database accepts."""
    max_limit: int = 10000
    """Largest ``limit`` accepted by the OGC API."""
    default_limit: int = 100
    require_if_match: bool = False
    """Refuse OGC API Part 4 writes without ``If-Match`` (428)."""
    token_days: int = 365
    """Lifetime of new API tokens."""
    login_rate: int = 10
    """Failed sign-ins per account and address (15 minutes) before each retry waits longer."""
    session_idle_minutes: int = 120
    """A web session unused this long ends (sign in again)."""
    session_max_hours: int = 12
    """A web session ends this long after sign-in, used or not."""
    require_2fa_roles: str = ""
    """Comma-separated roles that must enrol in two-factor sign-in (e.g. ``admin,registrar``)."""
    demo_parcels: int = 20000
    demo_seed: int = 42
    state_duty_uzs: int = 34000
    """State duty per parcel extract (UZS)."""
    service_fee_uzs: int = 25000
    """Service commission per parcel extract (UZS)."""
    camera_offline_minutes: int = 10
    camera_idle_seconds: int = 30
    """Stop a camera's video relay (ffmpeg) when no viewer was heard for this long."""
    open311_rate: int = 60
    """Open311 POSTs per minute per API key."""
    tile_cache_mb: int = 512
    """Size bound of the rendered-tile cache under ``data_dir/tiles`` (0 turns it off)."""
    log_level: str = "INFO"
    pg_os_user: str | None = None
    """OS user that runs the embedded cluster when started as root (default: postgres/cadastre)."""
    wal_archive: bool = True
    """The embedded cluster archives its WAL into ``data_dir/wal-archive`` (backup/restore)."""
    pg_bindir: str | None = None
    """PostgreSQL binaries for the embedded cluster (default: ``pg_config --bindir``)."""
    smtp_host: str | None = None
    """SMTP server for citizen e-mail notifications (unset: e-mail goes to the sandbox outbox)."""
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    sms_url: str | None = None
    """HTTP SMS gateway (POST JSON {to, text}); unset: SMS goes to the sandbox outbox."""
    sms_token: str | None = None
    telegram_bot_token: str | None = None
    notify_sandbox: bool = True
    """Keep messages of unconfigured channels in the outbox instead of failing them."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from the environment, failing with one clear message on bad values."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        problems = []
        for f in fields(cls):
            key = PREFIX + f.name.upper()
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            raw = env.get(key)
            if raw is None or raw == "":
                continue
            typ = str(f.type)
            try:
                if "Path" in typ:
                    values[f.name] = Path(raw)
                elif "bool" in typ:
                    values[f.name] = _bool(raw)
                elif typ.startswith("int"):
                    values[f.name] = int(raw)
                elif typ.startswith("float"):
                    values[f.name] = float(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
        if problems:
            raise ConfigurationError("bad settings: " + "; ".join(problems))
        s = cls(**values)  # type: ignore[arg-type]
        s.validate()
        return s

    def validate(self) -> None:
        """Check ranges and formats."""
        problems = []
        if self.database_url and not self.database_url.startswith(("postgresql", "postgres")):
            problems.append("CADASTRE_DATABASE_URL must be a postgresql:// URL")
        if not 1 <= self.max_limit <= 100000:
            problems.append("CADASTRE_MAX_LIMIT must be 1..100000")
        if not 1 <= self.default_limit <= self.max_limit:
            problems.append("CADASTRE_DEFAULT_LIMIT must be 1..CADASTRE_MAX_LIMIT")
        if self.overlap_tolerance_m2 < 0:
            problems.append("CADASTRE_OVERLAP_TOLERANCE_M2 must be >= 0")
        if not 1 <= self.port <= 65535:
            problems.append("CADASTRE_PORT must be 1..65535")
        if self.session_idle_minutes < 1 or self.session_max_hours < 1:
            problems.append("CADASTRE_SESSION_IDLE_MINUTES and CADASTRE_SESSION_MAX_HOURS must be >= 1")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            problems.append("CADASTRE_BASE_URL must start with http:// or https://")
        try:
            self.trusted_networks()
        except ValueError as exc:
            problems.append(f"CADASTRE_TRUSTED_PROXIES: {exc}")
        try:
            self.metrics_networks()
        except ValueError as exc:
            problems.append(f"CADASTRE_METRICS_ALLOW: {exc}")
        for u in self.replicas():
            if not u.startswith(("postgresql", "postgres")):
                problems.append("CADASTRE_REPLICA_URLS must be postgresql:// URLs")
        if problems:
            raise ConfigurationError("bad settings: " + "; ".join(problems))

    def trusted_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """``CADASTRE_TRUSTED_PROXIES`` parsed into networks (a bare address is a /32 or /128)."""
        return [ipaddress.ip_network(x.strip(), strict=False)
                for x in self.trusted_proxies.split(",") if x.strip()]

    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """``CADASTRE_METRICS_ALLOW`` parsed into networks."""
        return [ipaddress.ip_network(x.strip(), strict=False)
                for x in self.metrics_allow.split(",") if x.strip()]

    def hosts_allowed(self) -> list[str]:
        """``CADASTRE_ALLOWED_HOSTS`` in lower case."""
        return [x.strip().lower() for x in self.allowed_hosts.split(",") if x.strip()]

    def replicas(self) -> list[str]:
        """``CADASTRE_REPLICA_URLS`` as a list."""
        return [x.strip() for x in self.replica_urls.split(",") if x.strip()]

    @property
    def roles_requiring_2fa(self) -> frozenset[str]:
        """The roles of ``CADASTRE_REQUIRE_2FA_ROLES`` as a set."""
        return frozenset(r.strip() for r in self.require_2fa_roles.split(",") if r.strip())

    @property
    def data_path(self) -> Path:
        """Absolute data directory."""
        return Path(self.data_dir).expanduser().resolve()

    def resolved_secret_key(self) -> str:
        """Return the session key, creating a persistent one in the data dir when unset."""
        if self.secret_key:
            return self.secret_key
        path = self.data_path / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key

    def url(self) -> str:
        """Return the database URL: the explicit one, else the embedded cluster's."""
        if self.database_url:
            return self.database_url
        from .cluster import Cluster

        return Cluster(self).url()


__all__ = ["Settings", "PREFIX"]
