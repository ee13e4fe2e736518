"""Staff pages: parcel search, parcel timeline and lineage, registry operations with a preview.

Every operation form first asks for a preview (the operation runs as a dry run — checked by
the same database rules — and the proposed parcels are drawn on a map); the registrar then
confirms with a normal form post carrying the CSRF token.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import text

from cadastre_gis import previews, registry
from cadastre_gis.errors import CadastreError, InvalidInput

from .db import conn, write
from .security import current_account, current_actor, require

bp = Blueprint("staff", __name__, url_prefix="/staff")

OPERATIONS = {
    "split": "Split",
    "merge": "Merge",
    "boundary": "Boundary correction",
    "transfer": "Transfer of ownership",
    "encumbrance": "Register encumbrance or arrest",
    "release": "Release encumbrance or lift arrest",
}
READ = "registry.read_private"
EDIT = "registry.edit"


@bp.app_template_global("registry_label")
def registry_label(kind: str, code: str | None) -> str:
    """Human label of a right kind (``right``) or document kind (``document``) in the page's
    language, for templates: codes stay in form values, people read names."""
    from flask_babel import get_locale

    table = previews.RIGHT_LABELS if kind == "right" else previews.DOCUMENT_LABELS
    return previews.label(table, code, str(get_locale() or "en")[:2])


@bp.route("/")
def index():  # type: ignore[no-untyped-def]
    """Parcel search by cadastral number (prefix) or address."""
    require(READ)
    q = (request.args.get("q") or "").strip()
    rows: list[dict[str, Any]] = []
    if q:
        if len(q) > 100:
            raise InvalidInput("search text is too long")
        if re.fullmatch(r"[0-9:]+", q):
            sql = ("SELECT p.cadastral_number, p.address, p.status, p.area_m2, d.name AS district"
                   "  FROM parcel p LEFT JOIN district d ON d.id = p.district_id"
                   " WHERE p.cadastral_number LIKE :q || '%'"
                   " ORDER BY (p.status = 'active') DESC, p.cadastral_number LIMIT 50")
        else:
            sql = ("SELECT p.cadastral_number, p.address, p.status, p.area_m2, d.name AS district"
                   "  FROM parcel p LEFT JOIN district d ON d.id = p.district_id"
                   " WHERE p.address ILIKE '%' || :q || '%'"
                   " ORDER BY (p.status = 'active') DESC, p.cadastral_number LIMIT 50")
        rows = [dict(r) for r in conn().execute(text(sql), {"q": q}).mappings()]
    return render_template("staff/index.html", q=q, rows=rows)


@bp.route("/parcels/<number>")
def parcel(number: str):  # type: ignore[no-untyped-def]
    """One parcel: attributes, rights, buildings, timeline of versions, lineage, operations."""
    require(READ)
    p = registry.parcel_summary(conn(), number)
    return render_template("staff/parcel.html", p=p, timeline=registry.timeline(conn(), number),
                           lineage=registry.lineage(conn(), number), operations=OPERATIONS,
                           geojson=json.dumps({"type": "Feature", "geometry": p["geometry"],
                                               "properties": {"role": "current"}}))


@bp.route("/api/parcels/<number>/lineage")
def lineage_api(number: str):  # type: ignore[no-untyped-def]
    """Ancestors and descendants of a parcel (JSON)."""
    require(READ)
    return jsonify(registry.lineage(conn(), number))


@bp.route("/api/parcels/<number>/timeline")
def timeline_api(number: str):  # type: ignore[no-untyped-def]
    """Every version of a parcel (JSON)."""
    require(READ)
    return jsonify(registry.timeline(conn(), number))


@bp.route("/api/parcels/<number>/context")
def context_api(number: str):  # type: ignore[no-untyped-def]
    """Active parcels within 150 m of a parcel, GeoJSON in CRS84 (map background)."""
    require(READ)
    number = registry.check_number(number)
    row = conn().execute(text("""
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
                 json_build_object('type', 'Feature', 'id', n.id,
                   'properties', json_build_object('cadastral_number', n.cadastral_number),
                   'geometry', ST_AsGeoJSON(ST_Transform(n.geom, 4326), 7)::json)), '[]'))
          FROM parcel p JOIN parcel n ON n.status = 'active' AND ST_DWithin(n.geom, p.geom, 150)
         WHERE p.cadastral_number = :n AND p.id = (SELECT id FROM parcel WHERE cadastral_number
               = :n ORDER BY (status = 'active') DESC, valid_from DESC LIMIT 1)"""),
        {"n": number}).scalar()
    return jsonify(row)


def _document(form: Any) -> dict[str, Any]:
    return {"kind": form.get("doc_kind") or None, "number": form.get("doc_number", ""),
            "issued_on": form.get("doc_issued_on") or None,
            "issuer": form.get("doc_issuer") or None}


def _geometry(value: str | None, what: str) -> Any:
    v = (value or "").strip()
    if not v:
        return None
    if v.startswith(("{", "[")):
        try:
            return json.loads(v)
        except ValueError as exc:
            raise InvalidInput(f"{what}: not valid GeoJSON") from exc
    return v  # WKT, lon/lat


def _recipients(value: str) -> list[dict[str, Any]]:
    """Lines "PINFL-or-INN-or-id share [full name]" → recipients."""
    out = []
    for line in (value or "").splitlines():
        parts = line.strip().split(None, 2)
        if not parts:
            continue
        if len(parts) < 2:
            raise InvalidInput(f"recipient line {line.strip()!r}: give 'PINFL share [full name]'")
        party: Any = parts[0]
        if len(parts) == 3:
            key = "pinfl" if len(parts[0]) == 14 else "inn"
            party = {key: parts[0], "full_name": parts[2]}
        out.append({"party": party, "share": parts[1]})
    return out


def run_operation(c: Any, op: str, number: str, form: Any, dry_run: bool) -> registry.Result:
    """Call the registry service for a staff form."""
    common = {"document": _document(form), "actor": current_actor(),
              "account": current_account(), "dry_run": dry_run}
    if op == "split":
        parts = _geometry(form.get("parts"), "child polygons")
        if isinstance(parts, dict) and parts.get("type") == "FeatureCollection":
            parts = [f["geometry"] for f in parts.get("features", [])]
        cut = _geometry(form.get("cut_line"), "cut line")
        return registry.split_parcel(c, number, cut_line=cut if not parts else None,
                                     parts=parts or None, srid=4326, **common)
    if op == "merge":
        others = [n for n in re.split(r"[\s,;]+", form.get("others", "")) if n]
        return registry.merge_parcels(c, [number, *others], **common)
    if op == "boundary":
        v = form.get("expected_version")
        return registry.correct_boundary(c, number, _geometry(form.get("geometry"), "boundary"),
                                         srid=4326, expected_version=int(v) if v else None,
                                         **common)
    if op == "transfer":
        return registry.transfer(c, number, to=_recipients(form.get("recipients", "")),
                                 from_party=form.get("from_party") or None, **common)
    if op == "encumbrance":
        return registry.register_encumbrance(
            c, number, form.get("kind", ""), party=form.get("party") or None,
            holder=form.get("holder") or None, amount_uzs=form.get("amount_uzs") or None,
            starts_on=form.get("starts_on") or None, ends_on=form.get("ends_on") or None,
            registration_number=form.get("registration_number") or None, **common)
    if op == "release":
        rid = form.get("right_id")
        if not rid or not str(rid).isdigit():
            raise InvalidInput("choose the encumbrance to release")
        return registry.release_encumbrance(c, int(rid), **common)
    abort(404)


@bp.route("/parcels/<number>/<op>", methods=["GET", "POST"])
def operation(number: str, op: str):  # type: ignore[no-untyped-def]
    """Operation form (GET) and confirmation (POST, CSRF-checked by web.security)."""
    require(EDIT)
    if op not in OPERATIONS:
        abort(404)
    p = registry.parcel_summary(conn(), number)
    error = None
    if request.method == "POST":
        try:
            with write() as c:
                res = run_operation(c, op, p["cadastral_number"], request.form, dry_run=False)
        except CadastreError as exc:
            error = exc.message
        else:
            flash(res.message)
            target = res.parcels[0]["cadastral_number"] if res.parcels else p["cadastral_number"]
            return redirect(url_for("staff.parcel", number=target))
    return render_template("staff/operation.html", p=p, op=op, title=OPERATIONS[op],
                           error=error, form=request.form, kinds=registry.ENCUMBRANCES,
                           doc_kinds=registry.DOCUMENT_KINDS,
                           geojson=json.dumps({"type": "Feature", "geometry": p["geometry"],
                                               "properties": {"role": "current"}})), \
        (409 if error else 200)


@bp.route("/api/preview/<number>/<op>", methods=["POST"])
def preview(number: str, op: str):  # type: ignore[no-untyped-def]
    """Dry run of an operation: the proposed result as GeoJSON (nothing is kept)."""
    require(EDIT)
    if op not in OPERATIONS:
        abort(404)
    from flask_babel import get_locale

    form = request.form if request.form else (request.get_json(silent=True) or {})
    number = registry.check_number(number)
    numbers = [number]
    if op == "merge":
        numbers += [n for n in re.split(r"[\s,;]+", form.get("others", "")) if n]
    lang = str(get_locale() or "en")[:2]
    with write() as c:
        # the operation runs for real in a savepoint that previews.preview rolls back
        pv = previews.preview(c, numbers, lambda cc: run_operation(cc, op, number, form,
                                                                  dry_run=False), lang)
    res = pv.pop("result")
    return jsonify({"result": res.to_dict(), "geojson": res.geojson(), "preview": pv})
