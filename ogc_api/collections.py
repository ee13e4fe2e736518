"""The public collections: which table, which columns (public ones only), how time works.

This module is the privacy boundary of the OGC API: a column that is not listed here can
never reach a client, through items, filters, sorting or tiles. Every SQL fragment below is
a constant written by us; request values are always bound parameters (see ``provider.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cadastre_gis.cadastral import BUILDING_NUMBER, PARCEL_NUMBER
from cadastre_gis.schema import SRID as STORAGE_SRID  # noqa: F401 - used by sql, items, cql


@dataclass(frozen=True)
class Field:
    """One public property: its name, the SQL column of alias ``t`` and its JSON type."""

    name: str
    type: str = "string"
    """JSON schema type: string, integer, number, boolean."""
    format: str | None = None
    """JSON schema format, e.g. ``date-time``."""
    column: str | None = None
    """Column of ``t`` when it differs from ``name``."""

    @property
    def sql(self) -> str:
        """SQL expression for this property (a column of the alias ``t``)."""
        return f"t.{self.column or self.name}"


@dataclass(frozen=True)
class Collection:
    """A public feature collection over one table (or privacy view) of the database."""

    id: str
    title: str
    description: str
    table: str
    """Table or view read as alias ``t``."""
    where: str
    """Constant filter of the current state (e.g. only active parcels)."""
    fields: tuple[Field, ...]
    geometry_type: str
    keywords: tuple[str, ...] = ()
    history_table: str | None = None
    """History table with the same columns: ``datetime`` instants read the state as of then."""
    time: str | None = None
    """``lifespan`` (valid_from/valid_to) or the name of an instant column."""
    number_pattern: str | None = None
    """Cadastral number format: items may be fetched by number as well as by id."""
    version_column: str | None = None
    """Column whose value makes the item ETag (optimistic locking for Part 4)."""
    tile_fields: tuple[str, ...] = ()
    """Properties written into vector tiles (contract with the web map)."""
    tile_extra: tuple[tuple[str, str], ...] = ()
    """Computed tile properties: (name, SQL expression over ``t``)."""
    min_zoom: int = 0
    max_zoom: int = 20
    tile_cap: int = 20000
    """Most features written into one tile."""
    cheap_count: bool = False
    """Small tables: numberMatched is always given."""
    cache_seconds: int = 60
    """Cache-Control max-age of tiles."""
    extra_columns: tuple[str, ...] = field(default=())
    """Raw columns besides the fields that the as-of union must carry."""

    def field(self, name: str) -> Field | None:
        """The public field called ``name``, or None."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def columns(self) -> list[str]:
        """Raw columns read from the table (for the as-of union of current and history)."""
        cols = ["id"] + [f.column or f.name for f in self.fields if f.name != "id"]
        cols += [c for c in self.extra_columns if c not in cols]
        return cols + ["geom"]


LIFESPAN = (
    Field("status"),
    Field("version", "integer"),
    Field("valid_from", "string", "date-time"),
    Field("valid_to", "string", "date-time"),
)

COLLECTIONS: dict[str, Collection] = {c.id: c for c in [
    Collection(
        id="parcels",
        title="Land parcels",
        description="Cadastral land parcels of Tashkent (registry state; owners and rights are "
                    "not published).",
        table="parcel", where="t.status = 'active'",
        fields=(
            Field("id", "integer"),
            Field("cadastral_number"),
            Field("district_id", "integer"),
            Field("address"),
            Field("land_category"),
            Field("permitted_use"),
            Field("area_m2", "number"),
            Field("declared_area_m2", "number"),
            Field("cadastral_value", "number"),
            *LIFESPAN,
        ),
        geometry_type="MultiPolygon", keywords=("cadastre", "parcels", "land"),
        history_table="parcel_history", time="lifespan", number_pattern=PARCEL_NUMBER.pattern,
        version_column="version",
        tile_fields=("id", "cadastral_number", "land_category", "permitted_use", "area_m2",
                     "district_id"),
        min_zoom=12, max_zoom=20, tile_cap=20000,
    ),
    Collection(
        id="buildings",
        title="Buildings",
        description="Registered buildings of Tashkent with their footprints.",
        table="building", where="t.status = 'active'",
        fields=(
            Field("id", "integer"),
            Field("cadastral_number"),
            Field("parcel_id", "integer"),
            Field("district_id", "integer"),
            Field("address"),
            Field("building_use"),
            Field("floors", "integer"),
            Field("year_built", "integer"),
            Field("floor_area_m2", "number"),
            Field("footprint_m2", "number"),
            *LIFESPAN,
        ),
        geometry_type="MultiPolygon", keywords=("cadastre", "buildings"),
        history_table="building_history", time="lifespan", number_pattern=BUILDING_NUMBER.pattern,
        version_column="version",
        tile_fields=("id", "cadastral_number", "parcel_id", "floors", "building_use"),
        min_zoom=13, max_zoom=20, tile_cap=20000,
    ),
    Collection(
        id="districts",
        title="Districts",
        description="The 12 districts (tumanlar) of Tashkent.",
        table="district", where="true",
        fields=(
            Field("id", "integer"),
            Field("code"),
            Field("name"),
            Field("name_ru"),
            Field("population", "integer"),
            Field("area_m2", "number"),
        ),
        geometry_type="MultiPolygon", keywords=("districts", "boundaries"),
        tile_fields=("id", "code", "name"), min_zoom=0, max_zoom=18, tile_cap=100,
        cheap_count=True, cache_seconds=3600,
    ),
    Collection(
        id="incidents",
        title="City incidents",
        description="Public incidents reported in the city: category, status, priority, dates "
                    "and district only (no reporter data, no internal categories).",
        table="ogc_public_incident", where="true",
        fields=(
            Field("id", "integer"),
            Field("category"),
            Field("status"),
            Field("priority", "integer"),
            Field("district_id", "integer"),
            Field("reported_at", "string", "date-time"),
            Field("deadline", "string", "date-time"),
            Field("resolved_at", "string", "date-time"),
            Field("closed_at", "string", "date-time"),
            Field("overdue", "boolean"),
        ),
        geometry_type="Point", keywords=("incidents", "situation center"),
        time="reported_at", version_column="version", extra_columns=("version",),
        tile_fields=("id", "category", "status", "priority", "overdue"),
        min_zoom=6, max_zoom=20, tile_cap=20000, cache_seconds=10,
    ),
    Collection(
        id="streets",
        title="Streets",
        description="Named street centre lines (basemap layer of the portal).",
        table="street", where="true",
        fields=(
            Field("id", "integer"),
            Field("name"),
            Field("name_ru"),
            Field("kind"),
            Field("district_id", "integer"),
        ),
        geometry_type="MultiLineString", keywords=("streets", "basemap"),
        tile_fields=("id", "name", "name_ru", "kind"), min_zoom=10, max_zoom=20,
        tile_cap=5000, cheap_count=True, cache_seconds=3600,
    ),
    Collection(
        id="cameras",
        title="Street cameras",
        description="Locations and status of the city's street cameras (no streams).",
        table="ogc_public_camera", where="true",
        fields=(
            Field("id", "integer"),
            Field("status"),
        ),
        geometry_type="Point", keywords=("cameras",), cheap_count=True,
    ),
]}

TILED = ("parcels", "buildings", "districts", "incidents", "streets")
