"""``cadastre-gis load`` and ``cadastre-gis export`` (registered through an entry point)."""

from __future__ import annotations

import sys

import click

from cadastre_gis.cli import _settings, ensure_database
from cadastre_gis.errors import CadastreError

from .mapping import KINDS

KIND = click.Choice(list(KINDS))


@click.command()
@click.argument("kind", type=KIND)
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--layer", default=None, help="layer of a multi-layer file (GeoPackage)")
@click.option("--crs", default=None, help="CRS of the file, e.g. EPSG:28412 (overrides the file's)")
@click.option("--encoding", default=None, help="attribute encoding: cp1251, cp866, utf-8 "
              "(default: .cpg, else detected)")
@click.option("--mapping", "mapping", default=None, type=click.Path(exists=True, dir_okay=False),
              help="YAML file: source field → model field")
@click.option("--mode", type=click.Choice(["insert", "upsert"]), default="insert",
              show_default=True, help="upsert updates active rows with the same number "
              "(history keeps the old version)")
@click.option("--dry-run", is_flag=True, help="check everything and report; write nothing")
@click.option("--repair", is_flag=True, help="repair invalid geometries with make_valid "
              "(marked in the report) instead of rejecting them")
@click.option("--area-tolerance", type=float, default=5.0, show_default=True,
              help="warn when the declared area differs from the computed one by more (%)")
@click.option("--actor", default=None, help="who loads, for the audit (default cli:<os user>)")
@click.option("--report", "report_file", default=None, type=click.Path(dir_okay=False),
              help="report path (default $CADASTRE_DATA_DIR/reports/<time>-<file>.json)")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: on a terminal)")
def load(kind: str, path: str, layer: str | None, crs: str | None, encoding: str | None,
         mapping: str | None, mode: str, dry_run: bool, repair: bool, area_tolerance: float,
         actor: str | None, report_file: str | None, progress: bool | None) -> None:
    """Load a GIS file (Shapefile, GeoPackage, GeoJSON, FlatGeobuf, CSV) as KIND."""
    s = _settings()
    ensure_database(s)
    from . import report
    from .load import LoadFailed
    from .load import load as run

    try:
        rep = run(s, kind, path, layer=layer, crs=crs, encoding=encoding, mapping=mapping,
                  mode=mode, dry_run=dry_run, repair=repair, area_tolerance=area_tolerance,
                  actor=actor, report_file=report_file, progress=progress)
    except LoadFailed as exc:
        click.echo(f"error: {exc.message}", err=True)
        click.echo(f"report: {exc.details.get('report')}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted: nothing was written", err=True)
        sys.exit(130)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(report.summary(rep))
    click.echo(f"report: {rep['report']}")


@click.command()
@click.argument("kind", type=KIND)
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--crs", default=None, help="output CRS, e.g. EPSG:28412 (default: EPSG:4326 "
              "for GeoJSON, EPSG:32642 otherwise)")
@click.option("--district", default=None, help="only this district (code or name)")
@click.option("--as-of", "as_of", default=None, help="state on this date (YYYY-MM-DD or ISO "
              "timestamp) from the current and history tables")
@click.option("--encoding", default=None, help="Shapefile attribute encoding: utf-8 (default) "
              "or cp1251; written to the .cpg")
def export(kind: str, path: str, crs: str | None, district: str | None, as_of: str | None,
           encoding: str | None) -> None:
    """Export KIND to .gpkg, .shp (with .cpg), .geojson or .fgb (format from the extension)."""
    s = _settings()
    ensure_database(s)
    from .export import export as run

    try:
        n = run(s, kind, path, crs=crs, district=district, as_of=as_of, encoding=encoding)
    except CadastreError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"exported {n} {kind} to {path}")
