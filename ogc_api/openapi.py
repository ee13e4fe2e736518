"""Our OpenAPI document: pygeoapi's, made self-contained and completed for the items routes.

pygeoapi points many responses and parameters at schemas.opengis.net; offline clients and
validators cannot follow those, so ``localize`` replaces each remote reference with a local
component. ``complete`` then describes the items routes as ``web/ogc.py`` serves them: every
query parameter (``datetime``, ``filter*``, ``cursor``...), PATCH, ``If-Match`` and
``Content-Crs``, the security schemes (bearer token, Basic) of the Part 4 writes, and the 4xx
responses with the exception body that ``cadastre_gis.errors`` produces.
"""

from __future__ import annotations

import re
from typing import Any

_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_GEOJSON = {"application/geo+json": {"schema": {"type": "object"}}}
_EXCEPTION = {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}}

RESPONSES: dict[str, dict[str, Any]] = {
    "LandingPage": {"description": "The landing page", "content": _JSON_OBJECT},
    "Conformance": {"description": "Conformance classes", "content": _JSON_OBJECT},
    "Collections": {"description": "The feature collections", "content": _JSON_OBJECT},
    "Collection": {"description": "One feature collection", "content": _JSON_OBJECT},
    "Features": {"description": "A page of features", "content": _GEOJSON},
    "Feature": {"description": "One feature", "content": _GEOJSON},
    "InvalidParameter": {"description": "A query parameter is invalid", "content": _EXCEPTION},
    "NotFound": {"description": "The resource does not exist", "content": _EXCEPTION},
    "ServerError": {"description": "A server error occurred", "content": _EXCEPTION},
}

PARAMETERS: dict[str, dict[str, Any]] = {
    "datetime": {"name": "datetime", "in": "query", "required": False, "style": "form",
                 "explode": False, "schema": {"type": "string"},
                 "description": "Instant or interval (RFC 3339); for parcels and buildings an "
                                "instant returns the registry state as of then"},
    "featureId": {"name": "featureId", "in": "path", "required": True,
                  "schema": {"type": "string"},
                  "description": "Feature id (parcels and buildings: also cadastral number)"},
    "tileMatrixSetId": {"name": "tileMatrixSetId", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": ["WebMercatorQuad"]}},
    "tileMatrix": {"name": "tileMatrix", "in": "path", "required": True,
                   "schema": {"type": "string"}, "description": "Zoom level"},
    "tileRow": {"name": "tileRow", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 0}},
    "tileCol": {"name": "tileCol", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 0}},
    "sortby": {"name": "sortby", "in": "query", "required": False, "style": "form",
               "explode": False, "schema": {"type": "array", "items": {"type": "string"}},
               "description": "Comma-separated properties, each optionally prefixed + or -"},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "link": {"type": "object", "required": ["href"],
             "properties": {"href": {"type": "string"}, "rel": {"type": "string"},
                            "type": {"type": "string"}, "title": {"type": "string"}}},
    "exception": {"type": "object", "required": ["code", "description"],
                  "description": "OGC exception: a code and a short message",
                  "properties": {"code": {"type": "string"}, "type": {"type": "string"},
                                 "description": {"type": "string"},
                                 "details": {"type": "object"}}},
    "cql2": {"type": "object", "description": "CQL2 JSON expression"},
}

_WHOLE_FILE = {"cql2.json": ("schemas", "cql2"), "sortby.yaml": ("parameters", "sortby"),
               "exception.yaml": ("schemas", "exception")}
_STOCK = {"responses": RESPONSES, "parameters": PARAMETERS, "schemas": SCHEMAS}


def _local(ref: str) -> tuple[str, str]:
    """(component kind, name) for a remote reference."""
    url, _, fragment = ref.partition("#")
    m = re.fullmatch(r"/components/(\w+)/(\w+)", fragment)
    if m:
        return m.group(1), m.group(2)
    name = url.rsplit("/", 1)[-1]
    if name in _WHOLE_FILE:
        return _WHOLE_FILE[name]
    return "schemas", re.sub(r"\W", "_", name.rsplit(".", 1)[0])


def localize(doc: dict[str, Any]) -> dict[str, Any]:
    """Replace remote ``$ref``s in an OpenAPI document by local components (in place)."""
    components = doc.setdefault("components", {})

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(("http://", "https://")):
                kind, name = _local(ref)
                target = components.setdefault(kind, {})
                if name not in target:
                    target[name] = _STOCK.get(kind, {}).get(name) or (
                        {"description": name, "content": _JSON_OBJECT} if kind == "responses"
                        else {"type": "object"})
                node["$ref"] = f"#/components/{kind}/{name}"
            for value in list(node.values()):
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return doc


# -- the items routes (web/ogc.py) -----------------------------------------------------------

def _q(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, **extra}


def _crs_schema() -> dict[str, Any]:
    from .sql import SUPPORTED_CRS

    return {"type": "string", "format": "uri", "enum": list(SUPPORTED_CRS)}


