"""CQL2 filters (OGC API Features Part 3): parse with pygeofilter, check, compile to bound SQL.

pygeofilter parses CQL2 text and CQL2 JSON into one AST; we compile that AST ourselves into
SQL over the collection's public fields (``collections.py``), so that

- only queryables can be named, and each is used according to its type (a string property
  is not compared with a number, the geometry appears only inside spatial functions);
- every literal is a bound parameter (no SQL text from the request, ever);
- geometry literals are checked before PostGIS sees them (finite, in range for the filter
  CRS, valid and not degenerate) and reprojected with integer SRIDs;
- CQL2 ``LIKE`` keeps its own wildcards (``%``, ``_``, escape ``\\``), which are SQL's.

Two gaps of pygeofilter 0.4 are closed here: its CQL2 text grammar refuses ``NOT (a OR b)``
(it allows NOT only before a single predicate), and its CQL2 JSON reader expects the draft
forms of ``between`` and ``bbox``. Temporal operators are not offered (not declared).
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from cadastre_gis.errors import InvalidInput

from .collections import STORAGE_SRID, Collection

TEXT = "cql2-text"
JSON = "cql2-json"
MAX_FILTER = 20_000
"""Longest filter accepted (characters)."""
MAX_DEPTH = 40
"""Deepest nesting of a filter expression."""

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
]
"""The CQL2 / Part 3 classes this module implements (and the tests exercise)."""


# ---------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _text_parser() -> Any:
    """pygeofilter's CQL2 text parser with NOT allowed before a parenthesised condition."""
    from lark import Lark
    from pygeofilter.parsers.cql2_text import parser as mod

    here = os.path.dirname(mod.__file__)
    with open(os.path.join(here, "grammar.lark"), encoding="utf-8") as fh:
        grammar = fh.read()
    old = '"NOT"i "(" predicate ")"'
    if old not in grammar:  # pygeofilter changed its grammar: see tests/ogc_api/test_internals
        raise RuntimeError("pygeofilter's CQL2 text grammar changed")
    grammar = grammar.replace(old, '"NOT"i "(" condition ")"')
    return Lark(grammar, parser="lalr", maybe_placeholders=False,
                transformer=mod.CQLTransformer(),
                import_paths=[os.path.dirname(here)])


def _normalize_json(node: Any, depth: int = 0) -> Any:
    """CQL2 JSON (final standard) into the forms pygeofilter 0.4 reads."""
    if depth > MAX_DEPTH:
        raise InvalidInput("filter is nested too deeply")
    if isinstance(node, list):
        return [_normalize_json(n, depth + 1) for n in node]
    if not isinstance(node, dict):
        return node
    if "bbox" in node and len(node) == 1:
        b = node["bbox"]
        if not (isinstance(b, list) and len(b) in (4, 6)):
            raise InvalidInput("a bbox literal needs 4 or 6 numbers")
        if len(b) == 6:
            b = [b[0], b[1], b[3], b[4]]
        x1, y1, x2, y2 = b
        return {"type": "Polygon", "coordinates": [[[x1, y1], [x2, y1], [x2, y2], [x1, y2],
                                                    [x1, y1]]]}
    out = {k: _normalize_json(v, depth + 1) for k, v in node.items()}
    if out.get("op") == "between" and isinstance(out.get("args"), list) \
            and len(out["args"]) == 3:
        out["args"] = [out["args"][0], [out["args"][1], out["args"][2]]]
    if out.get("op") in ("and", "or") and isinstance(out.get("args"), list) \
            and len(out["args"]) < 2:
        raise InvalidInput(f"{out['op']} needs at least two arguments")
    return out


