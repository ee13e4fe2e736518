"""``cadastre-gis serve`` and ``cadastre-gis up`` (registered through an entry point)."""

from __future__ import annotations

import click

from cadastre_gis.cli import _settings, ensure_database


@click.command()
@click.option("--host", default=None, help="address to bind (default CADASTRE_HOST)")
@click.option("--port", type=int, default=None, help="port (default CADASTRE_PORT, 5000)")
@click.option("--workers", type=int, default=None)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the platform with gunicorn."""
    s = _settings()
    from .serve import run

    run(s, host=host or s.host, port=port or s.port, workers=workers or s.workers)


@click.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--workers", type=int, default=None)
@click.option("--parcels", "n_parcels", type=int, default=None, help="demo size when empty")
def up(host: str | None, port: int | None, workers: int | None, n_parcels: int | None) -> None:
    """db up + migrate + demo when the database is empty + serve: the main job."""
    s = _settings()
    ensure_database(s)
    from cadastre_gis import demo as d
    from cadastre_gis import migrate as m

    m.upgrade(s.url())
    click.echo(f"database at revision {m.current(s.url())}")
    if d.is_empty(s):
        click.echo("empty database: generating the demo city")
        d.generate(s, parcels=n_parcels or s.demo_parcels, seed=s.demo_seed, progress=click.echo)
    from .serve import run

    run(s, host=host or s.host, port=port or s.port, workers=workers or s.workers)
