"""PyQGIS: open the generated project as a registrar login and edit the Parcels layer.

Spec (stdin JSON): project, mine (parcel id), other (parcel id of another district),
neighbour_gap_m. The password comes from PGPASSWORD (libpq), as a registrar would keep it
in ~/.pgpass or QGIS would ask for it.
"""

import json
import sys

from qgis.core import QgsApplication, QgsExpression, QgsFeatureRequest, QgsGeometry, QgsProject

spec = json.load(sys.stdin)
app = QgsApplication([], False)
app.initQgis()
project = QgsProject.instance()
assert project.read(spec["project"]), "project did not load"
out = {"layers": sorted(lyr.name() for lyr in project.mapLayers().values()),
       "relations": sorted(r.id() for r in project.relationManager().relations().values())}
parcels = project.mapLayersByName("Parcels")[0]
out["valid"] = parcels.isValid()
out["labels"] = parcels.labelsEnabled() and parcels.labeling().settings().fieldName
lc = parcels.fields().indexOf("land_category")
out["land_category_widget"] = parcels.editorWidgetSetup(lc).type()
out["area_read_only"] = parcels.editFormConfig().readOnly(parcels.fields().indexOf("area_m2"))


def feature(pk):
    req = QgsFeatureRequest(QgsExpression(f'"id" = {int(pk)}'))
    return next(parcels.getFeatures(req))


# (1) move a vertex of my parcel by 1 m and commit
f = feature(spec["mine"])
geom = f.geometry()
v = geom.vertexAt(1)
parcels.startEditing()
assert parcels.moveVertex(v.x() + 1.0, v.y(), f.id(), 1)
out["move_ok"] = parcels.commitChanges()
out["move_errors"] = parcels.commitErrors()

# (2) an edit that overlaps the neighbour: refused with the database's message
f = feature(spec["mine"])
parcels.startEditing()
parcels.changeGeometry(f.id(), QgsGeometry(f.geometry().buffer(spec["neighbour_gap_m"] + 5, 1)))
out["overlap_ok"] = parcels.commitChanges()
out["overlap_errors"] = " ".join(parcels.commitErrors())
parcels.rollBack()

# (3) a parcel of another district: refused
f = feature(spec["other"])
parcels.startEditing()
parcels.changeAttributeValue(f.id(), parcels.fields().indexOf("address"), "qgis was here")
out["other_ok"] = parcels.commitChanges()
out["other_errors"] = " ".join(parcels.commitErrors())
parcels.rollBack()
print(json.dumps(out))
