"""Mount pygeoapi's API object at /ogc, with our identity, authorization and error handling.

We do not import ``pygeoapi.flask_app`` (it reads a YAML config at import time); we build the
config from our settings and route to pygeoapi's API functions ourselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, make_response, request

from cadastre_gis import context

from .compression import identity_etags
from .security import current_account, current_actor, require
from .urls import ogc_url

bp = Blueprint("ogc", __name__, url_prefix="/ogc")


def init_app(app: Flask) -> None:
    """Give the app its pygeoapi API objects (one per public root) and the /ogc routes."""
    from ogc_api import patches

    settings = app.extensions["cadastre_settings"]
    patches.install()
    app.extensions["pygeoapi_apis"] = ApiCache(settings)
    app.register_blueprint(bp)
    if settings.tile_cache_mb > 0:
        from .tiles_wsgi import TileFastLane

        # cached tiles are answered before the Flask request cycle (see web/tiles_wsgi.py)
        app.wsgi_app = TileFastLane(  # type: ignore[method-assign]
            app.wsgi_app, lambda: app.extensions["cadastre_settings"])


class ApiCache:
    """pygeoapi API objects by public root URL, built from the same settings (small LRU).

    pygeoapi writes every link (landing page, collections, OpenAPI ``servers``, TileJSON,
    HTML assets) from ``config['server']['url']`` when the API object is built, so a server
    reached at several addresses (a port, a proxy with a prefix, a host name) keeps one API
    object per address instead of rewriting pygeoapi's output or its internals.
    """

    def __init__(self, settings: Any, size: int = 8) -> None:
        import threading
        from collections import OrderedDict

        self.settings = settings
        self.size = size
        self._apis: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, root: str) -> Any:
        """The API object whose links start with ``root`` (built on first use)."""
        with self._lock:
            a = self._apis.get(root)
            if a is not None:
                self._apis.move_to_end(root)
                return a
        a = self._build(root)
        with self._lock:
            a = self._apis.setdefault(root, a)
            while len(self._apis) > self.size:
                self._apis.popitem(last=False)
        return a

    def _build(self, root: str) -> Any:
        from pygeoapi.api import API
        from pygeoapi.openapi import get_oas

        from ogc_api.config import build_config
        from ogc_api.openapi import complete, localize

        config = build_config(self.settings, root)
        oas = localize(get_oas(config, fail_on_invalid_collection=False))
        api_ = API(config, complete(oas, self.settings.max_limit, self.settings.default_limit))
        # pygeoapi 0.24 renders the TileMatrixSets pages with the whole config as template
        # config; a top-level 'path' makes those pages use our offline templates too.
        api_.tpl_config["path"] = config["server"]["templates"]["path"]
        return api_


def api() -> Any:
    """The pygeoapi API object for the current request's public address."""
    from .urls import base_url

    return current_app.extensions["pygeoapi_apis"].get(base_url())


def dispatch(fn: Callable, *args: Any, skip_valid_check: bool = False) -> Response:
    """Run one pygeoapi API function for the current request (everything but items)."""
    from pygeoapi.api import APIRequest, apply_gzip

    a = api()
    context.set_caller(current_account(), current_actor())
    api_request = APIRequest.from_flask(request, a.locales)
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
    """Conformance classes: ours (pygeoapi's list would declare what we do not offer)."""
    from ogc_api import answers

    return _answer(answers.conformance(_render, request.args.get("f"),
                                       request.headers.get("Accept")))


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


WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@bp.route("/collections/<path:collection_id>/items", methods=["GET", "HEAD", "POST", "OPTIONS"],
          provide_automatic_options=False)
def items(collection_id: str) -> Response:
    """Items: read (public; POST with a CQL2 JSON body searches) or create (Part 4)."""
    from ogc_api import items as reads

    coll = reads.collection(collection_id)
    if request.method == "OPTIONS":
        return _options(collection_id, item=False)
    body = _post_body() if request.method == "POST" else None
    if body is not None and _is_feature(body):
        require(f"features.write.{collection_id}")
        w = _writer(collection_id, "POST")
        new_id = w.create()
        response = make_response("", 201)
        response.headers["Location"] = f"{ogc_url()}/collections/{collection_id}/items/{new_id}"
        return _etag(response, w.etag)
    q = _items_query(coll, body)
    return _items_response(coll, q)


@bp.route("/collections/<path:collection_id>/items/<path:item_id>",
          methods=["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"],
          provide_automatic_options=False)
def item(collection_id: str, item_id: str) -> Response:
    """One item: read (public) or replace/update/delete (Part 4)."""
    from ogc_api import items as reads

    coll = reads.collection(collection_id)
    m = request.method
    if m == "OPTIONS":
        return _options(collection_id, item=True)
    if m in WRITE_METHODS:
        require(f"features.write.{collection_id}")
        w = _writer(collection_id, m)
        if m == "DELETE":
            w.delete(item_id)
            return make_response("", 200)
        w.update(item_id)
        return _etag(make_response("", 204), w.etag)
    return _item_response(coll, item_id)


