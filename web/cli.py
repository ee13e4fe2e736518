"""``cadastre-gis serve``, ``up`` and ``tiles`` (registered through entry points)."""

from __future__ import annotations

import click

from cadastre_gis.cli import _settings, ensure_database


@click.command()
@click.option("--host", default=None, help="address to bind (default CADASTRE_HOST)")
@click.option("--port", type=int, default=None, help="port (default CADASTRE_PORT, 5000)")
@click.option("--workers", type=int, default=None)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the platform with gunicorn (evented workers: live streams hold no thread)."""
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


@click.group()
def tiles() -> None:
    """Vector tiles: warm the cache, export the public layers as PMTiles."""


@tiles.command("seed")
@click.option("--zoom", "zoom", default="12-16", show_default=True, help="zoom levels A-B")
@click.option("--district", default=None, help="only this district (code or name)")
@click.option("--workers", type=int, default=4, show_default=True)
def tiles_seed(zoom: str, district: str | None, workers: int) -> None:
    """Render the not yet cached parcel, building, district and street tiles into the cache."""
    from tqdm import tqdm

    from ogc_api.tile_export import seed, zoom_range

    s = _settings()
    counts = seed(s, zoom_range(zoom), district, workers,
                  progress=lambda total: tqdm(total=total, unit="tile", desc="seeding"))
    click.echo(f"{counts['tiles']} tiles: {counts['rendered']} rendered,"
               f" {counts['cached']} already cached")


@tiles.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--zoom", "zoom", default="10-16", show_default=True, help="zoom levels A-B")
@click.option("--district", default=None, help="only this district (code or name)")
@click.option("--workers", type=int, default=4, show_default=True)
def tiles_export(path: str, zoom: str, district: str | None, workers: int) -> None:
    """Write parcels, buildings, districts, streets and public incidents as one PMTiles file."""
    from pathlib import Path

    from tqdm import tqdm

    from ogc_api.tile_export import export_pmtiles, zoom_range

    s = _settings()
    counts = export_pmtiles(s, Path(path), zoom_range(zoom), district, workers,
                            progress=lambda total: tqdm(total=total, unit="tile",
                                                        desc="exporting"))
    click.echo(f"{path}: {counts['tiles']} tiles (of {counts['addresses']} in the bounds)")
