"""What an items request answers: body, media type and headers (no Flask here).

``web/ogc.py`` parses the request, calls one of these and turns the :class:`Answer` into a
response; the GeoJSON text comes from PostGIS (``items.py``) and is never re-parsed for the
GeoJSON encoding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import items as reads
from . import pages
from .collections import Collection
from .params import ItemsQuery
from .sql import OutputCrs

MEDIA = {"json": "application/geo+json", "csv": "text/csv; charset=utf-8",
         "html": "text/html; charset=utf-8"}


@dataclass
class Answer:
    """A response body with its headers."""

    body: str
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None


Render = Callable[[str, dict[str, Any]], str]
"""Renders an HTML template with data (pygeoapi's API object and locale are looked up only
when a page is asked for)."""


def items(url: str, base: str, render: Render, coll: Collection, q: ItemsQuery) -> Answer:
    """An items page in the requested format."""
    if q.hits:
        page = reads.Page("[]", 0, reads.count_items(url, coll, q), None, None)
    else:
        page = reads.read_items(url, coll, q)
    links = reads.page_links(base, coll.id, q, page)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = reads.feature_collection(page, links, stamp)
    if q.format == "csv":
        text = reads.to_csv(json.loads(page.features))
    elif q.format == "html":
        text = pages.items_page(render, base, coll.id, coll.title, json.loads(text))
    return Answer(text, {"Content-Type": MEDIA[q.format], "Content-Crs": f"<{q.crs.uri}>"})


def item(url: str, base: str, render: Render, coll: Collection, ident: str,
         fmt: str, crs: OutputCrs, when: tuple | None) -> Answer:
    """One item; its ETag is the version tag of the GeoJSON representation."""
    text, etag = reads.read_item(url, coll, ident, crs, when)
    headers = {"Content-Crs": f"<{crs.uri}>", "Cache-Control": "no-cache"}
    if fmt == "html":
        doc = json.loads(text)
        doc["links"] = reads.item_links(base, coll.id, ident, "html")
        headers["Content-Type"] = MEDIA["html"]
        return Answer(pages.item_page(render, base, coll.id, coll.title, doc), headers)
    # the links are appended to PostGIS's text: '{...}' -> '{...,"links":[...]}'
    links = json.dumps(reads.item_links(base, coll.id, ident, "json"), ensure_ascii=False,
                       separators=(",", ":"))
    headers["Content-Type"] = MEDIA["json"]
    return Answer(text[:-1] + ',"links":' + links + "}", headers, etag)


def conformance(render: Render, fmt: str | None, accept: str | None) -> Answer:
    """The conformance document (JSON, or HTML with pygeoapi's template)."""
    from .config import conformance as classes
    from .params import check_text, negotiate

    if fmt is not None:
        check_text("f", fmt)
    f = negotiate(fmt if fmt != "csv" else "json", accept)
    doc = {"conformsTo": classes()}
    if f == "html":
        return Answer(render("conformance.html", doc),
                      {"Content-Type": MEDIA["html"]})
    return Answer(json.dumps(doc), {"Content-Type": "application/json"})
