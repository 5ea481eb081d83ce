"""Dedup: normalisation, the Hamming index, MinHash, and the fused stage on a labelled benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dedup_benchmark import build, pairwise, render  # noqa: E402

from aesdata.dedup.components import components  # noqa: E402
from aesdata.dedup.hamming import hamming_pairs  # noqa: E402
from aesdata.dedup.minhash import OnePermutationMinHash  # noqa: E402
from aesdata.dedup.normalize import _TOKEN, canonical  # noqa: E402
from aesdata.dedup.shingles import code_features, shingle_hashes_batch, split_tokens  # noqa: E402
from aesdata.errors import AesdataError  # noqa: E402
from aesdata.schema import IMAGE  # noqa: E402
from aesdata.stage import StageContext  # noqa: E402
from aesdata.stages.dedup import Dedup, DedupConfig  # noqa: E402

PAGE = """<!DOCTYPE html><html><head><title>Coffee</title>
<script src="https://cdn.jsdelivr.net/npm/chart.js@4.4.0/dist/chart.umd.min.js" integrity="sha384-abc"></script>
<style>/* theme */ .card { color: #333; padding: 8px }</style></head>
<body><div class="card big" id="a">Fresh beans</div><script>// go
let n = 1 + 2;</script></body></html>"""

SAME = """<!DOCTYPE html>
<html>
  <head>
    <!-- a comment -->
    <title>Coffee</title>
    <script src="https://unpkg.com/chart.js@3.9.1/dist/chart.umd.min.js"></script>
    <style>
      .card{color:#333;padding:8px;}
    </style>
  </head>
  <body>
    <div id="a"   class="big card">Fresh beans</div>
    <script>let n = 1+2; /* done */</script>
  </body>
</html>"""

PLOT = "import matplotlib.pyplot as plt  # draw\nxs = [1, 2, 3]\nplt.plot(xs, color='#ff0000')\n"
PLOT_RENAMED = (
    "import matplotlib.pyplot as plt\n\nvalues = [1, 2, 3]\nplt.plot(values, color='#0000ff')  # blue\n"
)


def test_canonical_code_ignores_comments_whitespace_attribute_order_and_cdn_version() -> None:
    assert canonical(PAGE, "html") == canonical(SAME, "html")
    assert code_features(PAGE, "html")[0] == code_features(SAME, "html")[0]
    assert code_features(PAGE, "html")[0] != code_features(PAGE.replace("Fresh", "Stale"), "html")[0]
    assert "cdn:chart.js/dist/chart.umd.min.js" in canonical(PAGE, "html")
    assert canonical(PLOT, "plot") != canonical(PLOT_RENAMED, "plot")
    # renamed variables and another colour give the same shingles
    assert set(code_features(PLOT, "plot")[1]) == set(code_features(PLOT_RENAMED, "plot")[1])


def test_python_shingles_ignore_docstrings_titles_numbers_and_look_but_not_columns() -> None:
    script = (
        '"""Mean temperature per city."""\nimport seaborn as sns\n'
        'grid = df.pivot_table(index="city", values="temp_c")\n'
        'sns.heatmap(grid, cmap="RdBu_r", center=12, linecolor="white", fmt=".0f")\n'
        'ax.set_title("Mean temperature, 2023", loc="left")\n'
    )
    clone = (
        '"""Average temperatures as a colour table."""\nimport seaborn as sns\n'
        'table = df.pivot_table(index="city", values="temp_c")\n'
        'sns.heatmap(table, cmap="coolwarm", center=14.5, linecolor="#222", fmt=".1f")  # darker\n'
        "ax.set_title(f'Average temperature per month ({year})', loc='left')\n"
    )
    other_column = script.replace('"temp_c"', '"rain_mm"')
    shingles = [set(code_features(c, "plot")[1].tolist()) for c in (script, clone, other_column)]
    assert shingles[0] == shingles[1] != shingles[2]
    # the exact hash still tells them apart
    assert code_features(script, "plot")[0] != code_features(clone, "plot")[0]


def test_vectorised_tokens_match_the_token_regex() -> None:
    rng = np.random.default_rng(0)
    alphabet = np.array(list("<</ab-_#%.{}()[]=;:,/*+ \"'>!&9"))
    for _ in range(3000):
        text = "".join(rng.choice(alphabet, size=rng.integers(0, 16)))
        data = np.frombuffer(text.encode(), dtype=np.uint8)
        starts, ends = split_tokens(data)
        assert [text[a:b] for a, b in zip(starts, ends, strict=True)] == _TOKEN.findall(text), text
    # renames apply per document: ".card" is renamed in the first text only
    flat, sizes = shingle_hashes_batch(["<div .card x", "<div .card x"], [{".card": ".c0"}, {}], k=3)
    ref, _ = shingle_hashes_batch(["<div .c0 x"], [{}], k=3)
    assert sizes.tolist() == [1, 1] and flat[0] == ref[0] != flat[1]


def _structured(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.integers(0, 2**63, size=n // 8, dtype=np.uint64) << np.uint64(1)
    codes = centres[rng.integers(0, len(centres), size=n)]
    for _ in range(6):
        flip = rng.random(n) < 0.5
        codes[flip] ^= np.uint64(1) << rng.integers(0, 64, size=n).astype(np.uint64)[flip]
    return np.concatenate([codes, rng.integers(0, 2**63, size=n, dtype=np.uint64)])


@pytest.mark.parametrize("radius", [0, 3, 8])
def test_hamming_pairs_match_brute_force(radius: int) -> None:
    codes = _structured(1500, np.random.default_rng(radius))
    pairs = hamming_pairs(codes, radius)
    dist = np.bitwise_count(codes[:, None] ^ codes[None, :])
    assert (pairs[:, 0] < pairs[:, 1]).all()
    assert (dist[pairs[:, 0], pairs[:, 1]] <= radius).all()
    i, j = np.nonzero(np.triu(dist <= radius, 1))
    expect = components(len(codes), np.stack([i, j], axis=1))
    got = components(len(codes), pairs)
    assert (np.equal.outer(expect, expect) == np.equal.outer(got, got)).all()
    assert len(pairs) >= len(i) // 4 and (radius == 0 or len(pairs) > 100)  # planted clusters found


def test_one_permutation_minhash_estimates_jaccard() -> None:
    rng = np.random.default_rng(0)
    hasher = OnePermutationMinHash(128)
    errors = []
    for _ in range(100):
        pool = rng.integers(0, 2**63, size=400, dtype=np.uint64)
        a, b = pool[:300], pool[100:]  # Jaccard 200/400
        sig = hasher.signatures([a, b])
        errors.append((sig[0] == sig[1]).mean() - 0.5)
    assert abs(np.mean(errors)) < 0.02 and np.std(errors) < 0.07


def _run(rows: list[dict], tmp_path: Path, shard_rows: int | None = None, **config: object) -> pa.Table:
    table = pa.table(
        {
            "id": [r["id"] for r in rows],
            "kind": [r.get("kind", "html") for r in rows],
            "code": [r.get("code") for r in rows],
            "screenshot": pa.array(
                [{"bytes": r["png"], "path": None} if r.get("png") else None for r in rows], type=IMAGE
            ),
            "render_status": [r.get("status", "ok" if r.get("png") else "crash") for r in rows],
            "_shard": [0] * len(rows),
        }
    )
    context = StageContext(spec_dir=tmp_path, run_dir=tmp_path, stage_dir=tmp_path)
    stage = Dedup(DedupConfig(**config), context)
    if shard_rows is None:
        return stage.run_global(table)
    # as the executor passes them: one table per shard
    return stage.run_global([table.slice(lo, shard_rows) for lo in range(0, len(table), shard_rows)])


def test_code_benchmark_precision_and_recall(tmp_path: Path) -> None:
    pages = build(40, 60, seed=3)
    rows = [{"id": f"p{i:04d}", "code": p.html} for i, p in enumerate(pages)]
    assert len(rows) > 256  # more than one batch: features come from 2 worker processes
    out = _run(rows, tmp_path, shard_rows=64, workers=2)
    precision, recall = pairwise(out.column("cluster_id").to_pylist(), [p.group for p in pages])
    assert precision >= 0.99 and recall >= 0.95, (precision, recall)
    assert out.column("phash").null_count == len(pages)  # no screenshots, no visual signal
    # the pool changes nothing: the same table as computing every feature in this process
    assert out.equals(_run(rows, tmp_path, workers=1))
    assert out.column("id").to_pylist() == [r["id"] for r in rows]


def test_rendered_benchmark_fuses_code_and_visual_signals(tmp_path: Path) -> None:
    pages = build(4, 6, seed=5)
    blank_a = "<html><body><h1 style='font-size:14px'>Welcome to our shop</h1></body></html>"
    blank_b = "<html><body><p style='font:13px serif;margin:40px'>Page under construction, back soon</p></body></html>"
    shots = render([p.html for p in pages] + [blank_a, blank_b])
    rows = [
        {"id": f"p{i:04d}", "code": p.html, "png": s}
        for i, (p, s) in enumerate(zip(pages, shots, strict=False))
    ]
    rows += [
        {"id": "blank-a", "code": blank_a, "png": shots[-2]},
        {"id": "blank-b", "code": blank_b, "png": shots[-1]},
    ]
    rows.append({"id": "failed", "code": "<html><body><script>boom(</script></body></html>", "png": None})
    out = _run(rows, tmp_path)
    cluster = out.column("cluster_id").to_pylist()
    signals = out.column("dup_signals").to_pylist()
    groups = [p.group for p in pages] + [100, 101, 102]
    precision, recall = pairwise(cluster, groups)
    assert precision >= 0.99 and recall >= 0.95, (precision, recall)
    n = len(pages)
    assert any(s and "visual" in s for s in signals[:n])
    # near-blank pages collide under phash, but the ink guard keeps them apart
    phash = out.column("phash").to_pylist()
    assert np.bitwise_count(np.uint64(int(phash[n], 16) ^ int(phash[n + 1], 16))) <= 8
    assert cluster[n] != cluster[n + 1] and signals[n] is None and signals[n + 1] is None
    # the failed render has no image hashes and stays alone
    assert out.column("image_hash")[n + 2].as_py() is None and cluster[n + 2] == "failed"
    sizes = out.column("cluster_size").to_pylist()
    assert all(sizes[i] == cluster.count(cluster[i]) for i in range(len(rows)))


def test_reference_sets_mark_and_cluster_near_rows(tmp_path: Path) -> None:
    pages = [p for p in build(3, 0, seed=7) if p.variant in ("original", "retitled")]
    ref_group = pages[0].group
    reference = tmp_path / "bench.jsonl"
    original = next(p for p in pages if p.group == ref_group and p.variant == "original")
    reference.write_text(json.dumps({"id": "task-1", "code": original.html}) + "\n")
    out = _run(
        [{"id": f"p{i}", "code": p.html} for i, p in enumerate(pages)], tmp_path, reference=["bench.jsonl"]
    )
    for p, cid, sig in zip(
        pages, out.column("cluster_id").to_pylist(), out.column("dup_signals").to_pylist(), strict=True
    ):
        if p.group == ref_group:
            assert cid == "ref:bench:task-1" and "reference" in sig
        else:
            assert not cid.startswith("ref:") and "reference" not in (sig or "")
    with pytest.raises(AesdataError, match="does not exist"):
        _run([{"id": "x", "code": PAGE}], tmp_path, reference=["missing.parquet"])


def test_demo_corpus_near_copies_cluster_with_their_originals_and_instructions_stay_apart(
    tmp_path: Path,
) -> None:
    corpus = Path(__file__).parent.parent / "aesdata" / "data" / "demo" / "corpus"
    cands = [
        json.loads(line) for line in (corpus / "candidates.jsonl").read_text().splitlines() if line.strip()
    ]
    rows = [
        {"id": c["code_file"], "kind": c["kind"], "code": (corpus / c["code_file"]).read_text()}
        for c in cands
    ]
    out = _run(rows, tmp_path)  # code signals only: no screenshots
    cluster = dict(zip(out.column("id").to_pylist(), out.column("cluster_id").to_pylist(), strict=True))
    copies = [c for c in cands if c["near_copy_of"]]
    assert len(copies) == 8
    for c in copies:
        assert cluster[c["code_file"]] == cluster[c["near_copy_of"]], c["code_file"]
    instructions: dict[str, set[str]] = {}
    for c in cands:
        instructions.setdefault(cluster[c["code_file"]], set()).add(c["instruction_id"])
    assert all(len(ids) == 1 for ids in instructions.values()), instructions
    # and the labelled pairs are all it finds in this corpus
    assert len(instructions) == len(cands) - len(copies)
