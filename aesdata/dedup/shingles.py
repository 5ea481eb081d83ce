"""Shingle hashes and exact hashes of code for dedup, many documents at once.

Inputs: codes and their kinds (``html`` | ``plot``), normalised by :mod:`aesdata.dedup.normalize`
(``canonical``, ``shingle_text``). Outputs: the exact code hash (sha256 of the canonical form) and
the uint64 hashes of each code's ``k``-token shingles (``code_features``, ``code_features_batch``),
which ``minhash`` and ``features`` turn into signatures.

``shingle_hashes_batch(texts, renames, k)`` cuts many texts into tokens at once (``split_tokens``: the
token regex's rules as numpy operations over one byte buffer), hashes each token (a polynomial hash
from prefix sums), applies the renames by a sorted lookup of (document, token hash), and combines
the hashes of every window of ``k`` tokens. No Python work per token.

Hand-written: no library tokenises and hashes shingles of many documents in numpy passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from aesdata.dedup.normalize import canonical, shingle_text

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_WORD, _NAME, _PUNCT, _FIRST = 1, 2, 4, 8  # byte classes: [\\w#%.-], [\\w-], punctuation, [a-z]


def _byte_classes() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for chars, flag in (
        (_LOWER + _LOWER.upper() + "0123456789_#%.-", _WORD),
        (_LOWER + _LOWER.upper() + "0123456789_-", _NAME),
        ("{}()[]=;:,/*+", _PUNCT),
        (_LOWER, _FIRST),
    ):
        table[np.frombuffer(chars.encode(), dtype=np.uint8)] |= flag
    table[128:] = _WORD | _NAME
    return table


_CLASSES = _byte_classes()


def split_tokens(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` of the tokens of ``_TOKEN`` in ``data`` (uint8 bytes of lower-case ASCII text,
    or of regex tokens joined by spaces), in order; vectorised, no Python work per token.

    The rules of ``_TOKEN``, left to right: ``<`` or ``</`` before a letter starts a tag token that runs
    over ``[\\w-]``; else a run of ``[\\w#%.-]`` is a token; else ``{}()[]=;:,/*+`` is one; other bytes
    separate tokens. Bytes >= 128 count as word bytes (they only occur inside regex-cut tokens).
    """
    n = len(data)
    cls = np.take(_CLASSES, data)
    word = (cls & _WORD).astype(bool)
    edge = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    word_start, word_end = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    # tags: "<x" or "</x"; the name is the head of the word run at x, up to its first byte of "#%."
    lt = np.flatnonzero(data[:-1] == ord("<"))
    after = data[lt + 1]
    short = lt[(cls[lt + 1] & _FIRST) > 0]
    slash = lt[(after == ord("/")) & (lt + 2 < n)]
    long = slash[(cls[slash + 2] & _FIRST) > 0] if len(slash) else slash
    tag_start = np.concatenate([short, long])
    name_start = np.concatenate([short + 1, long + 2])
    run = np.searchsorted(word_start, name_start)
    stops = np.append(np.flatnonzero(word & ~(cls & _NAME).astype(bool)), n)
    tag_end = np.minimum(word_end[run], stops[np.searchsorted(stops, name_start)])
    word_start[run] = tag_end  # the rest of the run, if any, is a word token of its own
    rest = word_start < word_end
    punct = (cls & _PUNCT).astype(bool)
    punct[long + 1] = False  # the "/" of "</x"
    punct_start = np.flatnonzero(punct)
    starts = np.concatenate([tag_start, word_start[rest], punct_start])
    ends = np.concatenate([tag_end, word_end[rest], punct_start + 1])
    at = np.zeros(n + 1, dtype=bool)
    at[starts] = True
    end_of = np.empty(n + 1, dtype=np.int64)
    end_of[starts] = ends
    order = np.flatnonzero(at)
    return order, end_of[order]


# --- hashing ---------------------------------------------------------------------------------------
_P = np.uint64(0x100000001B3)
_P_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))
_BITMAP = 1 << 16
_DOC_MIX = np.uint64(0x9E3779B97F4A7C15)
# multiplier of the j-th token hash of a window (odd, distinct): order matters within a shingle
_WINDOW_MUL = (np.arange(1, 65, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)) | np.uint64(1)
_BATCH_BYTES = 1 << 17  # bytes of token text hashed at once (bounds the tables below)
_powers = np.ones(1, dtype=np.uint64)
_inverse = np.ones(1, dtype=np.uint64)


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the bits of uint64 values."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P**i`` and ``P**-i`` (mod 2**64) for ``i < n``, made once per process (grown for longer input)."""
    global _powers, _inverse
    if len(_powers) < n:
        size = max(n, _BATCH_BYTES + 1)
        with np.errstate(over="ignore"):
            _powers = np.cumprod(np.full(size, _P, dtype=np.uint64)) * _P_INV
            _inverse = np.cumprod(np.full(size, _P_INV, dtype=np.uint64)) * _P
    return _powers[:n], _inverse[:n]


