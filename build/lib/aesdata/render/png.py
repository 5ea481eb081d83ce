"""Encode a screenshot's pixels as two PNGs, the full page and its first viewport, in one deflate pass.

The renderer asks DevTools for Chromium's fast PNG (``optimizeForSpeed``: ~70% bigger than its default
PNG, ~50 ms less browser CPU per page), decodes it once (the blank check needs the pixels anyway) and
writes the stored PNGs here: Sub filter (each byte minus the one a pixel to its left) and zlib-ng at
level 4. The viewport's rows come first in the page's deflate stream; a copy of the compressor's state
is finished there, so the viewport PNG shares the page's compressed bytes and costs no second pass.
Measured on 40 demo-corpus screenshots: ~9 ms for both PNGs (Pillow alone took ~45 ms to encode the
viewport crop of a tall page). Sizes against Chromium's default PNG: 2% fewer bytes in total, per page
from 18% smaller to 44% bigger (median 12% bigger: the Sub filter suits flat colour and text better than
gradients). zlib-ng level 6 would give 11% fewer bytes in total for ~6 ms more per page.

Written by hand because no library writes two PNGs from one deflate pass: the chunk framing (PNG spec
section 5) and the Sub filter (section 9.2), ~30 lines. ``zlib_ng`` does the compression.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from zlib_ng import zlib_ng

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)
_SUB = 1  # PNG filter type byte


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png(width: int, height: int, channels: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPE[channels], 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _sub_filtered(pixels: np.ndarray) -> np.ndarray:
    """Rows of ``pixels`` (H x W x C uint8) with the Sub filter applied, each prefixed by its filter byte."""
    height, width, channels = pixels.shape
    flat = pixels.reshape(height, width * channels)
    out = np.empty((height, width * channels + 1), np.uint8)
    out[:, 0] = _SUB
    out[:, 1 : channels + 1] = flat[:, :channels]
    np.subtract(flat[:, channels:], flat[:, :-channels], out=out[:, channels + 1 :])
    return out


def encode_with_top(pixels: np.ndarray, top_rows: int, level: int = 4) -> tuple[bytes, bytes]:
    """Return ``(full_png, top_png)``: ``pixels`` (H x W x C uint8, C = 1..4) as a PNG, and its first
    ``top_rows`` rows as a PNG (the same bytes object when the image is no taller than that)."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    rows = _sub_filtered(np.ascontiguousarray(pixels, dtype=np.uint8))
    stream = zlib_ng.compressobj(level)
    if height <= top_rows:
        full = _png(width, height, channels, stream.compress(rows.tobytes()) + stream.flush())
        return full, full
    top = stream.compress(rows[:top_rows].tobytes())
    top_end = stream.copy()  # the same deflate state, finished here: a complete stream of the top rows
    rest = stream.compress(rows[top_rows:].tobytes()) + stream.flush()
    return (
        _png(width, height, channels, top + rest),
        _png(width, top_rows, channels, top + top_end.flush()),
    )