def _settings() -> Any:
    return current_app.extensions["cadastre_settings"]


def _db_url() -> str:
    """The database URL of the OGC reads (resolved once per app: reading the embedded
    cluster's port and secret files on every request cost ~0.5 ms)."""
    url = current_app.extensions.get("ogc_db_url")
    if url is None:
        url = current_app.extensions["ogc_db_url"] = _settings().url()
    return url


def _post_body() -> Any:
    """The JSON body of a POST on /items (None when empty): a Feature or a CQL2 JSON filter."""
    from ogc_api.writes import parse_body

    raw = request.get_data(cache=True)
    return parse_body(raw) if raw.strip() else None


def _is_feature(body: Any) -> bool:
    """A Part 4 create (GeoJSON Feature) rather than a CQL2 JSON search."""
    ctype = (request.mimetype or "").lower()
    if ctype == "application/geo+json":
        return True
    return ctype != "application/query-cql-json" and body.get("type") == "Feature"


def _items_query(coll: Any, body: Any) -> Any:
    from ogc_api.params import check_query_bytes, parse_items

    check_query_bytes(request.query_string)
    s = _settings()
    return parse_items(coll, list(request.args.items(multi=True)),
                       default_limit=s.default_limit, max_limit=s.max_limit,
                       accept=request.headers.get("Accept"), body=body)


def _items_response(coll: Any, q: Any) -> Response:
    from ogc_api import answers

    return _answer(answers.items(_db_url(), ogc_url(), _render, coll, q))


def _item_response(coll: Any, item_id: str) -> Response:
    from ogc_api import answers
    from ogc_api.params import parse_item_args

    a = parse_item_args(coll, item_id, request.query_string,
                        list(request.args.items(multi=True)), request.headers.get("Accept"))
    return _answer(answers.item(_db_url(), ogc_url(), _render, coll, item_id,
                                *a))


def _answer(answer: Any) -> Response:
    """An ``ogc_api.answers.Answer`` as a response (304 when If-None-Match names its ETag)."""
    response = make_response(answer.body, 200)
    for k, v in answer.headers.items():
        response.headers[k] = v
    if answer.etag:
        response.headers["ETag"] = answer.etag
        inm = identity_etags(request.headers.get("If-None-Match")) or ""
        if answer.etag in [t.strip() for t in inm.split(",")]:
            response.status_code = 304
            response.set_data(b"")
    return response


def _render(template: str, data: dict[str, Any]) -> str:
    """An HTML page of ours with pygeoapi's template set-up, for this request's address."""
    from ogc_api import pages

    return pages.render(api(), template, data, _locale())


def _locale() -> Any:
    from pygeoapi.api import APIRequest

    return APIRequest.from_flask(request, api().locales).locale


def _writer(collection_id: str, method: str) -> Any:
    from ogc_api.writes import Writer, WriteRequest

    req = WriteRequest(collection=collection_id, method=method, account=current_account(),
                       actor=current_actor(), body=request.get_data(cache=False),
                       if_match=identity_etags(request.headers.get("If-Match")),
                       content_crs=request.headers.get("Content-Crs"),
                       require_if_match=_settings().require_if_match)
    return Writer(_settings().url(), req)


def _etag(response: Response, etag: str | None) -> Response:
    if etag:
        response.headers["ETag"] = etag
    return response


def _options(collection_id: str, item: bool) -> Response:
    """OPTIONS: the methods QGIS looks for (it enables editing only from ``Allow``).

    Write methods are listed only for callers whose role may write the collection, so QGIS
    offers editing to a registrar and not to a viewer or an anonymous user.
    """
    from cadastre_gis import policy
    from ogc_api.writes import WRITABLE

    from .security import current_role

    allow = ["HEAD", "GET"]
    if collection_id in WRITABLE and policy.allowed(current_role(),
                                                    f"features.write.{collection_id}"):
        allow += ["PUT", "PATCH", "DELETE"] if item else ["POST"]
    allow.append("OPTIONS")
    response = make_response("", 200)
    response.headers["Allow"] = ", ".join(allow)
    return response


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

    from .tiles_wsgi import accepts_gzip, tile_headers

    t = tiles.parse(collection_id, tms, z, y, x, request.args.get("f"))
    gz, hit = tiles.gzipped_tile(current_app.extensions["cadastre_settings"], t)
    gzip_ok = accepts_gzip(request.headers.get("Accept-Encoding"))
    response = Response(gz if gzip_ok else gzip.decompress(gz))
    for k, v in tile_headers(t.coll.cache_seconds, gz, gzip_ok, hit):
        response.headers[k] = v
    from .compression import identity_etags

    sent = identity_etags(request.headers.get("If-None-Match")) or ""
    if response.headers["ETag"] in [v.strip() for v in sent.split(",")]:
        response.status_code = 304
        response.set_data(b"")
        response.headers.pop("Content-Encoding", None)
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