def parse(text: str, lang: str | None = None) -> Any:
    """Parse a CQL2 filter (text, or JSON when ``lang`` is cql2-json) into pygeofilter's AST."""
    if lang == "cql-text":  # the draft's name, still sent by GDAL < 3.7
        lang = TEXT
    if lang not in (None, TEXT, JSON):
        raise InvalidInput("filter-lang must be cql2-text or cql2-json")
    if len(text) > MAX_FILTER:
        raise InvalidInput(f"filter is longer than {MAX_FILTER} characters")
    if "\x00" in text:
        raise InvalidInput("filter contains a NUL character")
    stripped = text.lstrip()
    if lang == JSON or (lang is None and stripped.startswith("{")):
        try:
            doc = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise InvalidInput("filter is not valid CQL2 JSON") from None
        return parse_json(doc)
    if text.count("(") > MAX_DEPTH * 4:
        raise InvalidInput("filter is nested too deeply")
    try:
        return _text_parser().parse(text)
    except InvalidInput:
        raise
    except Exception:  # noqa: BLE001 - lark raises many kinds; all mean "bad CQL2 text"
        raise InvalidInput("bad CQL2 text filter; see /conformance and /queryables") from None


def parse_json(doc: Any) -> Any:
    """Parse a decoded CQL2 JSON document into pygeofilter's AST."""
    from pygeofilter.parsers.cql2_json import parse as parse_cql2_json

    try:
        return parse_cql2_json(_normalize_json(doc))
    except InvalidInput:
        raise
    except Exception:  # noqa: BLE001 - pygeofilter raises anything on a bad document
        raise InvalidInput("bad CQL2 JSON filter; see /conformance and /queryables") from None


def _no_constant(name: str) -> Any:
    raise ValueError(name)


# ---------------------------------------------------------------------------------------
# compiling
# ---------------------------------------------------------------------------------------

_COMPARE = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_SPATIAL = {"INTERSECTS": "ST_Intersects", "DISJOINT": "ST_Disjoint",
            "CONTAINS": "ST_Contains", "WITHIN": "ST_Within", "TOUCHES": "ST_Touches",
            "CROSSES": "ST_Crosses", "OVERLAPS": "ST_Overlaps", "EQUALS": "ST_Equals"}
_GEOM_NAMES = ("geometry", "geom")


