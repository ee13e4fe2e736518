"""Online base backups and point-in-time restore of the embedded cluster.

``backup DIR`` writes ``DIR/base-<UTC time>/`` (``pg_basebackup``: a consistent copy taken
while the cluster runs, with the WAL it needs), copies the cluster's WAL archive into
``DIR/wal/`` and the data dir's secrets into ``DIR/base-…/secrets/`` (extract signing keys,
the Flask secret key, the database password): **a backup is as secret as the data dir**.

``restore DIR --data-dir NEW [--to TIME]`` builds ``NEW`` from the newest base backup that
finished before ``TIME`` (or the newest), with ``restore_command`` reading ``DIR/wal`` and,
with ``--to``, ``recovery_target_time`` (the archived WAL is copied to ``NEW/restore-wal``; delete it once
the restored cluster runs). Nothing runs yet: ``CADASTRE_DATA_DIR=NEW
cadastre-gis db up`` replays the WAL to the instant (or to the end of the archive), promotes
and serves on its own port beside the running cluster.

``--keep N`` keeps the newest N base backups and removes the WAL only older ones needed
(``pg_archivecleanup``), in ``DIR/wal`` and in the cluster's own archive.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from .cluster import DB_USER, Cluster, _bindir
from .errors import ConfigurationError, InvalidInput
from .settings import Settings

SECRET_FILES = ("secret_key", "pg.secret")
SECRET_DIRS = ("keys", "uploads", "photos")
MANIFEST = "cadastre-backup.json"

EXTERNAL = ("CADASTRE_DATABASE_URL points at an external database: back it up with its own "
            "tools — the managed service's snapshots and point-in-time recovery, or "
            "pg_dump -Fc / pg_basebackup against it — and keep $CADASTRE_DATA_DIR/keys and "
            "the secret key with it.")


def _psql(cluster: Cluster, sql: str) -> str:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port(), user=DB_USER,
                            password=cluster.password(), dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
            return "" if row is None or row[0] is None else str(row[0])
    finally:
        conn.close()


def _start_wal(base: Path) -> str:
    """The first WAL segment a base backup needs (from its backup_label)."""
    label = (base / "pg" / "backup_label").read_text()
    m = re.search(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)", label)
    if not m:
        raise ConfigurationError(f"{base}: backup_label without a start WAL file")
    return m.group(1)


def bases(directory: Path) -> list[Path]:
    """The complete base backups in ``directory``, oldest first."""
    return sorted(p for p in directory.glob("base-*") if (p / MANIFEST).exists())


def _sync_archive(cluster: Cluster, target: Path) -> int:
    """Copy archived WAL files that ``target`` lacks; return how many."""
    target.mkdir(mode=0o700, exist_ok=True)
    n = 0
    if not cluster.archive_dir.exists():
        return 0
    for f in sorted(cluster.archive_dir.iterdir()):
        dest = target / f.name
        if f.is_file() and not dest.exists():
            tmp = target / (f.name + ".part")
            shutil.copyfile(f, tmp)
            os.replace(tmp, dest)
            n += 1
    return n


def _wait_archived(cluster: Cluster, segment: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = _psql(cluster, "SELECT last_archived_wal FROM pg_stat_archiver")
        if last and last[:24] >= segment:
            return
        time.sleep(0.3)
    raise ConfigurationError(f"WAL segment {segment} was not archived within {timeout:.0f} s; "
                             f"see {cluster.log_file}")


def backup(settings: Settings, directory: Path, keep: int | None = None,
           progress=print) -> Path:  # type: ignore[no-untyped-def]
    """Take an online base backup into ``directory``; prune to ``keep`` when given."""
    if settings.database_url:
        raise ConfigurationError(EXTERNAL)
    cluster = Cluster(settings)
    if not cluster.running():
        raise ConfigurationError("the embedded cluster is not running: cadastre-gis db up")
    if not cluster.archiving():
        raise ConfigurationError("the cluster does not archive its WAL yet: restart it "
                                 "(cadastre-gis db down && cadastre-gis db up) and retry")
    if keep is not None and keep < 1:
        raise InvalidInput("--keep must be at least 1")
    directory = directory.expanduser().resolve()
    if directory == cluster.root or cluster.root in directory.parents:
        raise InvalidInput("the backup directory must be outside the data dir")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    base = directory / f"base-{stamp}"
    part = directory / f".base-{stamp}.part"
    part.mkdir(mode=0o700)
    env = {**os.environ, "PGPASSWORD": cluster.password()}
    progress(f"base backup of {cluster.pgdata} ...")
    # pg_basebackup is a client: it runs as us and writes files we own.
    out = subprocess.run([str(_bindir(settings) / "pg_basebackup"), "-D", str(part / "pg"),
                          "-X", "stream", "-c", "fast", "-h", "127.0.0.1",
                          "-p", str(cluster.port()), "-U", DB_USER, "--no-password",
                          "-l", f"cadastre-gis backup {stamp}"],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        shutil.rmtree(part, ignore_errors=True)
        raise ConfigurationError("pg_basebackup failed: " + out.stderr.strip()[-400:])
    finished = _psql(cluster, "SELECT now()")
    # Close the current WAL segment so the archive covers everything up to now.
    segment = _psql(cluster, "SELECT pg_walfile_name(pg_switch_wal())")
    _wait_archived(cluster, segment)
    secrets = part / "secrets"
    secrets.mkdir(mode=0o700)
    for name in SECRET_FILES:
        if (cluster.root / name).exists():
            shutil.copy2(cluster.root / name, secrets / name)
    for name in SECRET_DIRS:
        if (cluster.root / name).is_dir():
            shutil.copytree(cluster.root / name, secrets / name)
    start_wal = re.search(r"\(file ([0-9A-F]{24})\)",
                          (part / "pg" / "backup_label").read_text())
    (part / MANIFEST).write_text(json.dumps({
        "finished_at": finished, "start_wal": start_wal.group(1) if start_wal else None,
        "server_version": _psql(cluster, "SHOW server_version"),
        "data_dir": str(cluster.root)}, indent=2))
    os.replace(part, base)
    n = _sync_archive(cluster, directory / "wal")
    progress(f"backup {base.name} done; {n} new WAL file(s) in {directory / 'wal'}")
    if keep:
        prune(settings, directory, keep, progress)
    return base


def prune(settings: Settings, directory: Path, keep: int,
          progress=print) -> None:  # type: ignore[no-untyped-def]
    """Keep the newest ``keep`` base backups and only the WAL they need."""
    all_bases = bases(directory)
    if len(all_bases) <= keep:
        return
    for old in all_bases[:-keep]:
        shutil.rmtree(old)
        progress(f"removed {old.name}")
    oldest = _start_wal(all_bases[-keep])
    cleanup = str(_bindir(settings) / "pg_archivecleanup")
    for wal_dir in (directory / "wal", Cluster(settings).archive_dir):
        if wal_dir.is_dir():
            out = subprocess.run([cleanup, str(wal_dir), oldest], capture_output=True, text=True)
            if out.returncode != 0:
                raise ConfigurationError("pg_archivecleanup failed: " + out.stderr.strip()[-300:])
    progress(f"WAL before {oldest} removed")


def _parse_time(value: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError as exc:
        raise InvalidInput(f"--to: not a timestamp: {value!r} (e.g. 2026-12-03T11:40:00+05:00)"
                           ) from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def restore(settings: Settings, directory: Path, new_data_dir: Path, to: str | None = None,
            progress=print) -> Path:  # type: ignore[no-untyped-def]
    """Prepare ``new_data_dir`` from the backups in ``directory`` (to the instant ``to``)."""
    directory = directory.expanduser().resolve()
    new = new_data_dir.expanduser().resolve()
    running = Cluster(settings)
    if new == running.root:
        raise InvalidInput(f"{new} is the configured data dir: restore into a new one")
    target_settings = Settings(data_dir=new, pg_os_user=settings.pg_os_user,
                               pg_bindir=settings.pg_bindir)
    target = Cluster(target_settings)
    if target.initialized() or (target.pgdata / "postmaster.pid").exists():
        raise InvalidInput(f"{new} already holds a database cluster: restore never overwrites "
                           "one (choose a new --data-dir)")
    if new.exists() and any(new.iterdir()):
        raise InvalidInput(f"{new} is not empty: restore into a new, empty directory")
    found = bases(directory)
    if not found:
        raise InvalidInput(f"no base backup in {directory}")
    when = _parse_time(to) if to else None
    chosen = found[-1]
    if when is not None:
        fit = [b for b in found if _parse_time(json.loads((b / MANIFEST).read_text())
                                               ["finished_at"]) <= when]
        if not fit:
            raise InvalidInput(f"no base backup finished before {when.isoformat()}: the "
                               f"oldest finished at "
                               f"{json.loads((found[0] / MANIFEST).read_text())['finished_at']}")
        chosen = fit[-1]
    progress(f"restoring {chosen.name} into {new}"
             + (f", to {when.isoformat()}" if when else ", to the end of the archive"))
    new.mkdir(parents=True, exist_ok=True)
    os.chmod(new, 0o700)
    shutil.copytree(chosen / "pg", target.pgdata)
    os.chmod(target.pgdata, 0o700)
    for f in (chosen / "secrets").iterdir():
        dest = new / f.name
        if f.is_dir():
            shutil.copytree(f, dest)
        else:
            shutil.copy2(f, dest)
    for stale in ("postmaster.pid", "postmaster.opts", "backup_manifest"):
        (target.pgdata / stale).unlink(missing_ok=True)
    # A private copy of the archived WAL: the cluster's OS user reads it, the backup
    # directory itself stays readable by its owner only.
    restore_wal = new / "restore-wal"
    shutil.copytree(directory / "wal", restore_wal)
    wal = str(restore_wal).replace("'", "''")
    lines = [f"restore_command = 'cp \"{wal}/%f\" \"%p\"'"]
    if when is not None:
        lines += [f"recovery_target_time = '{when.isoformat()}'",
                  "recovery_target_action = 'promote'"]
    with open(target.pgdata / "postgresql.auto.conf", "a") as fh:
        fh.write("\n# cadastre-gis restore\n" + "\n".join(lines) + "\n")
    (target.pgdata / "recovery.signal").touch()
    user = target.os_user()
    if user:
        ent = pwd.getpwnam(user)
        for root, dirs, files in os.walk(new):
            for name in dirs + files:
                os.chown(os.path.join(root, name), ent.pw_uid, ent.pw_gid)
        os.chown(new, ent.pw_uid, ent.pw_gid)
    progress(f"ready: CADASTRE_DATA_DIR={new} cadastre-gis db up")
    return new
