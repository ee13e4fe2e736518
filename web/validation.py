"""Input validation at the edge, shared by every web form and JSON endpoint.

One layer instead of one check per view:

* :func:`init_app` installs a ``before_request`` hook that refuses, for *every* route, a path,
  query parameter or form field holding a NUL byte, a control character or invalid UTF-8
  (400), a body larger than the route's limit (413: 1 MiB by default, more for the routes
  that take uploads or OGC API Part 4 features, see :func:`body_limit`), and a JSON body
  nested deeper than :data:`MAX_JSON_DEPTH` or holding ``NaN``/``Infinity`` (400).
* Views call the small field checkers for what only they know (names, length limits,
  ranges): :func:`text_field`, :func:`number`, :func:`integer`, :func:`check_json`,
  :func:`json_body`.

Every refusal is a :class:`~cadastre_gis.errors.InvalidInput` (400) or
:class:`PayloadTooLarge` (413) with a short message naming the field; nothing is written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from flask import Flask, current_app, request

from cadastre_gis.errors import InvalidInput, PayloadTooLarge

F = TypeVar("F", bound=Callable[..., Any])

KIB = 1024
MIB = 1024 * KIB
DEFAULT_BODY_LIMIT = 1 * MIB
"""Largest request body of a route that declares no limit of its own."""
OGC_BODY_LIMIT = 16 * MIB
"""OGC API Part 4 features and process inputs (parcel geometries can be large)."""
MAX_JSON_DEPTH = 32
"""Deepest JSON nesting accepted (a GeoJSON MultiPolygon needs 6)."""
MAX_FIELD = 10_000
"""Default length limit of a free-text field (characters)."""

# C0 controls except tab, newline and carriage return; DEL; lone surrogates (JSON "\ud800"
# decodes to one, and no database or encoder accepts it); U+FFFD is what undecodable UTF-8
# became on the way in.
_BAD_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffd]")
_BAD_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffd]")

# Routes (endpoint names) whose bodies may be larger than the default.
_LIMITS: dict[str, int] = {
    "extracts.verify": 16 * MIB,          # a signed extract PDF
    "report.report_submit": 32 * MIB,     # up to 3 photos of at most 10 MB each, and the form
}


def body_limit(max_bytes: int) -> Callable[[F], F]:
    """Decorator: let one view accept bodies up to ``max_bytes`` (uploads)."""

    def deco(fn: F) -> F:
        fn._cadastre_body_limit = max_bytes  # type: ignore[attr-defined]
        return fn

    return deco


def set_body_limit(endpoint: str, max_bytes: int) -> None:
    """Register a body limit for an endpoint by name (for views declared elsewhere)."""
    _LIMITS[endpoint] = max_bytes


def _problem(value: str, multiline: bool) -> str | None:
    m = (_BAD_MULTILINE if multiline else _BAD_LINE).search(value)
    if m is None:
        return None
    ch = m.group()
    if ch == "\x00":
        return "contains a NUL byte"
    if ch == "\ufffd" or "\ud800" <= ch <= "\udfff":
        return "is not valid UTF-8"
    return "contains a control character"


def text_field(value: Any, name: str, max_len: int = MAX_FIELD, *, required: bool = False,
               multiline: bool = True, strip: bool = True) -> str | None:
    """A checked free-text value: None when empty (unless ``required``), else the text.

    Refuses NUL bytes, control characters (tab and newlines pass when ``multiline``),
    invalid UTF-8 and text longer than ``max_len`` characters.
    """
    if value is None:
        value = ""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{name} is not valid UTF-8") from exc
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text")
    if strip:
        value = value.strip()
    if not value:
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    problem = _problem(value, multiline)
    if problem:
        raise InvalidInput(f"{name} {problem}")
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters")
    return value


def number(value: Any, name: str, *, minimum: float | None = None,
           maximum: float | None = None, required: bool = True) -> float | None:
    """A finite float within ``[minimum, maximum]``; refuses NaN, ±Inf and overflow (1e400)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number")
    if isinstance(value, str):
        text_field(value, name, 64, multiline=False)
        try:
            f = float(value.strip())
        except ValueError as exc:
            raise InvalidInput(f"{name} must be a number") from exc
    elif isinstance(value, int | float):
        try:
            f = float(value)
        except OverflowError as exc:
            raise InvalidInput(f"{name} is out of range") from exc
    else:
        raise InvalidInput(f"{name} must be a number")
    if not math.isfinite(f):
        raise InvalidInput(f"{name} must be a finite number")
    if minimum is not None and f < minimum:
        raise InvalidInput(f"{name} must be at least {minimum:g}")
    if maximum is not None and f > maximum:
        raise InvalidInput(f"{name} must be at most {maximum:g}")
    return f


