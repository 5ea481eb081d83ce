"""Dedup benchmark: quality on a labelled set, Hamming clustering at 1M, MinHash dedup of 100k pages.

Run: ``.venv/bin/python bench/bench_dedup.py`` (add ``--quick`` for smaller sizes). Each section runs
in its own process so its peak RSS (``ru_maxrss``) is its own. Sections:

1. quality: the labelled benchmark of ``tests/dedup_benchmark.py`` (originals, realistic variants and
   distinct pages), ~100 pages rendered in Chromium; pairwise precision/recall of the fused clusters
   and of each signal alone, against the baseline of peers (exact hash of the raw code). A larger
   code-only run (no screenshots) follows.
2. hamming: 100k and 1M structured 64-bit hashes (clusters of near hashes + uniform noise) clustered
   at Hamming <= 8, against an all-pairs baseline timed on 20k and extrapolated (quadratic).
3. minhash: 100k generated pages (written to Parquet shards first; generation is not timed), code
   features + signatures in a 2-process pool, then datasketch MinHashLSH and verified pairs;
   against datasketch's own ``MinHash.bulk`` timed on 1,000 pages.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from dedup_benchmark import build, documents, pairwise, render  # noqa: E402

from aesdata.dedup.components import components  # noqa: E402
from aesdata.dedup.fuse import SIGNALS, Deduper  # noqa: E402
from aesdata.dedup.hamming import hamming_pairs  # noqa: E402
from aesdata.dedup.minhash import MinHashIndex, OnePermutationMinHash  # noqa: E402
from aesdata.dedup.normalize import code_features  # noqa: E402

QUICK = "--quick" in sys.argv


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scores(n: int, groups: list[int], result_edges: dict[str, np.ndarray], fused: list[str]) -> dict:
    out = {"fused": pairwise(fused, groups)}
    for name in SIGNALS[:4]:
        out[name] = pairwise(components(n, result_edges[name]), groups)
    return out


def quality() -> dict:
    """Labelled benchmark with rendered screenshots, plus a larger code-only run."""
    pages = build(4, 12, seed=11) if QUICK else build(10, 30, seed=11)
    t = time.perf_counter()
    shots = render([p.html for p in pages])
    render_s = time.perf_counter() - t
    groups = [p.group for p in pages]
    d = Deduper()
    t = time.perf_counter()
    d.add([f"p{i:05d}" for i in range(len(pages))], ["html"] * len(pages), [p.html for p in pages], shots)
    res = d.finish()
    dedup_s = time.perf_counter() - t
    raw = [hash(p.html) for p in pages]
    rendered = _scores(len(pages), groups, res.edges, res.cluster_id)
    rendered["baseline: exact raw code"] = pairwise(raw, groups)
    big = build(60, 200, seed=12) if QUICK else build(300, 1000, seed=12)
    d2 = Deduper()
    t = time.perf_counter()
    d2.add(
        [f"q{i:05d}" for i in range(len(big))], ["html"] * len(big), [p.html for p in big], [None] * len(big)
    )
    res2 = d2.finish()
    code_s = time.perf_counter() - t
    code_only = _scores(len(big), [p.group for p in big], res2.edges, res2.cluster_id)
    code_only["baseline: exact raw code"] = pairwise([hash(p.html) for p in big], [p.group for p in big])
    per_variant = {}
    first = {p.group: res.cluster_id[i] for i, p in enumerate(pages) if p.variant == "original"}
    for i, p in enumerate(pages):
        if p.variant not in ("original", "distinct"):
            hit, total = per_variant.get(p.variant, (0, 0))
            per_variant[p.variant] = (hit + (res.cluster_id[i] == first[p.group]), total + 1)
    return {
        "rendered_pages": len(pages),
        "render_s": render_s,
        "dedup_s": dedup_s,
        "rendered": rendered,
        "variant_recall": per_variant,
        "code_only_pages": len(big),
        "code_only_s": code_s,
        "code_only": code_only,
        "peak_mb": _peak_mb(),
    }


def structured_hashes(n: int, seed: int) -> np.ndarray:
    """``n`` 64-bit hashes: half in clusters of ~5 around random centres (up to 6 flipped bits), half noise."""
    rng = np.random.default_rng(seed)
    n_cl = n // 2
    centres = rng.integers(0, 2**63, size=n_cl // 5, dtype=np.uint64) << np.uint64(1)
    codes = centres[rng.integers(0, len(centres), size=n_cl)]
    for _ in range(6):
        flip = rng.random(n_cl) < 0.5
        codes[flip] ^= np.uint64(1) << rng.integers(0, 64, size=n_cl).astype(np.uint64)[flip]
    noise = rng.integers(0, 2**63, size=n - n_cl, dtype=np.uint64) << np.uint64(1)
    return np.concatenate([codes, noise])


def hamming() -> dict:
    """Time ``hamming_pairs`` + components at 100k and 1M; brute force at 20k as the baseline."""
    out = {}
    sizes = (100_000, 300_000) if QUICK else (100_000, 1_000_000)
    for n in sizes:
        codes = structured_hashes(n, seed=n)
        t, c = time.perf_counter(), time.process_time()
        pairs = hamming_pairs(codes, 8)
        labels = components(n, pairs)
        out[n] = {
            "wall_s": time.perf_counter() - t,
            "cpu_s": time.process_time() - c,
            "pairs": len(pairs),
            "clusters": int(labels.max()) + 1,
        }
    m = 20_000
    codes = structured_hashes(m, seed=1)
    t = time.perf_counter()
    for lo in range(0, m, 1000):
        _ = np.nonzero(np.bitwise_count(codes[lo : lo + 1000, None] ^ codes[None, :]) <= 8)
    brute = time.perf_counter() - t
    out["brute_20k_s"] = brute
    out["brute_1m_extrapolated_s"] = brute * (1_000_000 / m) ** 2
    out["peak_mb"] = _peak_mb()
    return out


_HASHER = OnePermutationMinHash(128)


def _make_shard(args: tuple[int, int, str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    seed, n, folder = args
    docs, groups = documents(n, seed=seed)
    pq.write_table(
        pa.table({"code": docs, "group": groups}), f"{folder}/{seed:05d}.parquet", compression="zstd"
    )
    return n


def _shard_signatures(path: str) -> tuple[np.ndarray, np.ndarray, float]:
    import pyarrow.parquet as pq

    c = time.process_time()
    table = pq.read_table(path)
    shingles = [code_features(code, "html")[1] for code in table.column("code").to_pylist()]
    sig = _HASHER.signatures(shingles)
    return sig, np.array(table.column("group").to_pylist()), time.process_time() - c


def minhash() -> dict:
    """MinHash-dedup ~100k generated pages from Parquet shards with 2 worker processes."""
    n = 20_000 if QUICK else 100_000
    shard = 2_000
    with tempfile.TemporaryDirectory() as folder, Pool(2) as pool:
        t = time.perf_counter()
        pool.map(_make_shard, [(s, shard, folder) for s in range(n // shard)])
        gen_s = time.perf_counter() - t
        paths = sorted(str(p) for p in Path(folder).glob("*.parquet"))
        t = time.perf_counter()
        index = MinHashIndex(0.8, 128)
        groups, cpu = [], 0.0
        start = 0
        for sig, grp, cpu_s in pool.imap(_shard_signatures, paths):
            index.add_signatures(np.arange(start, start + len(sig)), sig)
            groups.append(grp)
            start += len(sig)
            cpu += cpu_s
        features_s = time.perf_counter() - t
        t2 = time.perf_counter()
        pairs = index.pairs()
        labels = components(start, pairs)
        pairs_s = time.perf_counter() - t2
        total_s = time.perf_counter() - t
        precision, recall = pairwise(labels, np.concatenate(groups))
        # baseline: datasketch's own MinHash.bulk (128 affine permutations per shingle)
        from datasketch import MinHash

        docs, _ = documents(1000, seed=99)
        toks = [[s.tobytes() for s in code_features(d, "html")[1]] for d in docs]
        t3 = time.process_time()
        MinHash.bulk(toks, num_perm=128)
        bulk_cpu = time.process_time() - t3
        t3 = time.process_time()
        _HASHER.signatures([code_features(d, "html")[1] for d in docs])
        ours_cpu_with_features = time.process_time() - t3
        t3 = time.process_time()
        _HASHER.signatures([np.frombuffer(b"".join(x), dtype=np.uint64) for x in toks])
        ours_cpu = time.process_time() - t3
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "docs": start,
        "generate_s": gen_s,
        "features_signatures_index_s": features_s,
        "worker_cpu_s": cpu,
        "pairs_components_s": pairs_s,
        "total_dedup_s": total_s,
        "bands_rows": index.bands_rows,
        "pairs": len(pairs),
        "precision": precision,
        "recall": recall,
        "datasketch_bulk_cpu_s_per_1k": bulk_cpu,
        "ours_signatures_cpu_s_per_1k": ours_cpu,
        "ours_features_and_signatures_cpu_s_per_1k": ours_cpu_with_features,
        "peak_mb": _peak_mb(),
        "worker_peak_mb": children,
    }


def _table(title: str, rows: list[tuple]) -> None:
    print(f"\n## {title}")
    for row in rows:
        print("  " + " | ".join(f"{c:>12}" if not isinstance(c, str) else f"{c:<34}" for c in row))


def main() -> None:
    section = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--section=")), None)
    if section:
        print(
            json.dumps({"quality": quality, "hamming": hamming, "minhash": minhash}[section](), default=str)
        )
        return
    results = {}
    for name in ("quality", "hamming", "minhash"):
        args = [sys.executable, __file__, f"--section={name}", *(["--quick"] if QUICK else [])]
        proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
        if proc.returncode:
            print(proc.stderr[-3000:])
            raise SystemExit(f"section {name} failed")
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    q = results["quality"]
    for key, label in (
        ("rendered", f"{q['rendered_pages']} rendered pages"),
        ("code_only", f"{q['code_only_pages']} pages, code only"),
    ):
        _table(
            f"Quality, {label}: pairwise precision / recall",
            [("signal", "precision", "recall")]
            + [(name, f"{p:.4f}", f"{r:.4f}") for name, (p, r) in q[key].items()],
        )
    _table(
        "Recall by variant (rendered set: variant in its original's cluster)",
        [(v, f"{h}/{t}") for v, (h, t) in q["variant_recall"].items()],
    )
    print(
        f"  render {q['render_s']:.1f} s, dedup {q['dedup_s']:.2f} s (rendered set); code-only dedup {q['code_only_s']:.2f} s; peak {q['peak_mb']:.0f} MB"
    )
    h = results["hamming"]
    sizes = [k for k in h if k.isdigit()]
    _table(
        "Hamming <= 8 clustering (multi-index hashing)",
        [("hashes", "wall s", "cpu s", "pairs", "clusters")]
        + [
            (f"{int(k):,}", f"{h[k]['wall_s']:.2f}", f"{h[k]['cpu_s']:.2f}", h[k]["pairs"], h[k]["clusters"])
            for k in sizes
        ],
    )
    a, b = sizes[0], sizes[-1]
    print(
        f"  growth {int(b) // int(a)}x rows -> {h[b]['wall_s'] / h[a]['wall_s']:.1f}x time (quadratic would be {(int(b) / int(a)) ** 2:.0f}x)"
    )
    print(
        f"  baseline all-pairs: 20k in {h['brute_20k_s']:.2f} s -> 1M extrapolated {h['brute_1m_extrapolated_s']:.0f} s; peak {h['peak_mb']:.0f} MB"
    )
    m = results["minhash"]
    _table(
        f"MinHash dedup of {m['docs']:,} generated pages (2 worker processes)",
        [
            ("generate pages (not timed in dedup)", f"{m['generate_s']:.1f} s"),
            ("features + signatures + LSH insert", f"{m['features_signatures_index_s']:.1f} s"),
            ("  worker CPU", f"{m['worker_cpu_s']:.1f} s"),
            ("verified pairs + components", f"{m['pairs_components_s']:.1f} s"),
            ("total dedup wall", f"{m['total_dedup_s']:.1f} s"),
            ("LSH bands x rows", f"{m['bands_rows'][0]} x {m['bands_rows'][1]}"),
            ("pairs / precision / recall", f"{m['pairs']} / {m['precision']:.4f} / {m['recall']:.4f}"),
            ("datasketch MinHash.bulk, 1k pages", f"{m['datasketch_bulk_cpu_s_per_1k']:.2f} s cpu"),
            ("ours one-permutation, 1k pages", f"{m['ours_signatures_cpu_s_per_1k']:.3f} s cpu"),
            (
                "ours incl. normalise+shingle, 1k",
                f"{m['ours_features_and_signatures_cpu_s_per_1k']:.2f} s cpu",
            ),
            ("peak RSS main / worker", f"{m['peak_mb']:.0f} / {m['worker_peak_mb']:.0f} MB"),
        ],
    )


if __name__ == "__main__":
    main()
