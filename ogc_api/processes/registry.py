"""OGC API Processes for registrars: split, merge, boundary correction, transfer, encumbrances.

Each process calls one function of :mod:`cadastre_gis.registry` in one database transaction
as the calling account (``web/ogc.py`` checks the policy action ``registry.edit`` first; the
service checks the account's districts). Inputs take geometry as GeoJSON in CRS84 unless
``crs`` names another CRS (e.g. ``EPSG:32642``, ``EPSG:28412``). ``dry_run: true`` returns
the result without keeping it (what the staff pages show as a preview).
"""

from __future__ import annotations

import re
from typing import Any

from pygeoapi.process.base import BaseProcessor

from cadastre_gis import context, registry
from cadastre_gis.cadastral import PARCEL_NUMBER
from cadastre_gis.db import transaction
from cadastre_gis.errors import CadastreError, InvalidInput, NotAuthenticated
from cadastre_gis.settings import Settings

_DOC = {
    "title": "Source document",
    "description": "The document behind the operation: kind, number, issued_on, issuer, title",
    "schema": {"type": "object", "required": ["number"], "properties": {
        "kind": {"type": "string", "enum": list(registry.DOCUMENT_KINDS)},
        "number": {"type": "string"}, "issued_on": {"type": "string", "format": "date"},
        "issuer": {"type": "string"}, "title": {"type": "string"}}},
    "minOccurs": 1, "maxOccurs": 1,
}
_NUMBER = {"title": "Cadastral number", "description": "Parcel number, e.g. 10:09:03:01:01:0045",
           "schema": {"type": "string", "pattern": PARCEL_NUMBER.pattern},
           "minOccurs": 1, "maxOccurs": 1}
_CRS = {"title": "CRS of the input geometry", "description": "Default CRS84 (lon, lat)",
        "schema": {"type": "string", "default": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "minOccurs": 0, "maxOccurs": 1}
_DRY = {"title": "Dry run", "description": "Compute and check the result, keep nothing",
        "schema": {"type": "boolean", "default": False}, "minOccurs": 0, "maxOccurs": 1}
_GEOM = {"type": "object", "contentMediaType": "application/geo+json"}
_OUT = {"result": {"title": "Result", "description": "Transaction id, resulting and retired"
                   " parcels (GeoJSON geometry in CRS84), rights created and ended",
                   "schema": {"type": "object", "contentMediaType": "application/json"}}}


def srid_from_crs(crs: str | None) -> int:
    """EPSG code from a CRS URI or ``EPSG:n`` (CRS84 → 4326, lon/lat order)."""
    if not crs or crs.rstrip("/").endswith(("CRS84", "OGC/1.3/CRS84")):
        return 4326
    m = re.search(r"EPSG(?::|/0/|/)(\d+)$", crs.strip())
    if not m:
        raise InvalidInput(f"unsupported crs {crs!r}: use CRS84 or EPSG:<code>")
    return int(m.group(1))


def _settings() -> Settings:
    try:
        from flask import current_app

        return current_app.extensions["cadastre_settings"]
    except (RuntimeError, KeyError):
        return Settings.from_env()


def _meta(pid: str, title: str, description: str, inputs: dict[str, Any],
          example: dict[str, Any]) -> dict[str, Any]:
    return {"version": "1.0.0", "id": pid, "title": {"en": title},
            "description": {"en": description}, "jobControlOptions": ["sync-execute"],
            "keywords": ["cadastre", "registry", "registrar"], "links": [],
            "inputs": inputs, "outputs": _OUT, "example": {"inputs": example}}


class RegistryProcess(BaseProcessor):
    """Base: run one registry operation as the calling account in one transaction."""

    METADATA: dict[str, Any] = {}

    def __init__(self, processor_def: dict[str, Any]) -> None:
        """Attach this process's metadata."""
        super().__init__(processor_def, self.METADATA)

    def run(self, conn: Any, data: dict[str, Any], common: dict[str, Any]) -> registry.Result:
        """Call the registry service (implemented by each process)."""
        raise NotImplementedError

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, dict[str, Any]]:
        """Execute with the caller's identity; domain errors keep their HTTP status."""
        try:
            account = context.account()
            if account is None:
                raise NotAuthenticated("authentication required")
            if not isinstance(data, dict):
                raise InvalidInput("inputs must be an object")
            actor = context.actor() or f"{account['role']}:{account['username']}"
            common = {"document": data.get("document"), "actor": actor, "account": account,
                      "dry_run": bool(data.get("dry_run", False))}
            with transaction(_settings(), actor=actor) as conn:
                res = self.run(conn, data, common)
            return "application/json", res.to_dict()
        except CadastreError:
            raise  # the one error adapter (web.create_app) answers with its status


