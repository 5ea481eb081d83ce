"""Dedup benchmark: quality on a labelled set, Hamming clustering at 1M, MinHash dedup of 100k pages.

Run: ``.venv/bin/python bench/bench_dedup.py`` (add ``--quick`` for smaller sizes). Each section runs
in its own process so its peak RSS (``ru_maxrss``) is its own. Sections:

1. quality: the labelled benchmark of ``tests/dedup_benchmark.py`` (originals, realistic variants and
   distinct pages), ~100 pages rendered in Chromium; pairwise precision/recall of the fused clusters
   and of each signal alone, against the baseline of peers (exact hash of the raw code). A larger
   code-only run (no screenshots) follows, and the demo corpus (HTML pages and plot scripts, code
   only) scored on its labelled near-copies.
2. hamming: 100k and 1M structured 64-bit hashes (clusters of near hashes + uniform noise) clustered
   at Hamming <= 8, against an all-pairs baseline timed on 20k and extrapolated (quadratic).
3. minhash: the ``dedup`` stage itself over 100k generated pages (written to Parquet shards of 2,000
   rows first; generation is not timed), read shard by shard; row features on its process pool (one
   worker per CPU), LSH index and clustering in the main process. Reports wall and CPU time (main +
   workers), CPU per phase, peak RSS of main and workers, and whether the two-minute target holds on
   wall time and on CPU time / 2 cores (the machine is shared, so wall time depends on its load).
   Baselines in the same process: the previous normaliser (loaded from git at dfeb91e) against the
   current one on a 2,000-page subsample, one process, extrapolated to the run's size; and
   datasketch's ``MinHash.bulk`` against our signatures on 1,000 pages.
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
from aesdata.dedup.shingles import code_features_batch  # noqa: E402
from aesdata.resources import machine_cpus  # noqa: E402
from aesdata.schema import IMAGE  # noqa: E402
from aesdata.stage import StageContext  # noqa: E402
from aesdata.stages.dedup import Dedup, DedupConfig  # noqa: E402

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
        "demo": demo_corpus(),
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


def demo_corpus() -> dict:
    """The demo corpus's 66 candidates (HTML and plot scripts), code only: its 8 labelled near-copies
    (``near_copy_of``) are the groups; also counts clusters that span two instructions."""
    corpus = ROOT / "aesdata" / "data" / "demo" / "corpus"
    cands = [
        json.loads(line) for line in (corpus / "candidates.jsonl").read_text().splitlines() if line.strip()
    ]
    codes = [(corpus / c["code_file"]).read_text() for c in cands]
    index = {c["code_file"]: i for i, c in enumerate(cands)}
    groups = [index[c["near_copy_of"] or c["code_file"]] for c in cands]
    d = Deduper()
    d.add([c["code_file"] for c in cands], [c["kind"] for c in cands], codes, [None] * len(cands))
    res = d.finish()
    out = _scores(len(cands), groups, res.edges, res.cluster_id)
    out["baseline: exact raw code"] = pairwise(codes, groups)
    spans = {}
    for cid, c in zip(res.cluster_id, cands, strict=True):
        spans.setdefault(cid, set()).add(c["instruction_id"])
    return {"scores": out, "cross_instruction_clusters": sum(len(s) > 1 for s in spans.values())}


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


def _make_shard(args: tuple[int, int, str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    seed, n, folder = args
    docs, groups = documents(n, seed=seed)
    table = pa.table(
        {
            "id": [f"s{seed:03d}-{i:05d}" for i in range(n)],
            "kind": ["html"] * n,
            "code": docs,
            "screenshot": pa.nulls(n, IMAGE),
            "render_status": pa.nulls(n, pa.string()),
            "group": groups,
        }
    )
    pq.write_table(table, f"{folder}/{seed:05d}.parquet", compression="zstd")
    return n


def generate(folder: str) -> dict:
    """Write the generated pages as Parquet shards of 2,000 rows (not part of the timed dedup)."""
    n = 20_000 if QUICK else 100_000
    t = time.perf_counter()
    with Pool(2) as pool:
        rows = sum(pool.map(_make_shard, [(s, 2_000, folder) for s in range(n // 2_000)]))
    return {"rows": rows, "generate_s": time.perf_counter() - t}


class _Shards:
    """A ``ShardReader`` over the bench's Parquet shards (what the executor hands a global stage)."""

    def __init__(self, paths: list[Path], columns: list[str]) -> None:
        self.paths, self.columns = paths, columns

    def __iter__(self):  # noqa: ANN204
        import pyarrow.parquet as pq

        for path in self.paths:
            yield pq.read_table(path, columns=self.columns)

    def __len__(self) -> int:
        return len(self.paths)

    def read_all(self):  # noqa: ANN201
        import pyarrow as pa

        return pa.concat_tables(list(self))