def item_parameters(max_limit: int = 10000,
                    default_limit: int = 100) -> dict[str, dict[str, Any]]:
    """Query and header parameters of the items routes, as OpenAPI components."""
    from .cql import JSON, TEXT

    crs = _crs_schema()
    return {
        "items-f": _q("f", "Encoding (default: GeoJSON; browsers get HTML)",
                      {"type": "string", "enum": ["json", "html", "csv"]}),
        "item-f": _q("f", "Encoding (default: GeoJSON; browsers get HTML)",
                     {"type": "string", "enum": ["json", "html"]}),
        "bbox": _q("bbox", "minx,miny,maxx,maxy (or 6 numbers) in bbox-crs; in CRS84 a minx"
                   " east of maxx crosses the antimeridian",
                   {"type": "array", "minItems": 4, "maxItems": 6,
                    "items": {"type": "number"}}, style="form", explode=False),
        "bbox-crs": _q("bbox-crs", "CRS of bbox (default CRS84)", crs),
        "crs": _q("crs", "CRS of the response geometries (default CRS84)", crs),
        "datetime": _q("datetime", "Instant or interval (RFC 3339, a/b, ../b, a/..); for"
                       " parcels and buildings an instant gives the registry state then",
                       {"type": "string"}),
        "limit": _q("limit", "Features per page", {"type": "integer", "minimum": 1,
                                                   "maximum": max_limit,
                                                   "default": default_limit}),
        "offset": _q("offset", "Start of a page sorted by sortby (next links carry it)",
                     {"type": "integer", "minimum": 0, "maximum": 10000000}),
        "cursor": _q("cursor", "Keyset page token; follow the next link as given",
                     {"type": "string"}),
        "filter": _q("filter", "CQL2 filter over the queryables", {"type": "string"}),
        "filter-lang": _q("filter-lang", "Language of filter (cql-text: GDAL's older name of"
                          " cql2-text)", {"type": "string", "enum": [TEXT, JSON, "cql-text"],
                                          "default": TEXT}),
        "filter-crs": _q("filter-crs", "CRS of geometry literals in filter (default CRS84)",
                         crs),
        "properties": _q("properties", "Properties to return (comma-separated queryables)",
                         {"type": "array", "items": {"type": "string"}}, style="form",
                         explode=False),
        "sortby": _q("sortby", "Comma-separated queryables, each optionally prefixed + or -",
                     {"type": "array", "items": {"type": "string"}}, style="form",
                     explode=False),
        "skipGeometry": _q("skipGeometry", "Leave the geometries out", {"type": "boolean"}),
        "resulttype": _q("resulttype", "hits: only numberMatched",
                         {"type": "string", "enum": ["results", "hits"]}),
        "numberMatched": _q("numberMatched", "Count the matches (costs a query)",
                            {"type": "boolean"}),
        "If-Match": {"name": "If-Match", "in": "header", "required": False,
                     "description": "ETag of the item as read (optimistic locking; 412 when"
                                    " stale, 428 when required by the server and missing)",
                     "schema": {"type": "string"}},
        "Content-Crs": {"name": "Content-Crs", "in": "header", "required": False,
                        "description": "CRS of the body's geometry, e.g."
                                       " <http://www.opengis.net/def/crs/EPSG/0/32642>",
                        "schema": {"type": "string"}},
    }


ITEMS_QUERY = ["items-f", "bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "cursor",
               "filter", "filter-lang", "filter-crs", "properties", "sortby", "skipGeometry",
               "resulttype", "numberMatched"]


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _ref("responses", f"Error{c}") for c in codes}


_ERROR_TEXT = {400: "Bad request (invalid parameter, body or filter)", 401: "Not signed in",
               403: "The caller's role may not do this", 404: "No such collection or item",
               409: "A registry rule refused the change (message names the rule)",
               412: "If-Match names an older version", 413: "The body is too large",
               428: "If-Match is required", 503: "The database did not answer"}


