"""Make pygeoapi's OpenAPI document self-contained (no remote ``$ref``).

pygeoapi points many responses and parameters at schemas.opengis.net; offline clients and
validators cannot follow those. We replace each remote reference with a local component.
"""

from __future__ import annotations

import re
from typing import Any

_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_GEOJSON = {"application/geo+json": {"schema": {"type": "object"}}}

RESPONSES: dict[str, dict[str, Any]] = {
    "LandingPage": {"description": "The landing page", "content": _JSON_OBJECT},
    "Conformance": {"description": "Conformance classes", "content": _JSON_OBJECT},
    "Collections": {"description": "The feature collections", "content": _JSON_OBJECT},
    "Collection": {"description": "One feature collection", "content": _JSON_OBJECT},
    "Features": {"description": "A page of features", "content": _GEOJSON},
    "Feature": {"description": "One feature", "content": _GEOJSON},
    "InvalidParameter": {"description": "A query parameter is invalid", "content": _JSON_OBJECT},
    "NotFound": {"description": "The resource does not exist", "content": _JSON_OBJECT},
    "ServerError": {"description": "A server error occurred", "content": _JSON_OBJECT},
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
    "exception": {"type": "object", "required": ["type"],
                  "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                 "status": {"type": "integer"}, "detail": {"type": "string"},
                                 "instance": {"type": "string"}}},
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