def _old_normaliser():  # noqa: ANN202
    """The normaliser before this rewrite (git HEAD~ version at dfeb91e), loaded from git, or None."""
    import importlib.util

    proc = subprocess.run(
        ["git", "show", "dfeb91e:aesdata/dedup/normalize.py"], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode:
        return None
    path = Path(tempfile.mkdtemp()) / "normalize_old.py"
    path.write_text(proc.stdout)
    spec = importlib.util.spec_from_file_location("normalize_old", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline(n: int = 2_000) -> dict:
    """CPU per page of the old and new code features (normalise + shingle hashes), one process."""
    docs, _ = documents(n, seed=99)
    code_features_batch(docs[:50], ["html"] * 50)  # warm up (power tables)
    t = time.process_time()
    for lo in range(0, n, 256):
        code_features_batch(docs[lo : lo + 256], ["html"] * len(docs[lo : lo + 256]))
    new = (time.process_time() - t) / n
    old_module = _old_normaliser()
    old = None
    if old_module is not None:
        t = time.process_time()
        for d in docs:
            old_module.code_features(d, "html")
        old = (time.process_time() - t) / n
    # the signatures: ours (one permutation) against datasketch's MinHash.bulk, on 1,000 pages
    from datasketch import MinHash

    _, flat, sizes = code_features_batch(docs[:1000], ["html"] * 1000)
    sets = np.split(flat, np.cumsum(sizes)[:-1])
    t = time.process_time()
    MinHash.bulk([[x.tobytes() for x in s] for s in sets], num_perm=128)
    bulk = time.process_time() - t
    t = time.process_time()
    OnePermutationMinHash(128).signatures_flat(flat, sizes)
    ours = time.process_time() - t
    return {
        "pages": n,
        "new_ms": new * 1e3,
        "old_ms": old * 1e3 if old else None,
        "datasketch_bulk_s_per_1k": bulk,
        "ours_signatures_s_per_1k": ours,
    }


def minhash(folder: str) -> dict:
    """The dedup stage itself over ~100k generated pages in Parquet shards, with its process pool."""
    import pyarrow.parquet as pq

    paths = sorted(Path(folder).glob("*.parquet"))
    context = StageContext(spec_dir=ROOT, run_dir=Path(folder), stage_dir=Path(folder))
    stage = Dedup(DedupConfig(), context)
    workers = machine_cpus()
    t, c = time.perf_counter(), time.process_time()
    out = stage.run_global(_Shards(paths, ["id", *Dedup.requires]))
    wall, main_cpu = time.perf_counter() - t, time.process_time() - c
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    groups = np.concatenate([pq.read_table(p, columns=["group"]).column("group").to_numpy() for p in paths])
    precision, recall = pairwise(out.column("cluster_id").to_pylist(), groups)
    return {
        "docs": out.num_rows,
        "workers": workers,
        "wall_s": wall,
        "main_cpu_s": main_cpu,
        "worker_cpu_s": children.ru_utime + children.ru_stime,
        "phases": stage.cpu_s,
        "bands_rows": MinHashIndex(0.8, 128).bands_rows,
        "clusters": len(set(out.column("cluster_id").to_pylist())),
        "precision": precision,
        "recall": recall,
        "peak_mb": _peak_mb(),
        "worker_peak_mb": children.ru_maxrss / 1024,
        "baseline": baseline(),
    }


def _table(title: str, rows: list[tuple]) -> None:
    print(f"\n## {title}")
    for row in rows:
        print("  " + " | ".join(f"{c:>12}" if not isinstance(c, str) else f"{c:<34}" for c in row))


def main() -> None:
    section = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--section=")), None)
    folder = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--folder=")), None)
    if section:
        run = {"quality": quality, "hamming": hamming, "generate": generate, "minhash": minhash}[section]
        print(json.dumps(run(folder) if section in ("generate", "minhash") else run(), default=str))
        return
    only = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("--only=")), None)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("quality", "hamming", "generate", "minhash"):
            if only and name not in only and not (name == "generate" and "minhash" in only):
                continue
            args = [
                sys.executable,
                __file__,
                f"--section={name}",
                f"--folder={tmp}",
                *(["--quick"] if QUICK else []),
            ]
            proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
            if proc.returncode:
                print(proc.stderr[-3000:])
                raise SystemExit(f"section {name} failed")
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    if "quality" in results:
        _print_quality(results["quality"])
    if "hamming" in results:
        _print_hamming(results["hamming"])
    if "minhash" in results:
        _print_minhash(results["generate"], results["minhash"])


