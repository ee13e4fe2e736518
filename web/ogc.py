"""Mount pygeoapi's API object at /ogc, with our identity, authorization and error handling.

We do not import ``pygeoapi.flask_app`` (it reads a YAML config at import time); we build the
config from our settings and route to pygeoapi's API functions ourselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, make_response, request

from cadastre_gis import context

from .security import current_account, current_actor, require

bp = Blueprint("ogc", __name__, url_prefix="/ogc")


def init_app(app: Flask) -> None:
    """Build pygeoapi's API for this app and register the /ogc routes."""
    from pygeoapi.api import API
    from pygeoapi.openapi import get_oas

    from ogc_api import patches
    from ogc_api.config import build_config
    from ogc_api.openapi import localize

    settings = app.extensions["cadastre_settings"]
    config = build_config(settings)
    patches.install()
    openapi = localize(get_oas(config, fail_on_invalid_collection=False))
    api_ = API(config, openapi)
    # pygeoapi 0.24 renders the TileMatrixSets pages with the whole config as template
    # config; a top-level 'path' makes those pages use our offline templates too.
    api_.tpl_config["path"] = config["server"]["templates"]["path"]
    app.extensions["pygeoapi"] = api_
    app.extensions["pygeoapi_config"] = config
    app.register_blueprint(bp)


def api() -> Any:
    """The app's pygeoapi API object."""
    return current_app.extensions["pygeoapi"]


def dispatch(fn: Callable, *args: Any, skip_valid_check: bool = False,
             raw: bool = False) -> Response:
    """Run one pygeoapi API function for the current request.

    ``raw``: an items request whose features may come back as PostGIS's JSON text
    (see ``_items_page``).
    """
    from pygeoapi.api import APIRequest, apply_gzip

    from ogc_api import context as ogc_context

    a = api()
    context.set_caller(current_account(), current_actor())
    ogc_req = ogc_context.begin(a.base_url.rstrip("/") + request.path[len(bp.url_prefix or ""):],
                                list(request.args.items(multi=True)))
    ogc_req.method = request.method
    ogc_req.if_match = request.headers.get("If-Match")
    ogc_req.content_crs = request.headers.get("Content-Crs")
    ogc_req.require_if_match = current_app.extensions["cadastre_settings"].require_if_match
    api_request = APIRequest.from_flask(request, a.locales)
    ogc_req.raw_ok = raw and api_request.format in (None, "json")
    if not skip_valid_check and not api_request.is_valid():
        headers, status, content = a.get_format_exception(api_request)
    else:
        headers, status, content = fn(a, api_request, *args)
        content = apply_gzip(headers, content)
    response = make_response(content, status)
    # Keep Flask's Headers object (sessions add Vary to it); pygeoapi gives a plain dict.
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@bp.route("/")
def landing_page() -> Response:
    """OGC API landing page."""
    import pygeoapi.api as core

    return dispatch(core.landing_page)


@bp.route("/openapi")
def openapi() -> Response:
    """OpenAPI document."""
    import pygeoapi.api as core

    return dispatch(core.openapi_)


@bp.route("/conformance")
def conformance() -> Response:
    """Conformance classes."""
    import pygeoapi.api as core

    return dispatch(core.conformance)


@bp.route("/TileMatrixSets")
@bp.route("/TileMatrixSets/<tms>")
def tilematrixsets(tms: str | None = None) -> Response:
    """Tile matrix sets."""
    import pygeoapi.api.tiles as tiles

    if tms is None:
        return dispatch(tiles.tilematrixsets)
    return dispatch(tiles.tilematrixset, tms)


@bp.route("/collections")
@bp.route("/collections/<path:collection_id>")
def collections(collection_id: str | None = None) -> Response:
    """Collections and one collection."""
    import pygeoapi.api as core

    return dispatch(core.describe_collections, collection_id)


@bp.route("/collections/<path:collection_id>/queryables")
def queryables(collection_id: str) -> Response:
    """Queryables of a collection."""
    import pygeoapi.api.itemtypes as it

    return dispatch(it.get_collection_queryables, collection_id)


@bp.route("/collections/<path:collection_id>/schema")
def schema(collection_id: str) -> Response:
    """Schema of a collection."""
    import pygeoapi.api as core

    return dispatch(core.get_collection_schema, collection_id)


