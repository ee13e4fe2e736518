"""HTML pages of the items routes, rendered with pygeoapi's template engine and our templates.

We rely on one pygeoapi function here, ``pygeoapi.util.render_j2_template`` (our templates
extend the same ``_base.html`` as pygeoapi's own pages); ``tests/ogc_api/test_internals.py``
fails if it moves.
"""

from __future__ import annotations

from typing import Any

_TPL: dict[tuple[int, str], dict[str, Any]] = {}


def _tpl_config(api: Any, base: str) -> dict[str, Any]:
    """pygeoapi's template config with the public OGC URL of this request (cached per URL)."""
    key = (id(api), base)
    cfg = _TPL.get(key)
    if cfg is None:
        if len(_TPL) > 32:  # a handful of public addresses at most; never grow without bound
            _TPL.clear()
        cfg = {**api.tpl_config, "server": {**api.tpl_config["server"], "url": base}}
        _TPL[key] = cfg
    return cfg


def render(api: Any, base: str, template: str, data: dict[str, Any], locale: Any) -> str:
    """Render ``template`` (relative to ogc_api/templates) with pygeoapi's Jinja set-up."""
    from pygeoapi.util import render_j2_template

    return render_j2_template(_tpl_config(api, base), api.config["server"]["templates"],
                              template, data, locale)


def items_page(api: Any, base: str, cid: str, title: str, doc: dict[str, Any],
               locale: Any) -> str:
    """The HTML page of an items response."""
    uri = f"{base}/collections/{cid}/items"
    data = {**doc, "title": title, "items_path": uri, "dataset_path": f"{base}/collections/{cid}",
            "collections_path": f"{base}/collections", "id_field": "id", "itemtype": "feature"}
    return render(api, base, "collections/items/index.html", data, locale)


def item_page(api: Any, base: str, cid: str, title: str, doc: dict[str, Any],
              locale: Any) -> str:
    """The HTML page of one item."""
    data = {**doc, "title": title, "collections_path": f"{base}/collections",
            "id_field": "id"}
    return render(api, base, "collections/items/item.html", data, locale)
