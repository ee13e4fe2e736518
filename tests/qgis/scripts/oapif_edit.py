"""PyQGIS: edit the `parcels` OAPIF layer through OGC API Features Part 4 with a token.

Spec (stdin JSON): base (…/ogc), token, username, bbox (CRS84 [minx, miny, maxx, maxy] around
the parcel), parcel_id. Credentials come from a QGIS auth configuration in a temporary auth
database (QGIS_AUTH_DB_DIR_PATH) with a master password: method APIHeader
(Authorization: Bearer …), then method Basic (user name + token as password).
"""

import json
import sys

from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsProject,
    QgsRectangle,
    QgsVectorDataProvider,
    QgsVectorLayer,
)

spec = json.load(sys.stdin)
app = QgsApplication([], False)
app.initQgis()
am = QgsApplication.authManager()
assert am.setMasterPassword("test-master-password", True), "master password"
out = {"methods": sorted(am.authMethodsKeys())}


def store(method, config):
    cfg = QgsAuthMethodConfig()
    cfg.setMethod(method)
    cfg.setName(f"cadastre {method}")
    for k, v in config.items():
        cfg.setConfig(k, v)
    res = am.storeAuthenticationConfig(cfg)
    ok = res[0] if isinstance(res, tuple) else res
    assert ok, f"could not store {method} auth config"
    return (res[1] if isinstance(res, tuple) else cfg).id()


def open_layer(authcfg):
    uri = f"url='{spec['base']}' typename='parcels' authcfg={authcfg}"
    lyr = QgsVectorLayer(uri, "parcels", "OAPIF")
    assert lyr.isValid(), f"OAPIF layer not valid: {lyr.error().summary()}"
    return lyr


def find(lyr):
    b = spec["bbox"]
    rect = QgsRectangle(b[0], b[1], b[2], b[3])
    tr = QgsCoordinateTransform(QgsCoordinateReferenceSystem("OGC:CRS84"), lyr.crs(),
                                QgsProject.instance())
    req = QgsFeatureRequest().setFilterRect(tr.transformBoundingBox(rect))
    for f in lyr.getFeatures(req):
        if int(f["id"]) == spec["parcel_id"]:
            return f
    raise AssertionError("parcel not found through OAPIF")


# (1) APIHeader: change an attribute and the geometry, commit
header_cfg = store("APIHeader", {"Authorization": f"Bearer {spec['token']}"})
lyr = open_layer(header_cfg)
caps = lyr.dataProvider().capabilities()
out["can_change_attributes"] = bool(caps & QgsVectorDataProvider.ChangeAttributeValues)
out["can_change_geometry"] = bool(caps & QgsVectorDataProvider.ChangeGeometries)
out["can_add"] = bool(caps & QgsVectorDataProvider.AddFeatures)
out["layer_crs"] = lyr.crs().authid()
f = find(lyr)
lyr.startEditing()
lyr.changeAttributeValue(f.id(), lyr.fields().indexOf("address"), "edited in QGIS over OAPIF")
g = f.geometry()
v = g.vertexAt(2)
# move one corner outwards by about 1 m (in degrees when the layer CRS is geographic)
step = 1.0e-5 if lyr.crs().isGeographic() else 1.0
g.moveVertex(v.x() + step, v.y() + step, 2)
lyr.changeGeometry(f.id(), g)
out["commit1"] = lyr.commitChanges()
out["errors1"] = lyr.commitErrors()

# (2) Basic: user name + token as password, change an attribute
basic_cfg = store("Basic", {"username": spec["username"], "password": spec["token"]})
lyr2 = open_layer(basic_cfg)
f2 = find(lyr2)
lyr2.startEditing()
lyr2.changeAttributeValue(f2.id(), lyr2.fields().indexOf("permitted_use"), "office")
out["commit2"] = lyr2.commitChanges()
out["errors2"] = lyr2.commitErrors()
print(json.dumps(out))