@bp.route("/collections/<path:collection_id>/items", methods=["GET", "POST", "OPTIONS"],
          provide_automatic_options=False)
@bp.route("/collections/<path:collection_id>/items/<path:item_id>",
          methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"], provide_automatic_options=False)
def items(collection_id: str, item_id: str | None = None) -> Response:
    """Items: read (public) and, for authorized roles, write (Part 4)."""
    import pygeoapi.api.itemtypes as it

    m = request.method
    if m in ("POST", "PUT", "PATCH", "DELETE") and not (
            m == "POST" and item_id is None and request.content_type
            and not request.content_type.startswith("application/geo+json")):
        require(f"features.write.{collection_id}")
    if item_id is None:
        if m == "POST":
            if request.content_type and request.content_type.startswith("application/geo+json"):
                return _written(dispatch(it.manage_collection_item, "create", collection_id,
                                         skip_valid_check=True))
            return _items_page(dispatch(it.get_collection_items, collection_id,
                                        skip_valid_check=True, raw=True))
        if m == "OPTIONS":
            return _allow(dispatch(it.manage_collection_item, "options", collection_id,
                                   skip_valid_check=True), item=False)
        return _items_page(dispatch(it.get_collection_items, collection_id,
                                    skip_valid_check=True, raw=True))
    if m == "DELETE":
        return _written(dispatch(it.manage_collection_item, "delete", collection_id, item_id,
                                 skip_valid_check=True))
    if m in ("PUT", "PATCH"):
        return _written(dispatch(it.manage_collection_item, "update", collection_id, item_id,
                                 skip_valid_check=True))
    if m == "OPTIONS":
        return _allow(dispatch(it.manage_collection_item, "options", collection_id, item_id,
                               skip_valid_check=True), item=True)
    response = dispatch(it.get_collection_item, collection_id, item_id)
    return _with_etag(response, cache_seconds=0)


@bp.route("/collections/<path:collection_id>/tiles")
def tiles_list(collection_id: str) -> Response:
    """Tilesets of a collection."""
    import pygeoapi.api.tiles as tiles

    return dispatch(tiles.get_collection_tiles, collection_id)


@bp.route("/collections/<path:collection_id>/tiles/<tms>")
@bp.route("/collections/<path:collection_id>/tiles/<tms>/metadata")
def tiles_metadata(collection_id: str, tms: str) -> Response:
    """Tileset metadata."""
    import pygeoapi.api.tiles as tiles

    return dispatch(tiles.get_collection_tiles_metadata, collection_id, tms,
                    skip_valid_check=True)


@bp.route("/collections/<path:collection_id>/tiles/<tms>/<z>/<y>/<x>")
def tile(collection_id: str, tms: str, z: str, y: str, x: str) -> Response:
    """One MVT tile (OGC order: tileMatrix/tileRow/tileCol = z/y/x), from the tile cache.

    Stored gzip-compressed: sent as ``Content-Encoding: gzip`` to clients that accept it,
    decompressed for the others (so no later layer compresses it again).
    """
    import gzip

    from ogc_api import tiles

    t = tiles.parse(collection_id, tms, z, y, x, request.args.get("f"))
    gz, hit = tiles.gzipped_tile(current_app.extensions["cadastre_settings"], t)
    tag = hashlib.blake2b(gz, digest_size=12).hexdigest()
    if request.accept_encodings["gzip"] > 0:
        response = Response(gz, mimetype=tiles.MVT_MEDIA_TYPE)
        response.headers["Content-Encoding"] = "gzip"
        etag = f'"{tag}-gz"'
    else:
        response = Response(gzip.decompress(gz), mimetype=tiles.MVT_MEDIA_TYPE)
        etag = f'"{tag}"'
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["X-Tile-Cache"] = "hit" if hit else "miss"
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = f"public, max-age={t.coll.cache_seconds}"
    if etag in [v.strip() for v in request.headers.get("If-None-Match", "").split(",")]:
        response.status_code = 304
        response.set_data(b"")
        response.headers.pop("Content-Encoding", None)
    return response


def _allow(response: Response, item: bool) -> Response:
    """OPTIONS: the methods QGIS looks for (it enables editing only from ``Allow``).

    Write methods are listed only for callers whose role may write the collection, so QGIS
    offers editing to a registrar and not to a viewer or an anonymous user.
    """
    from cadastre_gis import policy

    from .security import current_role

    allow = [x.strip() for x in response.headers.get("Allow", "").split(",") if x.strip()]
    if item and "PUT" in allow and "PATCH" not in allow:
        allow.insert(allow.index("PUT") + 1, "PATCH")
    cid = (request.view_args or {}).get("collection_id", "")
    if not policy.allowed(current_role(), f"features.write.{cid}"):
        allow = [m for m in allow if m not in ("POST", "PUT", "PATCH", "DELETE")]
    if allow and "OPTIONS" not in allow:
        allow.append("OPTIONS")
    if allow:
        response.headers["Allow"] = ", ".join(allow)
    return response


def _written(response: Response) -> Response:
    """After a Part 4 write: the item's new ETag (its version), so a client can write again."""
    from ogc_api import context as ogc_context

    etag = ogc_context.current().etag
    if response.status_code in (200, 201, 204) and etag and request.method != "DELETE":
        response.headers["ETag"] = etag
    return response


def _items_page(response: Response) -> Response:
    """Splice PostGIS's features JSON into pygeoapi's page; drop a wrong next link.

    Our provider hands pygeoapi a placeholder list (see ``ogc_api.provider``) so that the
    features are never parsed into Python objects and dumped again; pygeoapi serializes it
    as ``"features":[]``, which we replace here with the JSON text from PostGIS.
    """
    import json

    from ogc_api import context as ogc_context

    req = ogc_context.current()
    if req.raw_features is not None:
        if response.status_code == 200:
            body = response.get_data(as_text=True)
            marker = '"features":[]'
            i = body.find(marker)
            if i < 0:  # never expected: fail loudly rather than serve an empty page
                raise RuntimeError("features placeholder missing from the items page")
            response.set_data(body[:i] + '"features":' + req.raw_features
                              + body[i + len(marker):])
        req.raw_features = None
    if (req.drop_next and response.status_code == 200
            and "json" in (response.content_type or "")):
        doc = json.loads(response.get_data())
        doc["links"] = [link for link in doc.get("links", []) if link.get("rel") != "next"]
        response.set_data(json.dumps(doc, ensure_ascii=False))
    return response


def _with_etag(response: Response, cache_seconds: int) -> Response:
    """Add ETag (the provider's version tag, else a content hash), Cache-Control, 304."""
    import hashlib

    from ogc_api import context as ogc_context

    if response.status_code != 200:
        return response
    etag = ogc_context.current().etag
    fmt = request.args.get("f")
    if etag and fmt not in (None, "json"):
        etag = None  # the version tag names the JSON representation only
    if etag is None:
        etag = '"' + hashlib.blake2b(response.get_data(), digest_size=12).hexdigest() + '"'
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = (f"public, max-age={cache_seconds}" if cache_seconds
                                         else "no-cache")
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response.status_code = 304
        response.set_data(b"")
    return response


@bp.route("/processes")
@bp.route("/processes/<process_id>")
def processes(process_id: str | None = None) -> Response:
    """Process list and descriptions."""
    import pygeoapi.api.processes as pr

    return dispatch(pr.describe_processes, process_id)


@bp.route("/processes/<process_id>/execution", methods=["POST"])
def execute(process_id: str) -> Response:
    """Execute a process, after checking the caller against the process's policy action."""
    import pygeoapi.api.processes as pr

    from ogc_api.config import PROCESS_POLICY

    require(PROCESS_POLICY.get(process_id, "accounts.manage"))
    return dispatch(pr.execute_process, process_id, skip_valid_check=True)


@bp.route("/jobs")
@bp.route("/jobs/<job_id>", methods=["GET", "DELETE"])
def jobs(job_id: str | None = None) -> Response:
    """Jobs (synchronous execution keeps none)."""
    import pygeoapi.api.processes as pr

    if job_id is None:
        return dispatch(pr.get_jobs)
    if request.method == "DELETE":
        require("accounts.manage")
        return dispatch(pr.delete_job, job_id)
    return dispatch(pr.get_jobs, job_id)


@bp.route("/jobs/<job_id>/results")
def job_results(job_id: str) -> Response:
    """Job results."""
    import pygeoapi.api.processes as pr

    return dispatch(pr.get_job_result, job_id)
