"""The screenshot PNG writer: both PNGs decode (Pillow, an independent decoder) to exactly the pixels given."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from aesdata.render.png import encode_with_top


def _decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        return np.asarray(im)


def _page(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """A screenshot-like image: flat background, coloured blocks, a noisy band (worst case for deflate)."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, channels), 245, np.uint8)
    for _ in range(12):
        y, x = rng.integers(0, height - 20), rng.integers(0, width - 20)
        img[y : y + rng.integers(5, 200), x : x + rng.integers(5, 300)] = rng.integers(0, 256, channels)
    img[height // 3 : height // 3 + 40] = rng.integers(0, 256, (40, width, channels), dtype=np.uint8)
    return img


@pytest.mark.parametrize("channels", [3, 4])
def test_tall_page_gives_exact_full_and_top_pngs(channels: int) -> None:
    pixels = _page(2500, 1280, channels)
    full, top = encode_with_top(pixels, 960)
    assert np.array_equal(_decode(full), pixels)
    assert np.array_equal(_decode(top), pixels[:960])
    # the two share the compressed top rows: the viewport PNG is not a second, separate compression
    assert len(top) < len(full)
    raw = pixels.nbytes + pixels.shape[0]
    assert len(full) < raw / 3


def test_short_page_is_its_own_viewport_and_strict_decoders_accept_it() -> None:
    pixels = _page(700, 1280, 3, seed=1)
    full, top = encode_with_top(pixels, 960)
    assert full is top
    assert np.array_equal(_decode(full), pixels)
    # chunk CRCs and the zlib stream's Adler-32 are right (Pillow checks CRCs; zlib checks Adler-32)
    idat_start = full.index(b"IDAT") + 4
    idat_len = int.from_bytes(full[idat_start - 8 : idat_start - 4], "big")
    rows = zlib.decompress(full[idat_start : idat_start + idat_len])
    assert len(rows) == 700 * (1280 * 3 + 1)


def test_grey_image_and_odd_sizes() -> None:
    grey = np.arange(37 * 11, dtype=np.uint16).reshape(37, 11).astype(np.uint8)
    full, top = encode_with_top(grey, 10)
    assert np.array_equal(_decode(full), grey)
    assert np.array_equal(_decode(top), grey[:10])
