"""HTML pages of the items routes, rendered with pygeoapi's template engine and our templates.

We rely on one pygeoapi function here, ``pygeoapi.util.render_j2_template`` (our templates
extend the same ``_base.html`` as pygeoapi's own pages); ``tests/ogc_api/test_internals.py``
fails if it moves.
"""

from __future__ import annotations

from typing import Any


def render(api: Any, template: str, data: dict[str, Any], locale: Any) -> str:
    """Render ``template`` (relative to ogc_api/templates) with pygeoapi's Jinja set-up."""
    from pygeoapi.util import render_j2_template

    # ``api`` is the API object of this request's public root (web/ogc.py ApiCache), so its
    # template config already links to ``base``
    return render_j2_template(api.tpl_config, api.config["server"]["templates"], template,
                              data, locale)


def items_page(render: Any, base: str, cid: str, title: str, doc: dict[str, Any]) -> str:
    """The HTML page of an items response."""
    uri = f"{base}/collections/{cid}/items"
    data = {**doc, "title": title, "items_path": uri, "dataset_path": f"{base}/collections/{cid}",
            "collections_path": f"{base}/collections", "id_field": "id", "itemtype": "feature"}
    return render("collections/items/index.html", data)


def item_page(render: Any, base: str, cid: str, title: str, doc: dict[str, Any]) -> str:
    """The HTML page of one item."""
    data = {**doc, "title": title, "collections_path": f"{base}/collections",
            "id_field": "id"}
    return render("collections/items/item.html", data)