class Compiler:
    """Turns one parsed filter into SQL text with ``%(name)s`` placeholders and values."""

    def __init__(self, coll: Collection, crs: Any) -> None:
        """``crs``: the filter CRS (an ``sql.OutputCrs``) of geometry literals."""
        self.coll = coll
        self.crs = crs
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        """A placeholder for ``value``."""
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput("filter contains a NUL character")
        key = f"f{len(self.params)}"
        self.params[key] = value
        return f"%({key})s"

    # -- predicates ------------------------------------------------------------------------
    def predicate(self, node: Any, depth: int = 0) -> str:
        """SQL of a boolean expression."""
        from pygeofilter import ast

        if depth > MAX_DEPTH:
            raise InvalidInput("filter is nested too deeply")
        d = depth + 1
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, ast.Include):
            return "false" if node.not_ else "true"
        if isinstance(node, ast.And | ast.Or):
            op = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self.predicate(node.lhs, d)} {op} {self.predicate(node.rhs, d)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self.predicate(node.sub_node, d)})"
        if isinstance(node, ast.Comparison):
            lhs, lt = self.scalar(node.lhs)
            rhs, rt = self.scalar(node.rhs, lt)
            self._same_type(lt, rt, node.op.value)
            return f"({lhs} {_COMPARE[node.op.value]} {rhs})"
        if isinstance(node, ast.Between):
            lhs, lt = self.scalar(node.lhs)
            if lt not in ("number", "integer", "date-time", "string"):
                raise InvalidInput("BETWEEN needs a number, string or time property")
            low, t1 = self.scalar(node.low, lt)
            high, t2 = self.scalar(node.high, lt)
            self._same_type(lt, t1, "BETWEEN")
            self._same_type(lt, t2, "BETWEEN")
            neg = "NOT " if node.not_ else ""
            return f"({lhs} {neg}BETWEEN {low} AND {high})"
        if isinstance(node, ast.Like):
            lhs, lt = self.scalar(node.lhs)
            if lt != "string":
                raise InvalidInput("LIKE needs a string property")
            pattern = node.pattern
            if isinstance(pattern, ast.Function):
                pat, _ = self.scalar(pattern, "string")
            elif isinstance(pattern, str):
                pat = self.bind(pattern)
            else:
                raise InvalidInput("LIKE needs a string pattern")
            neg = "NOT " if node.not_ else ""
            return f"({lhs} {neg}LIKE {pat} ESCAPE '\\')"
        if isinstance(node, ast.In):
            lhs, lt = self.scalar(node.lhs)
            if not node.sub_nodes:
                raise InvalidInput("IN needs at least one value")
            opts = []
            for sub in node.sub_nodes:
                sql, st = self.scalar(sub, lt)
                self._same_type(lt, st, "IN")
                opts.append(sql)
            neg = "NOT " if node.not_ else ""
            return f"({lhs} {neg}IN ({', '.join(opts)}))"
        if isinstance(node, ast.IsNull):
            if self._is_geometry(node.lhs):
                sql = "t.geom"
            else:
                sql, _ = self.scalar(node.lhs)
            return f"({sql} IS {'NOT ' if node.not_ else ''}NULL)"
        if isinstance(node, ast.SpatialComparisonPredicate):
            fn = _SPATIAL.get(node.op.name)
            if fn is None:
                raise InvalidInput(f"spatial operator {node.op.name} is not supported")
            return f"{fn}({self.geometry(node.lhs)}, {self.geometry(node.rhs)})"
        if isinstance(node, ast.BBox):
            env = self._box(node.minx, node.miny, node.maxx, node.maxy)
            return f"ST_Intersects({self.geometry(node.lhs)}, {env})"
        if isinstance(node, ast.TemporalPredicate):
            raise InvalidInput("temporal operators are not supported; use the datetime "
                               "parameter or compare TIMESTAMP values")
        if isinstance(node, ast.Attribute):
            sql, typ = self.scalar(node)
            if typ != "boolean":
                raise InvalidInput(f"{shown(node.name)} is not a boolean property")
            return f"({sql} IS TRUE)"
        raise InvalidInput("filter must be a predicate (a comparison, IN, LIKE, BETWEEN,"
                           " IS NULL or a spatial function)")

    # -- values ----------------------------------------------------------------------------
    def scalar(self, node: Any, expect: str | None = None) -> tuple[str, str]:
        """(SQL, type) of a non-spatial value: a property, a literal or CASEI()."""
        from pygeofilter import ast, values

        if isinstance(node, ast.Attribute):
            if node.name in _GEOM_NAMES:
                raise InvalidInput("the geometry can only be used in spatial functions "
                                   "(S_INTERSECTS, S_WITHIN, ...)")
            f = self.coll.field(node.name)
            if f is None:
                raise InvalidInput(f"unknown property in filter: {shown(node.name)};"
                                   " see /queryables")
            return f.sql, ("date-time" if f.format == "date-time" else f.type)
        if isinstance(node, ast.Function):
            if node.name.lower() == "lower" and len(node.arguments) == 1:
                sql, typ = self.scalar(node.arguments[0], "string")
                if typ != "string":
                    raise InvalidInput("CASEI needs a string")
                return f"lower({sql})", "string"
            raise InvalidInput(f"function {shown(str(node.name))} is not supported")
        if isinstance(node, values.Geometry | values.Envelope):
            raise InvalidInput("a geometry can only be used in spatial functions")
        if isinstance(node, bool):
            return self.bind(node), "boolean"
        if isinstance(node, int | float):
            if isinstance(node, float) and not math.isfinite(node):
                raise InvalidInput("numbers in a filter must be finite")
            if abs(node) > 1e300:
                raise InvalidInput("number out of range in filter")
            return self.bind(node), ("integer" if isinstance(node, int) else "number")
        if isinstance(node, datetime):
            t = node if node.tzinfo else node.replace(tzinfo=UTC)
            return self.bind(t) + "::timestamptz", "date-time"
        if isinstance(node, date):
            return self.bind(node) + "::date", "date-time"
        if isinstance(node, str):
            if expect == "date-time":
                return self.bind(node) + "::timestamptz", "date-time"
            return self.bind(node), "string"
        raise InvalidInput("unsupported value in filter (arithmetic and temporal values are"
                           " not offered)")

    @staticmethod
    def _same_type(a: str, b: str, op: str) -> None:
        numeric = ("integer", "number")
        if a == b or (a in numeric and b in numeric):
            return
        raise InvalidInput(f"{op} compares a {a} with a {b}")

    @staticmethod
    def _is_geometry(node: Any) -> bool:
        from pygeofilter import ast

        return isinstance(node, ast.Attribute) and node.name in _GEOM_NAMES

    def geometry(self, node: Any) -> str:
        """SQL of a geometry: the collection's geometry or a checked literal in storage CRS."""
        from pygeofilter import ast, values

        if self._is_geometry(node):
            return "t.geom"
        if isinstance(node, values.Envelope):
            return self._box(node.x1, node.y1, node.x2, node.y2)
        if isinstance(node, ast.Function) and node.name.lower() == "bbox" \
                and len(node.arguments) in (4, 6):
            a = list(node.arguments)
            if len(a) == 6:
                a = [a[0], a[1], a[3], a[4]]
            return self._box(*a)
        if isinstance(node, values.Geometry):
            return self._literal(node.geometry)
        if isinstance(node, ast.Attribute):
            raise InvalidInput(f"{shown(node.name)} is not a geometry; spatial functions take"
                               " the geometry and a geometry literal")
        raise InvalidInput("spatial functions take the geometry and a geometry literal")

    def _literal(self, geom: dict[str, Any]) -> str:
        check_geometry(geom, self.crs)
        expr = f"ST_SetSRID(ST_GeomFromGeoJSON({self.bind(json.dumps(geom))}), "\
               f"{int(self.crs.srid)})"
        if self.crs.flip:
            expr = f"ST_FlipCoordinates({expr})"
        return expr if self.crs.srid == STORAGE_SRID else f"ST_Transform({expr}, {STORAGE_SRID})"

    def _box(self, x1: Any, y1: Any, x2: Any, y2: Any) -> str:
        try:
            v = [float(x1), float(y1), float(x2), float(y2)]
        except (TypeError, ValueError):
            raise InvalidInput("a bbox literal needs 4 numbers") from None
        from .params import check_box

        check_box(v, self.crs)
        if self.crs.flip:
            v = [v[1], v[0], v[3], v[2]]
        env = "ST_MakeEnvelope({}, {}, {}, {}, {})".format(
            *(self.bind(x) for x in v), int(self.crs.srid))
        return env if self.crs.srid == STORAGE_SRID else f"ST_Transform({env}, {STORAGE_SRID})"