def _print_quality(q: dict) -> None:
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
        "Demo corpus (66 candidates, 8 labelled near-copies), code only: pairwise precision / recall",
        [("signal", "precision", "recall")]
        + [(name, f"{p:.4f}", f"{r:.4f}") for name, (p, r) in q["demo"]["scores"].items()],
    )
    print(f"  clusters spanning two instructions: {q['demo']['cross_instruction_clusters']}")
    _table(
        "Recall by variant (rendered set: variant in its original's cluster)",
        [(v, f"{h}/{t}") for v, (h, t) in q["variant_recall"].items()],
    )
    print(
        f"  render {q['render_s']:.1f} s, dedup {q['dedup_s']:.2f} s (rendered set); code-only dedup {q['code_only_s']:.2f} s; peak {q['peak_mb']:.0f} MB"
    )


def _print_hamming(h: dict) -> None:
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


def _print_minhash(g: dict, m: dict) -> None:
    n = m["docs"]
    cpu = m["main_cpu_s"] + m["worker_cpu_s"]
    ph = m["phases"]
    b = m["baseline"]
    rows = [
        ("generate pages (not timed in dedup)", f"{g['generate_s']:.1f} s"),
        ("dedup stage wall", f"{m['wall_s']:.1f} s"),
        ("rows / s (wall)", f"{n / m['wall_s']:,.0f}"),
        ("CPU: main + workers", f"{m['main_cpu_s']:.1f} + {m['worker_cpu_s']:.1f} = {cpu:.1f} s"),
        ("  normalise (workers)", f"{ph['normalise']:.1f} s cpu"),
        ("  minhash signatures (workers)", f"{ph['minhash']:.1f} s cpu"),
        ("  LSH insert (main)", f"{ph['lsh_insert']:.1f} s cpu"),
        ("  LSH pairs + verify (main)", f"{ph['lsh_pairs']:.1f} s cpu"),
        ("  cluster (main)", f"{ph['cluster']:.2f} s cpu"),
        ("  rest (read shards, pickling, start-up)", f"{cpu - sum(ph.values()):.1f} s cpu"),
        ("target 120 s on wall time", "holds" if m["wall_s"] < 120 else "MISSED"),
        ("target 120 s on CPU / 2 cores", f"{cpu / 2:.1f} s: " + ("holds" if cpu / 2 < 120 else "MISSED")),
        ("LSH bands x rows", f"{m['bands_rows'][0]} x {m['bands_rows'][1]}"),
        ("clusters / precision / recall", f"{m['clusters']} / {m['precision']:.4f} / {m['recall']:.4f}"),
        ("peak RSS main / largest worker", f"{m['peak_mb']:.0f} / {m['worker_peak_mb']:.0f} MB"),
        (f"normalise+shingle, {b['pages']} pages: new", f"{b['new_ms']:.3f} ms/page cpu"),
    ]
    if b["old_ms"]:
        rows += [
            ("  old (dfeb91e), same pages", f"{b['old_ms']:.3f} ms/page cpu"),
            ("  speed-up", f"{b['old_ms'] / b['new_ms']:.1f}x"),
            (f"  old extrapolated to {n:,} pages", f"{b['old_ms'] * n / 1e3:.0f} s cpu"),
        ]
    rows += [
        ("datasketch MinHash.bulk, 1k pages", f"{b['datasketch_bulk_s_per_1k']:.2f} s cpu"),
        ("ours one-permutation, 1k pages", f"{b['ours_signatures_s_per_1k']:.3f} s cpu"),
    ]
    _table(f"MinHash dedup of {n:,} generated pages: the dedup stage, {m['workers']} worker processes", rows)


if __name__ == "__main__":
    main()
