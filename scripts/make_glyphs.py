"""Make the map's label glyphs (signed-distance-field PBFs) from a local TrueType font.

MapLibre draws symbol labels from SDF glyph ranges fetched from the style's ``glyphs`` URL.
We serve them ourselves from web/static/portal/glyphs/{fontstack}/{start}-{end}.pbf, so the
map needs no font server. The SDF is computed the way @mapbox/tiny-sdf does it (font size 24,
buffer 3, radius 8, cutoff 0.25: the parameters MapLibre expects) with Pillow rasterising the
font; the PBF is the glyphs.proto message MapLibre reads. The output is committed; run this
only to change fonts or ranges:

    .venv/bin/python scripts/make_glyphs.py [/usr/share/fonts/truetype/dejavu]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "web" / "static" / "portal" / "glyphs"
FONTS = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf"}
# Basic Latin + Latin-1, Latin Extended-A, spacing modifiers (the Uzbek ʻ U+02BB),
# Cyrillic, general punctuation.
RANGES = [0, 256, 512, 1024, 8192]
SIZE, BUFFER, RADIUS, CUTOFF = 24, 3, 8.0, 0.25
INF = 1e20


def _edt1d(grid: list[float], offset: int, stride: int, length: int) -> None:
    f = [grid[offset + q * stride] for q in range(length)]
    v = [0] * length
    z = [0.0] * (length + 1)
    z[0], z[1] = -INF, INF
    k = 0
    for q in range(1, length):
        while True:
            r = v[k]
            s = (f[q] - f[r] + q * q - r * r) / (q - r) / 2
            if s <= z[k]:
                k -= 1
                if k > -1:
                    continue
            break
        k += 1
        v[k] = q
        z[k] = s
        z[k + 1] = INF
    k = 0
    for q in range(length):
        while z[k + 1] < q:
            k += 1
        r = v[k]
        grid[offset + q * stride] = f[r] + (q - r) * (q - r)


def _edt(grid: list[float], x0: int, y0: int, w: int, h: int, size: int) -> None:
    for x in range(x0, x0 + w):
        _edt1d(grid, y0 * size + x, size, h)
    for y in range(y0, y0 + h):
        _edt1d(grid, y * size + x0, 1, w)


_NOTDEF: dict[int, bytes] = {}


def _notdef(font: ImageFont.FreeTypeFont) -> bytes:
    """The bitmap of the font's missing-glyph box (to skip code points it lacks)."""
    if id(font) not in _NOTDEF:
        _NOTDEF[id(font)] = bytes(font.getmask("\ue000"))
    return _NOTDEF[id(font)]


def glyph(font: ImageFont.FreeTypeFont, ascender: int, cp: int) -> tuple | None:
    """(id, bitmap, width, height, left, top, advance) of one code point, None if missing."""
    ch = chr(cp)
    try:
        mask = font.getmask(ch)
    except Exception:  # noqa: BLE001 - Pillow raises various errors for unmapped glyphs
        return None
    if not ch.isspace() and (mask.size[0] == 0 or bytes(mask) == _notdef(font)):
        return None
    advance = round(font.getlength(ch))
    left, top, right, bottom = (int(v) for v in font.getbbox(ch, anchor="ls"))
    w, h = max(0, right - left), max(0, bottom - top)
    if w == 0 or h == 0:
        return (cp, b"", 0, 0, 0, 0, advance)
    W, H = w + 2 * BUFFER, h + 2 * BUFFER
    img = Image.new("L", (W, H), 0)
    ImageDraw.Draw(img).text((BUFFER - left, BUFFER - top), ch, font=font, fill=255, anchor="ls")
    alpha = img.tobytes()
    outer = [INF] * (W * H)
    inner = [0.0] * (W * H)
    for y in range(H):
        for x in range(W):
            a = alpha[y * W + x] / 255
            if a == 0:
                continue
            j = y * W + x
            if a == 1:
                outer[j], inner[j] = 0.0, INF
            else:
                d = 0.5 - a
                outer[j] = d * d if d > 0 else 0.0
                inner[j] = d * d if d < 0 else 0.0
    _edt(outer, 0, 0, W, H, W)
    _edt(inner, 0, 0, W, H, W)
    data = bytes(max(0, min(255, round(255 - 255 * ((math.sqrt(outer[i]) - math.sqrt(inner[i]))
                                                    / RADIUS + CUTOFF)))) for i in range(W * H))
    return (cp, data, w, h, left, -top - ascender, advance)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, wire: int) -> bytes:
    return _varint((num << 3) | wire)


def _bytes(num: int, payload: bytes) -> bytes:
    return _field(num, 2) + _varint(len(payload)) + payload


def _uint(num: int, v: int) -> bytes:
    return _field(num, 0) + _varint(v)


def _sint(num: int, v: int) -> bytes:
    return _field(num, 0) + _varint((v << 1) ^ (v >> 31))


def encode(name: str, start: int, glyphs: list[tuple]) -> bytes:
    """The glyphs.proto message for one font stack and range."""
    body = _bytes(1, name.encode()) + _bytes(2, f"{start}-{start + 255}".encode())
    for cp, bitmap, w, h, left, top, adv in glyphs:
        g = _uint(1, cp)
        if bitmap:
            g += _bytes(2, bitmap)
        g += _uint(3, w) + _uint(4, h) + _sint(5, left) + _sint(6, top) + _uint(7, adv)
        body += _bytes(3, g)
    return _bytes(1, body)


def main(font_dir: str = "/usr/share/fonts/truetype/dejavu") -> None:
    """Write every range of every font stack."""
    for stack, file in FONTS.items():
        font = ImageFont.truetype(str(Path(font_dir) / file), SIZE)
        ascender = font.getmetrics()[0]
        target = OUT / stack
        target.mkdir(parents=True, exist_ok=True)
        for start in RANGES:
            gs = [g for cp in range(start, start + 256) if (g := glyph(font, ascender, cp))]
            (target / f"{start}-{start + 255}.pbf").write_bytes(encode(stack, start, gs))
            print(f"{stack} {start}-{start + 255}: {len(gs)} glyphs")


if __name__ == "__main__":
    main(*sys.argv[1:])
