"""One documented fix of a pygeoapi 0.24 internal (same results, no cross-app leak).

pygeoapi caches the translated template config per locale for the whole process, so a second
app in the same process (e.g. a test server beside the test client, or two public addresses)
rendered HTML with the first app's URLs; we key that cache by config as well.
``tests/ogc_api/test_internals.py`` fails if ``l10n.translate_struct`` or its cache moves.

(The items path no longer goes through pygeoapi, so the bbox-transformer cache and the limit
message patches it needed are gone.)
"""

from __future__ import annotations

from typing import Any

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
    """Install the fix (idempotent)."""
    global _original_translate_struct
    from pygeoapi import l10n

    if _original_translate_struct is None:
        _original_translate_struct = l10n.translate_struct
        l10n.translate_struct = translate_struct  # type: ignore[assignment]