class ParcelSplit(RegistryProcess):
    """Split a parcel by a cut line or into child polygons."""

    METADATA = _meta(
        "parcel-split", "Split a parcel",
        "Split an active parcel by a cut line (LineString crossing it) or into child polygons."
        " Children get new numbers in the same quarter and carry the rights; the parent is"
        " retired; lineage is recorded. Blocked by an active arrest.",
        {"cadastral_number": _NUMBER,
         "cut_line": {"title": "Cut line", "description": "GeoJSON LineString",
                      "schema": _GEOM, "minOccurs": 0, "maxOccurs": 1},
         "parts": {"title": "Child polygons", "description": "GeoJSON Polygons",
                   "schema": {"type": "array", "items": _GEOM}, "minOccurs": 0, "maxOccurs": 1},
         "crs": _CRS, "document": _DOC, "dry_run": _DRY},
        {"cadastral_number": "10:09:03:01:01:0045",
         "cut_line": {"type": "LineString", "coordinates": [[69.25, 41.28], [69.26, 41.29]]},
         "document": {"kind": "hokim_decision", "number": "123-Q", "issued_on": "2026-11-20"}})

    def run(self, conn: Any, data: dict[str, Any], common: dict[str, Any]) -> registry.Result:
        """Split."""
        return registry.split_parcel(conn, str(data.get("cadastral_number", "")),
                                     cut_line=data.get("cut_line"), parts=data.get("parts"),
                                     srid=srid_from_crs(data.get("crs")), **common)


class ParcelMerge(RegistryProcess):
    """Merge adjacent parcels with identical ownership."""

    METADATA = _meta(
        "parcel-merge", "Merge parcels",
        "Merge two or more adjacent active parcels with identical ownership into one new"
        " parcel; parents are retired; lineage is recorded. Blocked by an active arrest.",
        {"cadastral_numbers": {"title": "Cadastral numbers", "description": "Parcels to merge",
                               "schema": {"type": "array", "items": {"type": "string"},
                                          "minItems": 2}, "minOccurs": 1, "maxOccurs": 1},
         "document": _DOC, "dry_run": _DRY},
        {"cadastral_numbers": ["10:09:03:01:01:0045", "10:09:03:01:01:0046"],
         "document": {"kind": "hokim_decision", "number": "124-Q"}})

    def run(self, conn: Any, data: dict[str, Any], common: dict[str, Any]) -> registry.Result:
        """Merge."""
        nums = data.get("cadastral_numbers")
        if not isinstance(nums, list):
            raise InvalidInput("cadastral_numbers must be a list")
        return registry.merge_parcels(conn, [str(n) for n in nums], **common)


class BoundaryCorrection(RegistryProcess):
    """Correct a parcel's boundary after a survey."""

    METADATA = _meta(
        "boundary-correction", "Correct a boundary",
        "Replace an active parcel's boundary (survey document required); the earlier boundary"
        " stays in the history. expected_version guards against concurrent edits (412).",
        {"cadastral_number": _NUMBER,
         "geometry": {"title": "New boundary", "description": "GeoJSON Polygon/MultiPolygon",
                      "schema": _GEOM, "minOccurs": 1, "maxOccurs": 1},
         "expected_version": {"title": "Expected version", "description": "Version read before",
                              "schema": {"type": "integer"}, "minOccurs": 0, "maxOccurs": 1},
         "crs": _CRS, "document": _DOC, "dry_run": _DRY},
        {"cadastral_number": "10:09:03:01:01:0045",
         "geometry": {"type": "Polygon", "coordinates": [[[69.25, 41.28], [69.2502, 41.28],
                                                          [69.2502, 41.2802], [69.25, 41.28]]]},
         "document": {"kind": "survey", "number": "GEO-2026-17"}})

    def run(self, conn: Any, data: dict[str, Any], common: dict[str, Any]) -> registry.Result:
        """Correct."""
        return registry.correct_boundary(conn, str(data.get("cadastral_number", "")),
                                         data.get("geometry"), srid=srid_from_crs(data.get("crs")),
                                         expected_version=data.get("expected_version"), **common)


class RightTransfer(RegistryProcess):
    """Transfer ownership, whole or in shares."""

    METADATA = _meta(
        "right-transfer", "Transfer ownership",
        "Transfer a parcel's ownership: the whole parcel to new owners (shares summing to 1),"
        " or part of one owner's share (from_party). Shares always sum to 1 afterwards."
        " Parties by id, PINFL or INN; an object with the PINFL and the person's name"
        " registers a new person (see docs/REGISTRY.md)."
        " Blocked by an active arrest.",
        {"cadastral_number": _NUMBER,
         "from_party": {"title": "From party", "description": "Owner who transfers (id/PINFL/INN)",
                        "schema": {"type": ["string", "integer"]}, "minOccurs": 0, "maxOccurs": 1},
         "to": {"title": "Recipients", "description": "[{party, share: '1/2'}]",
                "schema": {"type": "array", "items": {"type": "object"}},
                "minOccurs": 1, "maxOccurs": 1},
         "document": _DOC, "dry_run": _DRY},
        {"cadastral_number": "10:09:03:01:01:0045",
         "to": [{"party": 1, "share": "1/2"}, {"party": 2, "share": "1/2"}],
         "document": {"kind": "sale_contract", "number": "N-2026-001"}})

    def run(self, conn: Any, data: dict[str, Any], common: dict[str, Any]) -> registry.Result:
        """Transfer."""
        to = data.get("to")
        if not isinstance(to, list):
            raise InvalidInput("to must be a list of {party, share}")
        return registry.transfer(conn, str(data.get("cadastral_number", "")), to=to,
                                 from_party=data.get("from_party"), **common)