def _substring_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash of each ``data[starts[i]:ends[i]]`` (uint8 bytes); equal bytes, equal hash."""
    powers, inverse = _power_tables(len(data) + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(data) + 1, dtype=np.uint64)
        np.cumsum((data.astype(np.uint64) + np.uint64(1)) * powers[: len(data)], out=prefix[1:])
        return (prefix[ends] - prefix[starts]) * inverse[starts]


def _token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(token hashes, tokens per text)`` of the ``split_tokens`` tokens of each text, all texts at once."""
    data = np.frombuffer(" ".join(texts).encode(), dtype=np.uint8)
    starts, ends = split_tokens(data)
    text_end = np.cumsum([(len(t) if t.isascii() else len(t.encode())) + 1 for t in texts])
    counts = np.bincount(np.searchsorted(text_end, starts, side="right"), minlength=len(texts))
    return _substring_hashes(data, starts, ends), counts[: len(texts)]


def _doc_key(doc: np.ndarray, h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return mix64(h ^ (doc.astype(np.uint64) + np.uint64(1)) * _DOC_MIX)


def _shingle_hashes(
    texts: Sequence[str], renames: Sequence[dict[str, str]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    n = len(texts)
    keys = [(d, key, new) for d, table in enumerate(renames) for key, new in table.items()]
    # one pass hashes the texts and, as two more texts, the rename keys and their replacements
    tok, ntok = _token_hashes(
        [*texts, " ".join(key for _, key, _ in keys), " ".join(new for _, _, new in keys)]
    )
    # (keys are CSS or Python names, lower-cased, maybe with "." or "#": word bytes only, one token each)
    assert ntok[n] == ntok[n + 1] == len(keys), "rename keys must be single tokens"
    tok, ntok, key_h, new_h = tok[: ntok[:n].sum()], ntok[:n], *np.split(tok[ntok[:n].sum() :], 2)
    if keys:
        doc = np.repeat(np.arange(n), ntok)
        table_keys = _doc_key(np.array([d for d, _, _ in keys], dtype=np.int64), key_h)
        order = np.argsort(table_keys)
        table_keys, new_h = table_keys[order], new_h[order]
        # a bitmap of key hashes picks the few tokens worth a binary search
        bitmap = np.zeros(_BITMAP, dtype=bool)
        bitmap[key_h & np.uint64(_BITMAP - 1)] = True
        cand = np.flatnonzero(bitmap[tok & np.uint64(_BITMAP - 1)])
        probe = _doc_key(doc[cand], tok[cand])
        at = np.minimum(np.searchsorted(table_keys, probe), len(table_keys) - 1)
        hit = table_keys[at] == probe
        tok[cand[hit]] = new_h[at[hit]]
    width = np.minimum(ntok, k)  # tokens per window
    windows = np.where(ntok > 0, ntok - width + 1, 0)
    first_tok = np.cumsum(ntok) - ntok
    wdoc = np.repeat(np.arange(n), windows)
    start = np.repeat(first_tok, windows) + (
        np.arange(windows.sum()) - np.repeat(np.cumsum(windows) - windows, windows)
    )
    padded = np.concatenate([tok, np.zeros(k, dtype=np.uint64)])
    w = width[wdoc]
    acc = np.zeros(len(start), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            acc += np.where(j < w, padded[start + j], np.uint64(0)) * _WINDOW_MUL[j % len(_WINDOW_MUL)]
    return mix64(acc), windows


def shingle_hashes_batch(
    texts: Sequence[str], renames: Sequence[dict[str, str]], k: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the ``k``-token windows of many documents: ``(flat uint64 hashes, count per document)``.

    ``texts`` and ``renames`` are ``shingle_text`` results; a token equal to a key of its
    document's ``renames`` is hashed as the replacement. A document with fewer than ``k`` tokens gives
    one shingle of all of them, an empty one none. Repeated windows are kept (a bag, as MinHash needs
    only the set). Equal token sequences give equal hashes in any batch and process.
    """
    flats, sizes = [], []
    lo = 0
    while lo < len(texts):
        hi, size = lo + 1, len(texts[lo])
        while hi < len(texts) and size + len(texts[hi]) < _BATCH_BYTES:
            size += len(texts[hi]) + 1
            hi += 1
        flat, count = _shingle_hashes(texts[lo:hi], renames[lo:hi], k)
        flats.append(flat)
        sizes.append(count)
        lo = hi
    if not flats:
        return np.empty(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    return np.concatenate(flats), np.concatenate(sizes)


def code_hash(canon: str) -> str:
    """The exact code hash: sha256 of the canonical form, 16 hex digits."""
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def code_features_batch(
    codes: Sequence[str], kinds: Sequence[str], k: int = 5
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(exact hashes, flat shingle hashes, shingles per code)`` of many codes (see ``code_features``)."""
    hashes, texts, renames = [], [], []
    for code, kind in zip(codes, kinds, strict=True):
        canon = canonical(code, kind)
        hashes.append(code_hash(canon))
        text, table = shingle_text(code, kind, canon)
        texts.append(text)
        renames.append(table)
    flat, sizes = shingle_hashes_batch(texts, renames, k)
    return hashes, flat, sizes


def code_features(code: str, kind: str, k: int = 5) -> tuple[str, np.ndarray]:
    """``(exact hash, shingle hashes)`` of one ``code``: sha256 of the canonical form (16 hex digits)
    and the uint64 hashes of its ``k``-token shingles."""
    hashes, flat, _ = code_features_batch([code], [kind], k)
    return hashes[0], flat
