"""The ``cadastre-gis`` console script: database, migrations, demo, users, tokens, serve."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import CadastreError
from .settings import Settings


def _settings() -> Settings:
    """The settings, and database engines that live as long as the running command."""
    try:
        s = Settings.from_env()
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        root = ctx.find_root()
        if "cadastre_db" not in root.meta:
            from . import db

            root.meta["cadastre_db"] = root.with_resource(db.scope(s))
    return s


class _Commands(click.Group):
    """The commands, with those other packages declare loaded only when asked for.

    They register through the ``cadastre_gis.commands`` entry-point group, so this package
    never imports ``web`` or ``loaders`` (dependencies point one way); ``cadastre-gis load``
    does not import the web application, nor ``serve`` the loaders.
    """

    def _plugins(self) -> dict[str, object]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group="cadastre_gis.commands")
                if ep.name not in self.commands}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            ep = self._plugins().get(cmd_name)
            if ep is not None:
                self.add_command(ep.load(), cmd_name)  # type: ignore[attr-defined]
        return self.commands.get(cmd_name)


@click.group(cls=_Commands)
def cli() -> None:
    """Tashkent cadastre & situation-center platform."""


@cli.group()
def db() -> None:
    """Manage the embedded PostgreSQL + PostGIS cluster."""


@db.command("up")
def db_up() -> None:
    """Start the embedded cluster (initialising it the first time)."""
    s = _settings()
    if s.database_url:
        click.echo("CADASTRE_DATABASE_URL is set; the embedded cluster is not used.")
        return
    from .cluster import Cluster

    st = Cluster(s).start()
    click.echo(f"database running on port {st.port} (pid {st.pid}) in {st.data_dir}")


@db.command("down")
def db_down() -> None:
    """Stop the embedded cluster."""
    s = _settings()
    if s.database_url:
        click.echo("CADASTRE_DATABASE_URL is set; the embedded cluster is not used.")
        return
    from .cluster import Cluster

    click.echo("stopped" if Cluster(s).stop() else "not running")


@db.command("status")
def db_status() -> None:
    """Print whether the database runs, and its URL."""
    s = _settings()
    if s.database_url:
        click.echo(f"external database: {_mask(s.database_url)}")
        return
    from .cluster import Cluster

    st = Cluster(s).status()
    state = "running" if st.running else ("stopped" if st.initialized else "not initialised")
    click.echo(f"embedded cluster: {state}")
    click.echo(f"data dir: {st.data_dir}")
    if st.url:
        click.echo(f"url: {st.url}")
    if not st.running:
        sys.exit(3)


@db.group("replica")
def db_replica() -> None:
    """A streaming hot standby of the embedded cluster (under $CADASTRE_DATA_DIR/replica)."""


_MANAGED = ("CADASTRE_DATABASE_URL is set: replicas of an external database are the managed "
            "service's job (create read replicas there, e.g. a hot standby or a read-only "
            "endpoint), then list their URLs, comma-separated, in CADASTRE_REPLICA_URLS; "
            "/healthz shows their lag.")


@db_replica.command("up")
def db_replica_up() -> None:
    """Create (pg_basebackup -R) and start the replica; print its URL."""
    s = _settings()
    if s.database_url:
        click.echo(_MANAGED)
        return
    from .cluster import ReplicaCluster

    st = ReplicaCluster(s).start()
    click.echo(f"replica running on port {st.port} (pid {st.pid}) in {st.data_dir}")
    click.echo(f"url: {st.url}")
    click.echo("to send read-only work to it: CADASTRE_REPLICA_URLS=" + (st.url or ""))


@db_replica.command("down")
@click.option("--remove", is_flag=True, help="also delete the replica's data dir")
def db_replica_down(remove: bool) -> None:
    """Stop the replica (reads fall back to the primary)."""
    s = _settings()
    if s.database_url:
        click.echo(_MANAGED)
        return
    from .cluster import ReplicaCluster

    r = ReplicaCluster(s)
    if remove:
        r.remove()
        click.echo("replica stopped and removed")
        return
    click.echo("stopped" if r.stop() else "not running")


@db_replica.command("status")
def db_replica_status() -> None:
    """Print whether the replica runs, its URL and its replay lag."""
    s = _settings()
    if s.database_url:
        click.echo(_MANAGED)
        for url in s.replicas():
            click.echo(f"configured replica: {_mask(url)}")
        return
    from .cluster import ReplicaCluster

    r = ReplicaCluster(s)
    st = r.status()
    state = "running" if st.running else ("stopped" if st.initialized else "not created")
    click.echo(f"replica: {state}")
    click.echo(f"data dir: {st.data_dir}")
    if st.url:
        click.echo(f"url: {st.url}")
    if st.running:
        lag = r.lag()
        click.echo(f"standby: {'yes' if lag['standby'] else 'NO (promoted)'}")
        click.echo(f"replay lag: {lag['lag_seconds']:.3f} s, {lag['lag_bytes']} bytes")
    else:
        sys.exit(3)


@cli.command("backup")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep", type=int, default=None,
              help="keep the newest N base backups (and only the WAL they need)")
def backup_cmd(directory: Path, keep: int | None) -> None:
    """Online base backup of the embedded cluster + WAL archive + secrets into DIRECTORY."""
    s = _settings()
    from . import backup as b

    try:
        base = b.backup(s, directory, keep=keep, progress=click.echo)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{base}  (secret: it holds the signing keys and passwords)")


@cli.command("restore")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--data-dir", "data_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="a NEW data dir (never the running one)")
@click.option("--to", "to", default=None,
              help="restore to this instant (ISO 8601, e.g. 2026-12-03T11:40:00+05:00)")
def restore_cmd(directory: Path, data_dir: Path, to: str | None) -> None:
    """Restore a backup into a new data dir, to the end of the archive or to an instant."""
    s = _settings()
    from . import backup as b

    try:
        b.restore(s, directory, data_dir, to=to, progress=click.echo)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc


def _mask(url: str) -> str:
    import re

    return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)


@cli.command()
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    """Upgrade the database schema (alembic)."""
    s = _settings()
    ensure_database(s)
    from . import migrate as m

    m.upgrade(s.url(), revision)
    click.echo(f"database at revision {m.current(s.url())}")


def ensure_database(s: Settings) -> None:
    """Start the embedded cluster when it is the configured database and is not running."""
    if not s.database_url:
        from .cluster import Cluster

        Cluster(s).start()  # idempotent: returns at once when it is running


@cli.command()
@click.option("--parcels", "n_parcels", type=int, default=None, help="number of parcels")
@click.option("--seed", type=int, default=None, help="random seed (same seed, same city)")
@click.option("--force", is_flag=True, help="replace existing data")
def demo(n_parcels: int | None, seed: int | None, force: bool) -> None:
    """Generate the deterministic demo city of Tashkent."""
    s = _settings()
    ensure_database(s)
    from . import demo as d

    try:
        summary = d.generate(s, parcels=n_parcels or s.demo_parcels,
                             seed=s.demo_seed if seed is None else seed, force=force,
                             progress=click.echo)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    for k, v in summary.items():
        click.echo(f"  {k:>12}: {v}")


@cli.group()
def users() -> None:
    """Manage accounts."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True,
              type=click.Choice(["citizen", "notary", "registrar", "operator", "admin"]))
