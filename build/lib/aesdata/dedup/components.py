"""Connected components of a pair graph (the union-find step), via scipy's sparse graph routines."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Component label (0..k-1, int64) of each of ``n`` nodes linked by ``pairs`` (an (E, 2) int array)."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)
