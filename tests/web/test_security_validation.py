"""The shared edge validation (web/validation.py): every hostile input is a short 4xx."""

from __future__ import annotations

import math

import pytest

from cadastre_gis.errors import InvalidInput
from web import validation as v


def test_text_field() -> None:
    assert v.text_field("  Chilonzor 5 ", "address", 20) == "Chilonzor 5"
    assert v.text_field("", "address", 20) is None
    assert v.text_field("line\nnext\tcol", "description", 40) == "line\nnext\tcol"
    for bad, why in [("a\x00b", "NUL"), ("a\ufffdb", "UTF-8"), ("a\ud800b", "UTF-8"),
                     ("a\x07b", "control"), ("x" * 21, "longer than 20")]:
        with pytest.raises(InvalidInput, match=why):
            v.text_field(bad, "address", 20)
    with pytest.raises(InvalidInput, match="control"):
        v.text_field("two\nlines", "name", 20, multiline=False)
    with pytest.raises(InvalidInput, match="required"):
        v.text_field(" ", "name", 20, required=True)
    with pytest.raises(InvalidInput, match="UTF-8"):
        v.text_field(b"\xff\xfe", "name", 20)


def test_numbers() -> None:
    assert v.number("41.3", "lat", minimum=-90, maximum=90) == 41.3
    for bad in ["nan", "NaN", "inf", "-Infinity", "1e400", "abc", "1\x00", float("nan"), True]:
        with pytest.raises(InvalidInput):
            v.number(bad, "lat")
    with pytest.raises(InvalidInput, match="at most 90"):
        v.number("91", "lat", minimum=-90, maximum=90)
    assert v.integer("42", "limit") == 42
    for bad in ["4.5", "1e3", "99999999999999999999", "", "0x10"]:
        with pytest.raises(InvalidInput):
            v.integer(bad, "limit")
    assert v.number(None, "x", required=False) is None


def test_json_checks() -> None:
    assert v.parse_json('{"a": [1, {"b": "]]]]"}]}') == {"a": [1, {"b": "]]]]"}]}
    assert v.json_depth('{"a": "[[[[[[", "b": [[1]]}') == 3
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(InvalidInput, match="nested deeper"):
        v.parse_json(deep)
    for bad in ['{"a": NaN}', '[Infinity]', '{"a": "x\\u0000"}', '["\\ud800"]', "{", b"\xff"]:
        with pytest.raises(InvalidInput):
            v.parse_json(bad)
    with pytest.raises(InvalidInput, match="nested deeper"):
        v.check_json({"a": [[[[[1]]]]]}, max_depth=3)
    with pytest.raises(InvalidInput, match="finite"):
        v.check_json({"a": math.inf})


def test_edge_hook_refuses_query_and_path(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/search?q=abc%00def")
    assert r.status_code == 400
    assert "NUL" in r.get_json()["description"]
    r = client.get("/api/search?q=%ff%fe")
    assert r.status_code == 400 and "UTF-8" in r.get_json()["description"]
    assert client.get("/api/search?q=Chilonzor").status_code in (200, 400)
    assert client.get("/open311/v2/services.json?x=%00").status_code == 400
    assert client.get("/ogc/collections?f=json&x=%00").status_code == 400


def test_edge_hook_bounds_bodies(client) -> None:  # type: ignore[no-untyped-def]
    big = "x" * (2 * v.MIB)
    r = client.post("/login", data={"username": big, "password": "x"})
    assert r.status_code == 413
    r = client.post("/open311/v2/requests.json", data={"description": "a\x00b"})
    assert r.status_code == 400
    r = client.post("/ogc/collections/parcels/items", data="[" * 50_000,
                    content_type="application/geo+json")
    assert r.status_code == 400
    assert "nested" in r.get_data(as_text=True)
    r = client.post("/ogc/collections/parcels/items", data='{"type": "Feature", "x": NaN}',
                    content_type="application/json")
    assert r.status_code == 400


def test_invalid_utf8_in_a_urlencoded_form(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/login", data="username=%ff%fe&password=x",
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and "UTF-8" in r.get_data(as_text=True)
