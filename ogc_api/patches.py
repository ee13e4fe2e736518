"""Small, documented speed-ups of pygeoapi 0.24 internals (same results, less work).

pygeoapi builds a new pyproj ``Transformer`` for every bbox (~25 ms each); we keep the few
transformers that exist (bbox CRS -> storage CRS) in a cache.

pygeoapi also caches the translated template config per locale for the whole process, so a
second app in the same process (e.g. a test server beside the test client) rendered HTML with
the first app's URLs; we key that cache by config as well.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pyproj


@lru_cache(maxsize=64)
def _transformer(from_crs: str, to_crs: str, always_xy: bool) -> pyproj.Transformer:
    from pygeoapi.crs import get_crs

    return pyproj.Transformer.from_crs(get_crs(from_crs), get_crs(to_crs),
                                       always_xy=always_xy)


@lru_cache(maxsize=64)
def _epsg(uri: str) -> int | None:
    from pygeoapi.crs import get_crs

    return get_crs(uri).to_epsg()


def transform_bbox(bbox: list, from_crs: Any, to_crs: Any, always_xy: bool = False) -> list:
    """pygeoapi's ``transform_bbox`` with a cached transformer for URI-named CRSs."""
    from pygeoapi import crs as pcrs

    if not (isinstance(from_crs, str) and isinstance(to_crs, str)):
        return pcrs.transform_bbox(bbox, from_crs, to_crs, always_xy)
    if _epsg(to_crs) == 3857:
        bbox = [bbox[0], max(-85.0511, bbox[1]), bbox[2], min(85.0511, bbox[3])]
    fn = _transformer(from_crs, to_crs, bool(always_xy)).transform
    n = len(bbox) // 2
    return list(fn(*bbox[:n]) + fn(*bbox[n:]))


def evaluate_limit(requested: Any, server_limits: dict, collection_limits: dict) -> int:
    """pygeoapi's ``evaluate_limit`` with a message that says what to do."""
    from pygeoapi.api import evaluate_limit as original

    try:
        return original(requested, server_limits, collection_limits)
    except ValueError as exc:
        if "exceeded" in str(exc):
            top = {**server_limits, **collection_limits}.get("max_items")
            raise ValueError(f"limit must be at most {top}; follow the next links to page "
                             "through more features") from None
        raise


_translated: dict[tuple[int, str], tuple[Any, Any]] = {}
_original_translate_struct: Any = None


def translate_struct(struct: Any, locale_: Any, is_config: bool = False) -> Any:
    """pygeoapi's ``l10n.translate_struct`` with its config cache keyed by config and locale."""
    from pygeoapi import l10n

    if not is_config or not struct or not locale_:
        return _original_translate_struct(struct, locale_, is_config)
    key = (id(struct), str(locale_))
    hit = _translated.get(key)
    if hit is None or hit[0] is not struct:
        l10n._cfg_cache.clear()
        hit = (struct, _original_translate_struct(struct, locale_, True))
        _translated[key] = hit
    return hit[1]


def install() -> None:
    """Install the speed-ups and fixes (idempotent)."""
    global _original_translate_struct
    import pygeoapi.api.itemtypes as itemtypes
    from pygeoapi import l10n

    itemtypes.transform_bbox = transform_bbox  # type: ignore[assignment]
    itemtypes.evaluate_limit = evaluate_limit  # type: ignore[assignment]
    if _original_translate_struct is None:
        _original_translate_struct = l10n.translate_struct
        l10n.translate_struct = translate_struct  # type: ignore[assignment]