class EncumbranceRegister(RegistryProcess):
    """Register a mortgage, lease, servitude, permanent use or arrest."""

    METADATA = _meta(
        "encumbrance-register", "Register an encumbrance or arrest",
        "Register a mortgage, lease, servitude, permanent use or an arrest (ban) on a parcel."
        " An active arrest blocks transfer, split and merge.",
        {"cadastral_number": _NUMBER,
         "kind": {"title": "Kind", "description": "Encumbrance kind",
                  "schema": {"type": "string", "enum": list(registry.ENCUMBRANCES)},
                  "minOccurs": 1, "maxOccurs": 1},
         "party": {"title": "Holder party", "description": "id, PINFL or INN",
                   "schema": {"type": ["string", "integer", "object"]}, "minOccurs": 0,
                   "maxOccurs": 1},
         "holder": {"title": "Holder", "description": "Holder name (bank, court, utility)",
                    "schema": {"type": "string"}, "minOccurs": 0, "maxOccurs": 1},
         "amount_uzs": {"title": "Amount (UZS)", "description": "Loan or rent",
                        "schema": {"type": "number"}, "minOccurs": 0, "maxOccurs": 1},
         "starts_on": {"title": "Starts on", "description": "YYYY-MM-DD",
                       "schema": {"type": "string", "format": "date"}, "minOccurs": 0,
                       "maxOccurs": 1},
         "ends_on": {"title": "Ends on", "description": "YYYY-MM-DD",
                     "schema": {"type": "string", "format": "date"}, "minOccurs": 0,
                     "maxOccurs": 1},
         "registration_number": {"title": "Registration number", "description": "e.g. IP-0001",
                                 "schema": {"type": "string"}, "minOccurs": 0, "maxOccurs": 1},
         "note": {"title": "Note", "description": "Free text", "schema": {"type": "string"},
                  "minOccurs": 0, "maxOccurs": 1},
         "document": _DOC, "dry_run": _DRY},
        {"cadastral_number": "10:09:03:01:01:0045", "kind": "mortgage",
         "holder": "Example Bank", "amount_uzs": 250000000,
         "document": {"kind": "mortgage_agreement", "number": "IP-2026-77"}})

    def run(self, conn: Any, data: dict[str, Any], common: dict[str, Any]) -> registry.Result:
        """Register."""
        return registry.register_encumbrance(
            conn, str(data.get("cadastral_number", "")), str(data.get("kind", "")),
            party=data.get("party"), holder=data.get("holder"), amount_uzs=data.get("amount_uzs"),
            starts_on=data.get("starts_on"), ends_on=data.get("ends_on"),
            registration_number=data.get("registration_number"), note=data.get("note"), **common)


class EncumbranceRelease(RegistryProcess):
    """Release an encumbrance or lift an arrest."""

    METADATA = _meta(
        "encumbrance-release", "Release an encumbrance or lift an arrest",
        "End an active mortgage, lease, servitude, permanent use or arrest, by right id or by"
        " parcel number and registration number.",
        {"right_id": {"title": "Right id", "description": "Id of the encumbrance",
                      "schema": {"type": "integer"}, "minOccurs": 0, "maxOccurs": 1},
         "cadastral_number": {**_NUMBER, "minOccurs": 0},
         "registration_number": {"title": "Registration number", "description": "e.g. AR-0001",
                                 "schema": {"type": "string"}, "minOccurs": 0, "maxOccurs": 1},
         "document": _DOC, "dry_run": _DRY},
        {"right_id": 42, "document": {"kind": "release_order", "number": "RO-2026-5"}})

    def run(self, conn: Any, data: dict[str, Any], common: dict[str, Any]) -> registry.Result:
        """Release."""
        rid = data.get("right_id")
        try:
            rid = int(rid) if rid not in (None, "") else None
        except (TypeError, ValueError) as exc:
            raise InvalidInput("right_id must be an integer") from exc
        return registry.release_encumbrance(
            conn, rid, number=data.get("cadastral_number"),
            registration_number=data.get("registration_number"), **common)

