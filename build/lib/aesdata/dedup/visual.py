"""What a screenshot contributes to dedup: an exact hash of its bytes and perceptual hashes.

Perceptual hashes see a page at 32x32 (phash) or 9x8 (dhash) pixels, so near-blank pages collide:
two white pages differing in one heading have phash distance 0. ``image_signals`` therefore also
measures the page's *ink*: the share of pixels of a 128-px-wide greyscale thumbnail that differ from
the dominant (background) grey by more than 16 levels. Callers drop screenshots below a minimum ink
from both image signals. The decoded image lives only inside the call (memory stays bounded).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

_THUMB_WIDTH = 128
_INK_DELTA = 16


@dataclass(frozen=True)
class ImageSignals:
    """Dedup features of one screenshot.

    ``sha``: sha256 of the PNG bytes (16 hex); ``phash`` / ``dhash``: 64-bit perceptual hashes as
    ints; ``aspect``: height / width; ``ink``: share of non-background pixels (0..1).
    """

    sha: str
    phash: int
    dhash: int
    aspect: float
    ink: float


def _hash_int(h: imagehash.ImageHash) -> int:
    return int.from_bytes(np.packbits(h.hash.flatten()).tobytes(), "big")


def image_signals(png: bytes) -> ImageSignals:
    """Decode ``png`` (any PIL-readable bytes) and return its :class:`ImageSignals`."""
    with Image.open(io.BytesIO(png)) as im:
        width, height = im.size
        grey = im.convert("L")
    thumb = np.asarray(
        grey.resize((_THUMB_WIDTH, max(1, round(_THUMB_WIDTH * height / width))), Image.BILINEAR)
    )
    background = np.bincount(thumb.ravel(), minlength=256).argmax()
    ink = float((np.abs(thumb.astype(np.int16) - int(background)) > _INK_DELTA).mean())
    return ImageSignals(
        sha=hashlib.sha256(png).hexdigest()[:16],
        phash=_hash_int(imagehash.phash(grey)),
        dhash=_hash_int(imagehash.dhash(grey)),
        aspect=height / width,
        ink=ink,
    )