def complete(doc: dict[str, Any], max_limit: int = 10000,
             default_limit: int = 100) -> dict[str, Any]:
    """Describe the items routes as served by ``web/ogc.py`` (in place)."""
    from .collections import COLLECTIONS
    from .writes import WRITABLE

    comp = doc.setdefault("components", {})
    comp.setdefault("parameters", {}).update(item_parameters(max_limit, default_limit))
    responses = comp.setdefault("responses", {})
    for code, text in _ERROR_TEXT.items():
        responses[f"Error{code}"] = {"description": text, "content": _EXCEPTION}
    comp.setdefault("schemas", {}).update(SCHEMAS)
    comp["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer",
                       "description": "API token from `cadastre-gis tokens create NAME`"},
        "basicAuth": {"type": "http", "scheme": "basic"},
    }
    etag = {"ETag": {"description": "Version tag of the item", "schema": {"type": "string"}}}
    writers = [{"bearerAuth": []}, {"basicAuth": []}]
    for cid, c in COLLECTIONS.items():
        items_path = doc["paths"].get(f"/collections/{cid}/items")
        item_path = doc["paths"].get(f"/collections/{cid}/items/{{featureId}}")
        if items_path is None or item_path is None:
            continue
        fields = [{"name": f.name, "in": "query", "required": False,
                   "description": f"Equality on {f.name}",
                   "schema": {"type": f.type, **({"format": f.format} if f.format else {})}}
                  for f in c.fields]
        pages = {"200": {"description": "A page of features", "content": {
            "application/geo+json": {"schema": {"type": "object"}},
            "text/html": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}}}}}
        items_path["get"] = {
            "summary": f"{c.title}: features", "tags": [cid],
            "operationId": f"get{cid.title()}Features",
            "parameters": [_ref("parameters", n) for n in ITEMS_QUERY] + fields,
            "responses": {**pages, **_errors(400, 404, 503)}}
        post: dict[str, Any] = {
            "summary": f"{c.title}: search with a CQL2 JSON body"
                       + (" or create a feature (Part 4)" if cid in WRITABLE else ""),
            "tags": [cid], "operationId": f"post{cid.title()}Features",
            "parameters": [_ref("parameters", n) for n in ITEMS_QUERY if n != "filter"],
            "requestBody": {"required": True, "content": {
                "application/query-cql-json": {"schema": _ref("schemas", "cql2")}}},
            "responses": {**pages, **_errors(400, 404, 413)}}
        if cid in WRITABLE:
            post["requestBody"]["content"]["application/geo+json"] = {
                "schema": {"type": "object", "description": "GeoJSON Feature"}}
            post["parameters"].append(_ref("parameters", "Content-Crs"))
            post["security"] = [{}, *writers]
            post["responses"]["201"] = {"description": "Created", "headers": {
                **etag, "Location": {"schema": {"type": "string"}}}}
            post["responses"].update(_errors(401, 403, 409))
        items_path["post"] = post
        allow = {"200": {"description": "Allowed methods (write methods only for a caller"
                                        " who may write)",
                         "headers": {"Allow": {"schema": {"type": "string"}}}}}
        items_path["options"] = {"summary": f"{c.title}: allowed methods", "tags": [cid],
                                 "operationId": f"options{cid.title()}Features",
                                 "responses": allow}
        fid = item_path["get"]["parameters"][0]
        item_path["get"] = {
            "summary": f"{c.title}: one feature", "tags": [cid],
            "operationId": f"get{cid.title()}Feature",
            "parameters": [fid, _ref("parameters", "item-f"), _ref("parameters", "crs"),
                           _ref("parameters", "datetime")],
            "responses": {"200": {"description": "The feature", "headers": etag, "content": {
                "application/geo+json": {"schema": {"type": "object"}},
                "text/html": {"schema": {"type": "string"}}}},
                "304": {"description": "Not modified (If-None-Match)"},
                **_errors(400, 404, 503)}}
        item_path["options"] = {"summary": f"{c.title}: allowed methods", "tags": [cid],
                                "operationId": f"options{cid.title()}Feature",
                                "parameters": [fid], "responses": allow}
        for method in ("put", "patch", "delete"):
            item_path.pop(method, None)
        if cid not in WRITABLE:
            continue
        body = {"required": True, "content": {
            "application/geo+json": {"schema": {"type": "object",
                                                "description": "GeoJSON Feature"}}}}
        written = {"204": {"description": "Written", "headers": etag}}
        refused = _errors(400, 401, 403, 404, 409, 412, 413, 428)
        item_path["put"] = {
            "summary": f"{c.title}: replace a feature", "tags": [cid],
            "operationId": f"replace{cid.title()}Feature", "security": writers,
            "parameters": [fid, _ref("parameters", "If-Match"),
                           _ref("parameters", "Content-Crs")],
            "requestBody": body, "responses": {**written, **refused}}
        patch_body = {"required": True, "content": {
            **body["content"],
            "application/merge-patch+json": {"schema": {"type": "object"}}}}
        item_path["patch"] = {
            "summary": f"{c.title}: update a feature (properties and/or geometry)",
            "tags": [cid], "operationId": f"update{cid.title()}Feature", "security": writers,
            "parameters": [fid, _ref("parameters", "If-Match"),
                           _ref("parameters", "Content-Crs")],
            "requestBody": patch_body, "responses": {**written, **refused}}
        item_path["delete"] = {
            "summary": f"{c.title}: delete a feature (parcels and buildings are retired,"
                       " their history kept)",
            "tags": [cid], "operationId": f"delete{cid.title()}Feature", "security": writers,
            "parameters": [fid, _ref("parameters", "If-Match")],
            "responses": {"200": {"description": "Deleted"},
                          **_errors(401, 403, 404, 409, 412, 428)}}
    return doc
