"""The embedded PostgreSQL + PostGIS cluster under ``$CADASTRE_DATA_DIR/pg``.

PostgreSQL refuses to run as root, so when we are root the cluster's files belong to an
unprivileged OS user (``postgres`` when the packages created it, else ``cadastre``) and every
server command runs as that user. Clients connect over TCP on 127.0.0.1 with a generated
password kept in ``pg.secret`` (mode 600) next to the cluster.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError
from .settings import Settings

DB_NAME = "cadastre"
DB_USER = "cadastre"


def _bindir(settings: Settings) -> Path:
    if settings.pg_bindir:
        return Path(settings.pg_bindir)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        cand = Path(out.stdout.strip())
        # Debian's pg_config lives in the client package; the server binaries are elsewhere.
        if (cand / "initdb").exists():
            return cand
        ver = subprocess.run([pg_config, "--version"], capture_output=True, text=True).stdout
        major = ver.split()[1].split(".")[0] if ver else ""
        deb = Path(f"/usr/lib/postgresql/{major}/bin")
        if (deb / "initdb").exists():
            return deb
    for deb in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (deb / "initdb").exists():
            return deb
    raise ConfigurationError(
        "PostgreSQL server binaries not found: install postgresql and postgresql-<major>-postgis-3 "
        "(scripts/system-deps.sh does it) or set CADASTRE_DATABASE_URL"
    )


@dataclass
class Status:
    """What ``db status`` reports."""

    initialized: bool
    running: bool
    port: int | None
    url: str | None
    pid: int | None
    data_dir: Path


class Cluster:
    """A private PostgreSQL cluster in ``settings.data_dir / 'pg'``."""

    role = "primary"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_path
        self.pgdata = self.root / "pg"
        self.secret_file = self.root / "pg.secret"
        self.port_file = self.root / "pg.port"
        self.log_file = self.root / "pg.log"
        self.archive_dir = self.root / "wal-archive"

    # -- identity -----------------------------------------------------------------------
    def os_user(self) -> str | None:
        """The OS user that owns and runs the cluster, or None to run as ourselves."""
        if os.geteuid() != 0:
            return None
        wanted = self.settings.pg_os_user
        for name in ([wanted] if wanted else ["postgres", "cadastre"]):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        name = wanted or "cadastre"
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )
        return name

    def _as_user(self, cmd: list[str]) -> list[str]:
        user = self.os_user()
        if user is None:
            return cmd
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", user, "--", *cmd]

    def _run(self, cmd: list[str], check: bool = True, **kw: object) -> subprocess.CompletedProcess:
        # Run from / so the unprivileged user never needs our (maybe private) cwd.
        return subprocess.run(self._as_user(cmd), capture_output=True, text=True, check=check,
                              cwd="/", **kw)  # type: ignore[call-overload]

    def password(self) -> str:
        """The superuser password, created on first use."""
        if self.secret_file.exists():
            return self.secret_file.read_text().strip()
        self.root.mkdir(parents=True, exist_ok=True)
        pw = secrets.token_urlsafe(24)
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(pw)
        return pw

    def port(self) -> int:
        """The port recorded for this data dir, choosing a free one the first time."""
        if self.port_file.exists():
            return int(self.port_file.read_text().strip())
        port = self._free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        self.port_file.write_text(str(port))
        return port

    def _free_port(self) -> int:
        # A stable first guess per data dir (so restarts keep their URL), then the next free one.
        digest = int(hashlib.sha256(str(self.pgdata).encode()).hexdigest(), 16)
        start = 54320 + digest % 2000
        for offset in range(2000):
            port = 54320 + (start - 54320 + offset) % 2000
            if _port_free(port):
                return port
        raise ConfigurationError("no free TCP port in 54320..56319 for the embedded database")

    def url(self, database: str = DB_NAME) -> str:
        """The SQLAlchemy URL of the embedded database."""
        return (f"postgresql+psycopg2://{DB_USER}:{self.password()}@127.0.0.1:{self.port()}"
                f"/{database}")

    # -- lifecycle ----------------------------------------------------------------------
    def initialized(self) -> bool:
        """True once initdb has run."""
        return (self.pgdata / "PG_VERSION").exists()

    def _pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        """True when our postmaster is alive and answers on its port."""
        if not self.initialized():
            return False
        out = self._run([str(_bindir(self.settings) / "pg_ctl"), "status", "-D", str(self.pgdata)],
                        check=False)
        if out.returncode == 4:
            # pg_ctl could not read the data dir: say why instead of "not running".
            raise ConfigurationError(
                f"the cluster's OS user ({self.os_user() or 'current user'}) cannot read "
                f"{self.pgdata}: {out.stderr.strip()} — check the permissions of its parents")
        return out.returncode == 0

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        user = self.os_user()
        if user is None:
            return
        # The unprivileged user must reach the data dir: grant search (x) on parents that lack it.
        for parent in reversed(self.root.parents):
            try:
                mode = parent.stat().st_mode
            except OSError:
                continue
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
        os.chmod(self.root, self.root.stat().st_mode | 0o001)

    def init(self) -> None:
        """Run initdb (once) with a password-protected superuser and our configuration."""
        if self.initialized():
            return
        self._prepare_dirs()
        bindir = _bindir(self.settings)
        user = self.os_user()
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.root / "pg.pwfile"
        pwfile.write_text(self.password() + "\n")
        if user:
            ent = pwd.getpwnam(user)
            os.chown(self.pgdata, ent.pw_uid, ent.pw_gid)
            os.chown(pwfile, ent.pw_uid, ent.pw_gid)
        try:
            out = self._run([str(bindir / "initdb"), "-D", str(self.pgdata), "-U", DB_USER,
                             "--pwfile", str(pwfile), "-E", "UTF8", "--locale", "C.UTF-8",
                             "--auth-host", "scram-sha-256", "--auth-local", "peer"], check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            raise ConfigurationError("initdb failed: " + out.stderr.strip()[-400:])
        conf = self.pgdata / "postgresql.conf"
        with open(conf, "a") as fh:
            fh.write(
                "\n# cadastre-gis embedded cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.pgdata}'\n"
                "max_connections = 200\n"
                "shared_buffers = 512MB\n"
                "work_mem = 32MB\n"
                "maintenance_work_mem = 512MB\n"
                "max_wal_size = 4GB\n"
                "synchronous_commit = off\n"
                "jit = off\n"
                "random_page_cost = 1.1\n"
                "log_min_messages = warning\n"
                "log_min_error_statement = panic\n"
            )

    # Settings that name this data dir's own paths live in an include file rewritten at every
    # start, so a copy of the cluster (a restore, a replica) never points at the original's
    # socket directory or WAL archive.
    CONF_INCLUDE = "cadastre-paths.conf"

    def _write_path_conf(self) -> None:
        conf = self.pgdata / "postgresql.conf"
        text = conf.read_text()
        line = f"include_if_exists = '{self.CONF_INCLUDE}'"
        if line not in text:
            with open(conf, "a") as fh:
                fh.write(f"\n# paths of this data dir (rewritten by cadastre-gis at start)\n{line}\n")
        arch = str(self.archive_dir).replace("'", "''")
        body = (
            f"unix_socket_directories = '{self.pgdata}'\n"
            # Continuous WAL archiving for point-in-time restore (cadastre-gis backup/restore);
            # a standby does not archive (archive_mode = on is inactive during recovery).
            "wal_level = replica\n"
            f"archive_mode = {'on' if self.settings.wal_archive else 'off'}\n"
            f"archive_command = 'test ! -f \"{arch}/%f\" && cp \"%p\" \"{arch}/%f\"'\n"
            "archive_timeout = 60\n"
            "max_wal_senders = 10\n"
            "hot_standby = on\n"
            "hot_standby_feedback = on\n"
        )
        target = self.pgdata / self.CONF_INCLUDE
        target.write_text(body)
        user = self.os_user()
        if user:
            ent = pwd.getpwnam(user)
            os.chown(target, ent.pw_uid, ent.pw_gid)

    def _prepare_archive(self) -> None:
        self.archive_dir.mkdir(mode=0o700, exist_ok=True)
        user = self.os_user()
        if user:
            ent = pwd.getpwnam(user)
            os.chown(self.archive_dir, ent.pw_uid, ent.pw_gid)

    def start(self) -> Status:
        """Start the cluster (idempotent); recover from a stale pid file after a crash."""
        self.init()
        if self.running():
            return self.status()
        bindir = _bindir(self.settings)
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists():
            # pg_ctl status said no server: the pid file is stale (crash, reboot, kill -9).
            pid = self._pid()
            if pid is None or not pid_alive(pid) or not _is_postgres(pid):
                pidfile.unlink()
        port = self.port()
        if not _port_free(port):
            port = self._free_port()
            self.port_file.write_text(str(port))
        self._prepare_dirs()
        self._prepare_archive()
        self._write_path_conf()
        user = self.os_user()
        self.log_file.touch()
        if user:
            ent = pwd.getpwnam(user)
            os.chown(self.log_file, ent.pw_uid, ent.pw_gid)
        out = self._run([str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.pgdata),
                         "-l", str(self.log_file), "-o", f"-p {port}"], check=False)
        if out.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-800:] if self.log_file.exists() else ""
            raise ConfigurationError(f"PostgreSQL did not start: {out.stderr.strip()} {tail}")
        self._ensure_database()
        return self.status()

    def _ensure_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=self.port(), user=DB_USER,
                                        password=self.password(), dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DB_NAME}"')
        conn.close()

    def stop(self) -> bool:
        """Stop the cluster; True when it was running."""
        if not self.running():
            return False
        self._run([str(_bindir(self.settings) / "pg_ctl"), "stop", "-w", "-m", "fast", "-D",
                   str(self.pgdata)], check=False)
        return True

    def archiving(self) -> bool:
        """True when the running server archives its WAL (needs a restart after an upgrade)."""
        import psycopg2

        conn = psycopg2.connect(self.url("postgres").replace("postgresql+psycopg2", "postgresql"))
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW archive_mode")
                row = cur.fetchone()
                return bool(row and row[0] == "on")
        finally:
            conn.close()

    def status(self) -> Status:
        """Report whether the cluster exists and runs, and its URL."""
        running = self.running()
        return Status(
            initialized=self.initialized(),
            running=running,
            port=self.port() if self.initialized() else None,
            url=self.url() if self.initialized() else None,
            pid=self._pid() if running else None,
            data_dir=self.pgdata,
        )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_postgres(pid: int) -> bool:
    try:
        return "postgres" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


class ReplicaCluster(Cluster):
    """A streaming hot standby of the embedded cluster under ``$CADASTRE_DATA_DIR/replica``.

    Made with ``pg_basebackup -R`` from the running primary (same superuser and password), on
    its own port; it follows the primary over streaming replication and, when it falls
    behind, from the primary's WAL archive.
    """

    role = "replica"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.primary = Cluster(settings)
        self.pgdata = self.root / "replica"
        self.port_file = self.root / "replica.port"
        self.log_file = self.root / "replica.log"

    def init(self) -> None:
        """Clone the running primary with pg_basebackup -R (once)."""
        if self.initialized():
            return
        if not self.primary.running():
            raise ConfigurationError("the primary is not running: cadastre-gis db up first")
        self._prepare_dirs()
        bindir = _bindir(self.settings)
        user = self.os_user()
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made copy from an interrupted attempt
        self.pgdata.mkdir(mode=0o700)
        if user:
            ent = pwd.getpwnam(user)
            os.chown(self.pgdata, ent.pw_uid, ent.pw_gid)
        env = {**os.environ, "PGPASSWORD": self.password()}
        out = subprocess.run(self._as_user([
            str(bindir / "pg_basebackup"), "-D", str(self.pgdata), "-R", "-X", "stream",
            "-c", "fast", "-h", "127.0.0.1", "-p", str(self.primary.port()), "-U", DB_USER,
            "--no-password"]), capture_output=True, text=True, cwd="/", env=env)
        if out.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise ConfigurationError("pg_basebackup failed: " + out.stderr.strip()[-400:])
        # When streaming cannot catch up (WAL already recycled), read the primary's archive.
        arch = str(self.primary.archive_dir).replace("'", "''")
        with open(self.pgdata / "postgresql.auto.conf", "a") as fh:
            fh.write(f"restore_command = 'cp \"{arch}/%f\" \"%p\"'\n")

    def _prepare_archive(self) -> None:
        """A standby does not archive."""

    def _ensure_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg2.connect(host="127.0.0.1", port=self.port(), user=DB_USER,
                                 password=self.password(), dbname=DB_NAME).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def remove(self) -> None:
        """Stop the replica and delete its data dir."""
        self.stop()
        shutil.rmtree(self.pgdata, ignore_errors=True)
        self.port_file.unlink(missing_ok=True)

    def lag(self) -> dict[str, object]:
        """Replay lag seen from the standby: seconds and bytes behind what it received."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port(), user=DB_USER,
                                password=self.password(), dbname=DB_NAME, connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_is_in_recovery(),"
                    " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
                    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,"
                    " pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())")
                standby, seconds, nbytes = cur.fetchone()
        finally:
            conn.close()
        return {"standby": bool(standby), "lag_seconds": float(seconds or 0),
                "lag_bytes": int(nbytes or 0)}