@click.option("--district", "districts", multiple=True, help="district code or name (registrars)")
@click.option("--all-districts", is_flag=True, help="a city-wide registrar (every district)")
@click.option("--pinfl", default=None, help="14-digit PINFL (citizens)")
@click.option("--full-name", default=None)
def users_add(name: str, role: str, districts: tuple[str, ...], pinfl: str | None,
              full_name: str | None, all_districts: bool = False) -> None:
    """Add an account; the password is read from stdin."""
    s = _settings()
    from . import accounts

    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    try:
        acc = accounts.add_user(s, name, role, password, districts=list(districts), pinfl=pinfl,
                                full_name=full_name, all_districts=all_districts)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"account {acc['username']} ({acc['role']}) created, id {acc['id']}")
    for line in acc.get("notes", []):
        click.echo(line)


@users.command("list")
def users_list() -> None:
    """List accounts."""
    from . import accounts

    for a in accounts.list_users(_settings()):
        click.echo(f"{a['id']:>4} {a['username']:<20} {a['role']:<10} {a['districts']}")


@users.command("2fa")
@click.argument("name")
@click.option("--off", is_flag=True, help="turn two-factor sign-in off (lost phone)")
def users_2fa(name: str, off: bool) -> None:
    """Turn on two-factor sign-in for NAME: prints the otpauth:// URI, a QR code, recovery codes."""
    from . import signin

    try:
        if off:
            signin.cli_disable(_settings(), name)
            click.echo(f"two-factor sign-in is off for {name}")
            return
        result = signin.cli_enable(_settings(), name)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(result["uri"])
    import io

    import qrcode

    qr = qrcode.QRCode(border=1)
    qr.add_data(result["uri"])
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    click.echo(out.getvalue())
    click.echo("recovery codes (each works once; shown only now):")
    for code in result["recovery_codes"]:
        click.echo(f"  {code}")


@users.command("revoke-sessions")
@click.argument("name")
def users_revoke_sessions(name: str) -> None:
    """End every web session of NAME (every browser signs in again)."""
    from . import sessions

    try:
        n = sessions.revoke(_settings(), name)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"ended {n} session(s) of {name}")


@cli.group()
def tokens() -> None:
    """Manage API bearer tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--label", default="cli", help="what the token is for")
@click.option("--days", type=int, default=None, help="lifetime in days")
def tokens_create(name: str, label: str, days: int | None) -> None:
    """Create a token for account NAME and print it once."""
    s = _settings()
    from . import accounts

    try:
        token = accounts.create_token(s, name, label=label, days=days)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(token)


@tokens.command("revoke")
@click.argument("prefix")
def tokens_revoke(prefix: str) -> None:
    """Revoke the token whose first characters are PREFIX."""
    from . import accounts

    n = accounts.revoke_token(_settings(), prefix)
    click.echo(f"revoked {n} token(s)")


def main() -> None:
    """Entry point of the console script."""
    try:
        cli(standalone_mode=True)
    except CadastreError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
