"""Build the registrars' QGIS project with PyQGIS (run by the system python3, not the venv).

Reads a JSON spec on stdin: {"path", "conninfo", "user", "strip_password"}. Writes a .qgs with
the layers parcels, buildings, rights, districts (and the value lists land_category,
permitted_use), styles, labels with cadastral numbers, forms with value lists and
read-only computed fields, and the relations parcel → buildings → rights.
This file is executed as a script; it imports nothing from the package.
"""

import json
import os
import re
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsDataSourceUri,
    QgsDefaultValue,
    QgsEditorWidgetSetup,
    QgsFieldConstraints,
    QgsFillSymbol,
    QgsPalLayerSettings,
    QgsProject,
    QgsRelation,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
    QgsWkbTypes,
)
from qgis.PyQt.QtGui import QColor, QFont  # noqa: E402

READ_ONLY = ("id", "area_m2", "footprint_m2", "version", "valid_from", "valid_to",
             "updated_at", "updated_by", "transaction_id", "share", "district_id")


def layer(conninfo, table, name, geom="geom", subset="", key="id"):
    """A PostGIS layer (no password kept in the project)."""
    uri = QgsDataSourceUri(conninfo)
    uri.setDataSource("public", table, geom if geom else None, subset, key)
    if geom:
        uri.setSrid("32642")
        uri.setWkbType(QgsWkbTypes.MultiPolygon)
    lyr = QgsVectorLayer(uri.uri(False), name, "postgres")
    if not lyr.isValid():
        raise SystemExit(f"layer {table} is not valid: {lyr.error().summary()}")
    return lyr


def fill(lyr, color, outline, width="0.4", opacity=None):
    """Simple fill style."""
    sym = QgsFillSymbol.createSimple({"color": color, "outline_color": outline,
                                      "outline_width": width})
    if opacity is not None:
        sym.setOpacity(opacity)
    lyr.renderer().setSymbol(sym)


def label(lyr, field, size=8, scale=None):
    """Labels with a field (the cadastral number)."""
    s = QgsPalLayerSettings()
    s.fieldName = field
    s.enabled = True
    fmt = QgsTextFormat()
    fmt.setFont(QFont("Sans", size))
    fmt.setSize(size)
    fmt.setColor(QColor("#202020"))
    s.setFormat(fmt)
    if scale:
        s.scaleVisibility = True
        s.maximumScale = 1
        s.minimumScale = scale
    lyr.setLabeling(QgsVectorLayerSimpleLabeling(s))
    lyr.setLabelsEnabled(True)


def read_only(lyr):
    """Computed and bookkeeping fields are not editable in forms."""
    cfg = lyr.editFormConfig()
    for i, f in enumerate(lyr.fields()):
        if f.name() in READ_ONLY:
            cfg.setReadOnly(i, True)
    lyr.setEditFormConfig(cfg)


def value_list(lyr, field, ref_layer):
    """A drop-down from a reference table (code → English name)."""
    idx = lyr.fields().indexOf(field)
    lyr.setEditorWidgetSetup(idx, QgsEditorWidgetSetup("ValueRelation", {
        "Layer": ref_layer.id(), "LayerName": ref_layer.name(), "LayerProviderName": "postgres",
        "Key": "code", "Value": "name_en", "AllowNull": False, "OrderByValue": True,
        "AllowMulti": False, "UseCompleter": False}))


def number_constraint(lyr, pattern, example):
    """Cadastral number format as a form constraint (the database enforces it too)."""
    idx = lyr.fields().indexOf("cadastral_number")
    lyr.setConstraintExpression(idx, f"regexp_match(\"cadastral_number\", '{pattern}')",
                                f"Format {example}")
    lyr.setFieldConstraint(idx, QgsFieldConstraints.ConstraintNotNull)


def relation(project, rid, name, child, child_field, parent, parent_field="id"):
    """parent 1 → n child."""
    r = QgsRelation()
    r.setId(rid)
    r.setName(name)
    r.setReferencingLayer(child.id())
    r.setReferencedLayer(parent.id())
    r.addFieldPair(child_field, parent_field)
    if not r.isValid():
        raise SystemExit(f"relation {rid} is not valid: {r.validationError()}")
    project.relationManager().addRelation(r)