def integer(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None,
            required: bool = True) -> int | None:
    """An integer within ``[minimum, maximum]`` (default range: a PostgreSQL bigint)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a whole number")
    if isinstance(value, str):
        v = value.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,19}", v):
            raise InvalidInput(f"{name} must be a whole number")
        n = int(v)
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    else:
        raise InvalidInput(f"{name} must be a whole number")
    lo = minimum if minimum is not None else -(2**63)
    hi = maximum if maximum is not None else 2**63 - 1
    if n < lo:
        raise InvalidInput(f"{name} must be at least {lo}")
    if n > hi:
        raise InvalidInput(f"{name} must be at most {hi}")
    return n


def check_json(body: Any, max_depth: int = MAX_JSON_DEPTH, *, name: str = "body",
               max_string: int = 1 * MIB) -> Any:
    """Check a parsed JSON value: nesting depth, finite numbers, clean strings; returns it."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise InvalidInput(f"{name} is nested deeper than {max_depth} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str):
                    _json_string(k, name, max_string)
                stack.append((v, depth + 1))
        elif isinstance(value, str):
            _json_string(value, name, max_string)
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{name} holds a number that is not finite")
    return body


def _json_string(value: str, name: str, max_string: int) -> None:
    if len(value) > max_string:
        raise InvalidInput(f"{name} holds a string longer than {max_string} characters")
    if "\x00" in value:
        raise InvalidInput(f"{name} holds a NUL character")
    if _SURROGATE.search(value):
        raise InvalidInput(f"{name} holds an invalid Unicode character")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constant(token: str) -> Any:
    raise InvalidInput(f"JSON {token} is not a number")


def json_depth(raw: bytes | str) -> int:
    """Deepest bracket nesting of a JSON text, ignoring brackets inside strings."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    # Strings first (so brackets in them do not count), then only the brackets remain.
    skeleton = _JSON_STRING.sub("", raw)
    depth = deepest = 0
    for ch in _BRACKETS.findall(skeleton):
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def parse_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH, *, name: str = "body") -> Any:
    """Parse JSON text safely: depth checked before parsing, no NaN/Infinity, clean strings."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{name} is not valid UTF-8") from exc
    if json_depth(raw) > max_depth:
        raise InvalidInput(f"{name} is nested deeper than {max_depth} levels")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except InvalidInput:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{name} is not valid JSON") from exc
    return check_json(value, max_depth, name=name)


def json_body(max_depth: int = MAX_JSON_DEPTH, *, required: bool = True) -> Any:
    """The request's JSON body, parsed by :func:`parse_json` (size already bounded)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise InvalidInput("a JSON body is required")
        return None
    return parse_json(raw, max_depth)


def request_limit() -> int:
    """The body limit of the current request's route."""
    endpoint = request.endpoint or ""
    if endpoint in _LIMITS:
        return _LIMITS[endpoint]
    view = current_app.view_functions.get(endpoint)
    limit = getattr(view, "_cadastre_body_limit", None)
    if limit is not None:
        return int(limit)
    if request.path.startswith("/ogc/"):
        return OGC_BODY_LIMIT
    return DEFAULT_BODY_LIMIT


def _check_raw_query() -> None:
    qs = request.query_string
    if not qs:
        return
    if len(qs) > 64 * KIB:
        raise PayloadTooLarge("the query string is longer than 64 KiB")
    try:
        decoded = unquote_to_bytes(qs.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the query string is not valid UTF-8") from exc
    problem = _problem(decoded, multiline=True)
    if problem:
        # Name the parameter when we can.
        for key, value in request.args.items(multi=True):
            for label, v in ((f"parameter {key[:40]!r}", value), ("a parameter name", key)):
                p = _problem(v, multiline=True)
                if p:
                    raise InvalidInput(f"{label} {p}")
        raise InvalidInput(f"the query string {problem}")


def check_request() -> None:
    """The edge checks every request passes (see the module docstring)."""
    if "\x00" in request.path or _problem(request.path, multiline=False):
        raise InvalidInput("the path contains a NUL byte, a control character or invalid UTF-8")
    _check_raw_query()
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    limit = request_limit()
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit // KIB} KiB")
    # Werkzeug stops reading a chunked body past this and answers 413 itself.
    request.max_content_length = limit
    mimetype = request.mimetype
    if mimetype == "application/x-www-form-urlencoded":
        # Werkzeug keeps undecodable escapes as literal text; refuse them as the query is.
        raw = request.get_data(cache=True)  # the form parser reads the cached copy
        try:
            unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("the form is not valid UTF-8") from exc
    if mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            problem = _problem(value, multiline=True) or _problem(key, multiline=False)
            if problem:
                raise InvalidInput(f"form field {key[:40]!r} {problem}")
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        raw = request.get_data(cache=True)
        if raw.strip():
            parse_json(raw)


def init_app(app: Flask) -> None:
    """Install the edge checks and a JSON parser that refuses NaN/Infinity."""
    from flask.json.provider import DefaultJSONProvider

    class _StrictJSON(DefaultJSONProvider):
        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            kwargs.setdefault("parse_constant", _no_constant)
            return check_json(super().loads(s, **kwargs))

    strict = _StrictJSON(app)
    for attr in ("ensure_ascii", "sort_keys", "compact", "mimetype"):
        setattr(strict, attr, getattr(app.json, attr))
    app.json = strict
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)


__all__ = ["text_field", "number", "integer", "check_json", "parse_json", "json_body",
           "json_depth", "body_limit", "set_body_limit", "init_app", "PayloadTooLarge",
           "DEFAULT_BODY_LIMIT", "MAX_JSON_DEPTH"]