def shown(name: str) -> str:
    """A client-given name fit to quote in a message."""
    from .params import shown as _shown

    return _shown(name)


def check_geometry(geom: dict[str, Any], crs: Any, where: str = " in the filter") -> None:
    """Refuse a geometry that is not finite, out of range, invalid or degenerate (400)."""
    import shapely
    from shapely.geometry import shape

    from cadastre_gis.errors import InvalidGeometry

    try:
        g = shape(geom)
    except Exception:  # noqa: BLE001 - shapely raises several kinds for broken input
        raise InvalidGeometry(f"the geometry{where} is malformed") from None
    if g.is_empty:
        raise InvalidGeometry(f"the geometry{where} is empty")
    coords = shapely.get_coordinates(g)
    if not all(math.isfinite(float(c)) for c in coords.ravel()):
        raise InvalidGeometry(f"coordinates{where} must be finite numbers")
    from .params import crs_limits

    lim = crs_limits(crs)
    for x, y in coords:
        if not (lim[0] <= x <= lim[2] and lim[1] <= y <= lim[3]):
            raise InvalidGeometry(f"coordinates{where} are out of range for {crs.uri}")
    if g.geom_type in ("Polygon", "MultiPolygon") and g.area <= 0:
        raise InvalidGeometry(f"the polygon{where} is degenerate (no area)")
    if not g.is_valid:
        raise InvalidGeometry(f"the geometry{where} is invalid: "
                              + shapely.is_valid_reason(g)[:80])


def compile_filter(coll: Collection, node: Any, crs: Any) -> tuple[str, dict[str, Any]]:
    """SQL text (pyformat placeholders ``%(f0)s``…) and bound values for a parsed filter."""
    c = Compiler(coll, crs)
    try:
        sql = c.predicate(node)
    except RecursionError:
        raise InvalidInput("filter is nested too deeply") from None
    return sql, c.params
