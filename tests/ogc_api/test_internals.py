"""The pygeoapi (and pygeofilter) internals we still rely on are where we expect them.

The items routes no longer go through pygeoapi; what remains is listed here, so an upgrade
that moves one of them fails this test with a clear name instead of breaking a page.
"""

from __future__ import annotations

import inspect


def test_pygeoapi_functions_we_call() -> None:
    import pygeoapi.api as core
    import pygeoapi.api.itemtypes as itemtypes
    import pygeoapi.api.processes as processes
    import pygeoapi.api.tiles as tiles
    from pygeoapi.api import API, APIRequest, apply_gzip
    from pygeoapi.openapi import get_oas
    from pygeoapi.util import render_j2_template

    # web/ogc.py dispatches to these
    for fn in (core.landing_page, core.openapi_, core.describe_collections,
               core.get_collection_schema, itemtypes.get_collection_queryables,
               tiles.tilematrixsets, tiles.tilematrixset, tiles.get_collection_tiles,
               tiles.get_collection_tiles_metadata, tiles.get_collection_tiles_data,
               processes.describe_processes, processes.execute_process, processes.get_jobs,
               processes.delete_job, processes.get_job_result):
        assert callable(fn)
    assert hasattr(APIRequest, "from_flask") and callable(apply_gzip)
    assert {"config", "openapi"} <= set(inspect.signature(API).parameters)
    assert "fail_on_invalid_collection" in inspect.signature(get_oas).parameters
    # ogc_api/pages.py renders our templates with it
    assert list(inspect.signature(render_j2_template).parameters)[:5] == [
        "config", "tpl_config", "template", "data", "locale_"]
    # ogc_api/config.py builds /conformance from these lists
    assert isinstance(core.CONFORMANCE_CLASSES, list)
    assert isinstance(processes.CONFORMANCE_CLASSES, list)
    assert isinstance(tiles.CONFORMANCE_CLASSES, list)


def test_pygeoapi_translate_cache_we_key() -> None:
    """ogc_api/patches.py wraps l10n.translate_struct and clears l10n._cfg_cache."""
    from pygeoapi import l10n

    assert isinstance(l10n._cfg_cache, dict)
    params = list(inspect.signature(l10n.translate_struct).parameters)
    assert params[:3] == ["struct", "locale_", "is_config"]


def test_pygeoapi_plugin_bases_we_extend() -> None:
    from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError
    from pygeoapi.process.manager.dummy import DummyManager
    from pygeoapi.provider.base import BaseProvider

    assert hasattr(BaseProvider, "get_fields") and hasattr(BaseProcessor, "execute")
    assert hasattr(DummyManager, "execute_process") and hasattr(DummyManager, "get_processor")
    err = ProcessorExecuteError(user_msg="x")
    assert hasattr(err, "http_status_code") and hasattr(err, "ogc_exception_code")


def test_pygeofilter_parts_we_use() -> None:
    """ogc_api/cql.py rebuilds the CQL2 text parser from pygeofilter's grammar."""
    from ogc_api import cql

    cql._text_parser.cache_clear()
    tree = cql.parse("NOT (land_category = 'a' OR area_m2 > 1)")
    assert type(tree).__name__ == "Not"
    from pygeofilter.parsers.cql2_json import parse

    assert type(parse({"op": "in", "args": [{"property": "a"}, [1, 2]]})).__name__ == "In"