def main():
    """Build and write the project."""
    spec = json.load(sys.stdin)
    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    project.setTitle("Tashkent cadastre — registry (PostGIS)")
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:32642"))
    conninfo = spec["conninfo"]

    land = layer(conninfo, "land_category", "Land categories", geom=None, key="code")
    uses = layer(conninfo, "permitted_use", "Permitted uses", geom=None, key="code")
    districts = layer(conninfo, "district", "Districts")
    parcels = layer(conninfo, "parcel", "Parcels", subset="\"status\" = 'active'")
    buildings = layer(conninfo, "building", "Buildings", subset="\"status\" = 'active'")
    rights = layer(conninfo, "right", "Rights", geom=None, subset="\"status\" = 'active'")

    fill(districts, "255,255,255,0", "#6a3d9a", "0.8")
    label(districts, "name", 11)
    fill(parcels, "#f6e8c3", "#8c510a", "0.3")
    label(parcels, "cadastral_number", 7, scale=5000)
    fill(buildings, "#bababa", "#404040", "0.2")

    for lyr in (parcels, buildings, rights):
        read_only(lyr)
    value_list(parcels, "land_category", land)
    value_list(parcels, "permitted_use", uses)
    number_constraint(parcels, "^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}$",
                      "10:09:03:01:01:0045")
    number_constraint(buildings, "^[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{4}:[0-9]{4}$",
                      "10:09:03:01:01:0045:0001")
    # Defaults that the database would also apply, so new features start valid in the form.
    st = parcels.fields().indexOf("status")
    parcels.setDefaultValueDefinition(st, QgsDefaultValue("'active'"))
    kind_idx = rights.fields().indexOf("kind")
    rights.setEditorWidgetSetup(kind_idx, QgsEditorWidgetSetup("ValueMap", {"map": [
        {k: k} for k in ("ownership", "lease", "permanent_use", "servitude", "mortgage",
                         "arrest")]}))

    root = project.layerTreeRoot()
    ref = root.addGroup("Value lists")
    for lyr in (land, uses):
        project.addMapLayer(lyr, False)
        ref.addLayer(lyr)
    ref.setItemVisibilityChecked(False)
    for lyr in (rights, buildings, parcels, districts):
        project.addMapLayer(lyr, False)
        root.insertLayer(0, lyr)

    relation(project, "parcel_buildings", "Buildings on the parcel", buildings, "parcel_id",
             parcels)
    relation(project, "parcel_rights", "Rights on the parcel", rights, "parcel_id", parcels)
    relation(project, "building_rights", "Rights on the building", rights, "building_id",
             buildings)

    project.writeEntry("Measurement", "/DistanceUnits", "meters")
    project.writeEntry("Measurement", "/AreaUnits", "m2")
    names = [lyr.name() for lyr in (parcels, buildings, rights, districts, land, uses)]
    if not project.write(spec["path"]):
        raise SystemExit(f"could not write {spec['path']}: {project.error()}")
    app.exitQgis()
    if spec.get("strip_password", True):
        with open(spec["path"], encoding="utf-8") as fh:
            xml = fh.read()
        xml = re.sub(r" password='(?:[^'\\]|\\.)*'", "", xml)
        xml = re.sub(r" password=[^ '\"<]+", "", xml)
        user = spec.get("user")
        xml = re.sub(r" user='(?:[^'\\]|\\.)*'", f" user='{user}'" if user else "", xml)
        rw = spec.get("rewrite") or {}
        if rw.get("host"):
            xml = re.sub(r"host=[^ '\"<]+", f"host={rw['host']}", xml)
        if rw.get("port"):
            xml = re.sub(r"port=[0-9]+", f"port={int(rw['port'])}", xml)
        if rw.get("dbname"):
            xml = re.sub(r"dbname='(?:[^'\\]|\\.)*'", f"dbname='{rw['dbname']}'", xml)
        with open(spec["path"], "w", encoding="utf-8") as fh:
            fh.write(xml)
    print(json.dumps({"path": spec["path"], "layers": names}))


if __name__ == "__main__":
    main()
