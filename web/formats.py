"""Content negotiation shared by the pages that answer both browsers and API clients."""

from __future__ import annotations

from flask import request


def prefers_html() -> bool:
    """True when the caller wants HTML: ``?f=html``, or Accept ranks text/html above JSON."""
    if request.args.get("f") == "json":
        return False
    if request.args.get("f") == "html":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and (request.accept_mimetypes["text/html"]
                                    > request.accept_mimetypes["application/json"])
