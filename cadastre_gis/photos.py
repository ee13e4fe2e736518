"""Photos attached to citizen reports: checked, resized, stripped of metadata, stored on disk.

Only the pixels survive: the image is decoded with Pillow, turned upright by its EXIF
orientation, scaled to at most ``MAX_SIDE`` pixels and written anew as JPEG without EXIF, GPS,
XMP or ICC data. Files live under ``$CADASTRE_DATA_DIR/photos/<incident>/<sha256>.jpg``.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput

MAX_BYTES = 10 * 1024 * 1024
"""Largest photo accepted before resizing (10 MB)."""
MAX_PHOTOS = 3
MAX_SIDE = 1600
MAX_PIXELS = 60_000_000
"""Refuse decompression bombs: more pixels than any phone camera makes."""
FORMATS = {"JPEG", "PNG", "WEBP", "HEIF", "MPO", "GIF"}


@dataclass(frozen=True)
class Photo:
    """A cleaned photo ready to store."""

    data: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        """Hex digest of the cleaned bytes (the file name)."""
        return hashlib.sha256(self.data).hexdigest()


def clean(raw: bytes, name: str = "photo") -> Photo:
    """Decode ``raw`` as an image and re-encode it small and without metadata.

    Raises :class:`InvalidInput` for files over 10 MB, files that are not images and images
    too large to decode safely."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(raw) > MAX_BYTES:
        raise InvalidInput(f"{name} is larger than 10 MB", field="photos")
    if not raw:
        raise InvalidInput(f"{name} is empty", field="photos")
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            fmt = probe.format
            w, h = probe.size
            if fmt not in FORMATS:
                raise InvalidInput(f"{name} is not a photo (JPEG, PNG or WebP)", field="photos")
            if w * h > MAX_PIXELS:
                raise InvalidInput(f"{name} has too many pixels", field="photos")
            probe.verify()
        with Image.open(io.BytesIO(raw)) as img:
            scale = min(1.0, MAX_SIDE / max(w, h))
            if img.format == "JPEG" and scale < 1:
                # let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers the target
                img.draft("RGB", (int(w * scale) + 1, int(h * scale) + 1))
            img.load()
            upright = ImageOps.exif_transpose(img).convert("RGB")
            upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            # a fresh image: no exif=, no icc_profile=, so nothing of the original's metadata
            clean_img = Image.new("RGB", upright.size)
            clean_img.paste(upright)
            clean_img.save(out, "JPEG", quality=82, optimize=True)
            return Photo(out.getvalue(), clean_img.width, clean_img.height)
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InvalidInput(f"{name} is not a photo (JPEG, PNG or WebP)", field="photos") from None


def store(root: Path, incident_id: int, photo: Photo) -> str:
    """Write ``photo`` under ``root/photos``; returns its path relative to ``root``."""
    rel = Path("photos") / str(int(incident_id)) / f"{photo.sha256}.jpg"
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(photo.data)
    tmp.replace(dest)
    return rel.as_posix()


def resolve(root: Path, rel: str) -> Path:
    """The file of a stored photo, refusing any path that leaves ``root/photos``."""
    base = (root / "photos").resolve()
    path = (root / rel).resolve()
    if base not in path.parents:
        raise InvalidInput("bad photo path")
    return path
