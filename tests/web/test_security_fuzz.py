"""Fuzzing the OGC API from its own OpenAPI document (schemathesis), seeded and bounded.

Every GET operation, and the write operations (Part 4 items, processes) with a registrar's
and an operator's token, run against a throw-away database (its own small demo city), so
writes that get through change nothing another test sees. Checks: no 5xx
(``not_a_server_error``) and answers that match the document (``response_schema_conformance``).
Hypothesis is derandomized (same cases every run) and bounded per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from cadastre_gis.settings import Settings  # noqa: E402

from ..conftest import create_database, drop_database  # noqa: E402

# CQL2 JSON search bodies (OGC API Features Part 3) are JSON on the wire.
schemathesis.serializer.alias("application/query-cql-json", "application/json")

GET_EXAMPLES = 10
WRITE_EXAMPLES = 6
# Known departures of pygeoapi's own documents from the OpenAPI document it generates, not of
# our code; each entry is (path fragment, message fragment). Anything else fails the test.
KNOWN = [
    # pygeoapi's tiles metadata answers "tilesets" (OGC API Tiles 1.0), its OpenAPI schema
    # still asks for the draft's "tileMatrixSetLinks".
    ("/tiles", '"tileMatrixSetLinks" is a required property'),
    # Process execution errors carry {code, description} (pygeoapi's GenericError shape);
    # the OpenAPI document's exception schema asks for RFC 7807's "type".
    ("/execution", '"type" is a required property'),
]
FUZZ_PARCELS = 300


@pytest.fixture(scope="module")
def fuzz_app(server_url: str, data_dir: Path) -> Iterator[object]:
    """The app on its own throw-away database (writes may land there)."""
    from cadastre_gis import demo, migrate
    from web import create_app

    url = create_database(server_url, "cadastre_fuzz")
    migrate.upgrade(url)
    s = Settings(database_url=url, data_dir=data_dir)
    demo.generate(s, parcels=FUZZ_PARCELS, seed=3)
    app = create_app(s, TESTING=True)
    app.config["FUZZ_SETTINGS"] = s
    yield app
    from cadastre_gis.db import _engine

    _engine.cache_clear()
    drop_database(server_url, url)


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):  # type: ignore[no-untyped-def]
    """The OGC API's OpenAPI document, loaded through WSGI."""
    return schemathesis.openapi.from_wsgi("/ogc/openapi?f=json", fuzz_app)


@pytest.fixture(scope="module")
def tokens(fuzz_app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from cadastre_gis import accounts

    s = fuzz_app.config["FUZZ_SETTINGS"]
    return {role: accounts.create_token(s, role, label="fuzz")
            for role in ("registrar", "operator")}


CHECKS = [not_a_server_error, response_schema_conformance]
BOUNDS = dict(derandomize=True, deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), database=None)


def _operations(schema, methods: set[str]) -> list:  # type: ignore[no-untyped-def]
    ops = []
    for result in schema.get_all_operations():
        op = result.ok()
        if op.method.upper() in methods:
            ops.append(op)
    return ops


def _fuzz(ops, examples: int, headers_for) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Run each operation's strategy; returns {operation: first failure}."""
    failures: dict[str, str] = {}
    for op in ops:
        run = _runner(op, [m for p, m in KNOWN if p in op.path], examples, headers_for)
        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
            failures[f"{op.method.upper()} {op.path}"] = _summary(exc)
    return failures


def _runner(op, known: list[str], examples: int, headers_for):  # type: ignore[no-untyped-def]
    """A seeded, bounded hypothesis test of one operation."""

    @given(case=op.as_strategy())
    @settings(max_examples=examples, **BOUNDS)
    def run(case) -> None:  # type: ignore[no-untyped-def]
        # identity: the WSGI transport hands compressed bodies over undecoded
        headers = {"Accept-Encoding": "identity", **headers_for(op)}
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:
            subs = getattr(exc, "exceptions", None) or [exc]
            if not (known and response.status_code < 500
                    and all(any(m in str(s) for m in known) for s in subs)):
                raise

    return run


def _summary(exc: BaseException) -> str:
    """The failure's title lines and the curl line to reproduce it."""
    subs = getattr(exc, "exceptions", None) or [exc]
    lines = []
    for sub in subs:
        text = str(sub)
        first = text.strip().splitlines()[:3]
        lines.append(" / ".join(x.strip() for x in first if x.strip()))
    curl = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("curl ")]
    return "; ".join(lines)[:600] + (f" [{curl[0][:300]}]" if curl else "")


def test_get_operations(fuzz_schema) -> None:  # type: ignore[no-untyped-def]
    ops = _operations(fuzz_schema, {"GET"})
    assert len(ops) > 20
    failures = _fuzz(ops, GET_EXAMPLES, lambda op: {})
    assert failures == {}, "\n\n".join(f"{k}: {v}" for k, v in failures.items())


def test_write_operations(fuzz_schema, tokens) -> None:  # type: ignore[no-untyped-def]
    ops = _operations(fuzz_schema, {"POST", "PUT", "PATCH", "DELETE"})
    assert ops

    def headers(op):  # type: ignore[no-untyped-def]
        role = "operator" if "incidents" in op.path else "registrar"
        return {"Authorization": f"Bearer {tokens[role]}"}

    failures = _fuzz(ops, WRITE_EXAMPLES, headers)
    assert failures == {}, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
