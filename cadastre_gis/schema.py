"""Schema facts the code needs, written once: storage SRID, region, statuses and value lists.

The database is the authority (migrations create the CHECKs and reference tables); this
module is the one place Python reads them from, and ``tests/test_schema.py`` proves that
every tuple here equals the database's own CHECK list, so a migration that changes a list
fails the tests until this module follows. Value lists with names (land categories,
permitted uses, building uses, incident categories) are reference tables, read at run time
(:data:`REFERENCE_TABLES`).
"""

from __future__ import annotations

SRID = 32642
"""Storage CRS: WGS 84 / UTM zone 42N (metres); Tashkent is on its central meridian."""

REGION_CODE = "10"
"""Region part (AA) of Tashkent city's cadastral numbers and district codes."""

UNIT_STATUSES = ("active", "retired", "pending")
"""``parcel.status`` and ``building.status``."""

RIGHT_KINDS = ("ownership", "lease", "permanent_use", "servitude", "mortgage", "arrest")
RIGHT_STATUSES = ("active", "ended")

INCIDENT_STATUSES = ("new", "triaged", "dispatched", "in_progress", "resolved", "closed",
                     "duplicate", "rejected")
OPEN_INCIDENT_STATUSES = ("new", "triaged", "dispatched", "in_progress")
INCIDENT_SOURCES = ("open311", "dashboard", "qgis", "sql", "phone", "camera", "demo", "import",
                    "portal")
VISIBILITIES = ("public", "internal")

CAMERA_STATUSES = ("online", "offline", "maintenance")

REFERENCE_TABLES = {"land_category": "land_category", "permitted_use": "permitted_use",
                    "building_use": "building_use", "category": "incident_category"}
"""Column → reference table (``code, name_en, name_ru, name_uz, aliases``) it references."""

CHECKED_LISTS = {
    ("parcel", "status"): UNIT_STATUSES,
    ("building", "status"): UNIT_STATUSES,
    ("right", "kind"): RIGHT_KINDS,
    ("right", "status"): RIGHT_STATUSES,
    ("incident", "status"): INCIDENT_STATUSES,
    ("incident", "source"): INCIDENT_SOURCES,
    ("incident", "visibility"): VISIBILITIES,
    ("camera", "status"): CAMERA_STATUSES,
}
"""(table, column) → the values its CHECK constraint allows (tested against the database)."""
