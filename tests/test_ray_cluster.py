"""The Ray backend on a real multi-node cluster started on this machine (``ray.cluster_utils.Cluster``).

Three nodes with their own resources (1, 3 and 1 CPUs): a per-node stage runs one worker per node, sized
to what Ray reserved on it; other stages get as many workers as the nodes fit; removing a node in the
middle of a step still completes the build with the local executor's rows; an infeasible request and a
wrong address are errors within seconds; and ``stats.json`` is rewritten while a build runs. One cluster
for the module; the stages are cheap test stages (``tests/ray_stages.py``), not renders.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray
from ray.cluster_utils import Cluster

from aesdata.errors import AesdataError
from aesdata.executor import LocalExecutor
from aesdata.executor import stats as stats_module
from aesdata.executor.envcheck import compare, raise_if_different
from aesdata.executor.nodes import Node, check_fits, placement, worker_cpus
from aesdata.executor.ray_backend import RayExecutor
from aesdata.query import run_sql
from aesdata.resources import Resources
from aesdata.spec import load_pipeline
from tests.frame_helpers import PIPE, REPO, cli, write_corpus, write_pipeline
from tests.ray_stages import NodeSlow

NODE_CPUS = (1, 3, 1)

RAY_PIPE = """name: t
shard_size: {shard_size}
plugins: [tests.ray_stages]
stages:
  - stage: read_corpus
    path: corpus.jsonl
{steps}"""


@pytest.fixture(scope="module")
def cluster():
    """A 3-node Ray cluster (1, 3, 1 CPUs) whose workers import this checkout, and a driver connected to it."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), old) if p)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": NODE_CPUS[0], "include_dashboard": False})
    for cpus in NODE_CPUS[1:]:
        c.add_node(num_cpus=cpus, wait=False)
    c.wait_for_nodes(timeout=120)
    ray.init(address=c.address, log_to_driver=False, configure_logging=False)
    yield c
    ray.shutdown()
    c.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def _pipeline(folder: Path, steps: str, n: int = 12, shard_size: int = 2):
    folder.mkdir(parents=True, exist_ok=True)
    write_corpus(folder, n)
    return load_pipeline(write_pipeline(folder, RAY_PIPE.format(shard_size=shard_size, steps=steps)))


def _scores(run: Path) -> list[dict]:
    return run_sql(run, "SELECT id, code, static_score FROM samples ORDER BY id").to_pylist()


def _alive() -> dict[str, float]:
    return {n["NodeID"]: n["Resources"]["CPU"] for n in ray.nodes() if n["Alive"]}


def test_per_node_stage_gets_one_worker_per_node_others_as_many_as_fit(cluster, tmp_path: Path) -> None:
    pipe = _pipeline(tmp_path, "  - stage: test_node_tag\n", n=12)
    executor = RayExecutor(pipe, tmp_path / "run")
    res = executor.run()
    alive = _alive()
    assert len(alive) == 3
    workers = [json.loads(p.read_text()) for p in (tmp_path / "run/stages/test_node_tag/workers").glob("*")]
    # exactly one worker per node, each seeing the CPUs Ray reserved for it (the node's), not the machine's
    assert sorted(w["node"] for w in workers) == sorted(alive)
    assert {w["node"]: w["cpus"] for w in workers} == {k: int(v) for k, v in alive.items()}
    tags = pq.read_table(sorted((tmp_path / "run/stages/test_node_tag").glob("shard-*.parquet")))
    assert set(tags.column("static_judge").to_pylist()) <= set(alive)
    assert res.steps[1].workers == 3
    # a stage of 1 CPU per worker gets as many workers as the nodes fit, capped by its shards
    assert executor.plan_workers(NodeSlow, 10) == sum(NODE_CPUS)
    assert executor.plan_workers(NodeSlow, 2) == 2
    stats = json.loads((tmp_path / "run/stats.json").read_text())
    assert stats["status"] == "complete" and stats["executor"] == "ray"
    tag = next(s for s in stats["steps"] if s["id"] == "test_node_tag")
    assert (tag["workers"], tag["nodes"], tag["rows_done"], tag["rows_total"]) == (3, 3, 12, 12)


def test_infeasible_request_fails_fast_naming_step_request_and_largest_node(cluster, tmp_path: Path) -> None:
    pipe = _pipeline(tmp_path, "  - stage: test_greedy\n", n=4)
    t0 = time.monotonic()
    with pytest.raises(AesdataError) as err:
        RayExecutor(pipe, tmp_path / "run").run()
    assert time.monotonic() - t0 < 30
    text = str(err.value)
    assert "'test_greedy'" in text and "64 CPUs" in text and "the largest of 3 has 3 CPUs" in text


def test_wrong_address_fails_within_seconds(tmp_path: Path) -> None:
    write_corpus(tmp_path, 4)
    write_pipeline(tmp_path, PIPE.format(shard_size=2, delay=0, salt="w"))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    res = cli("build", "p.yaml", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}", cwd=tmp_path)
    assert time.monotonic() - t0 < 30
    assert res.returncode == 1
    assert f"Cannot reach the Ray cluster at '127.0.0.1:{port}'" in res.stderr
    assert "Traceback" not in res.stderr


def test_placement_per_node_caps_and_browser_slots() -> None:
    gib = 2**30
    nodes = [
        Node("a" * 8, "10.0.0.1", {"CPU": 8.0, "memory": 64 * gib}),
        Node("b" * 8, "10.0.0.2", {"CPU": 2.0, "memory": 64 * gib, "browser_slots": 4.0}),
        Node("c" * 8, "10.0.0.3", {"CPU": 16.0, "memory": 4 * gib, "browser_slots": 8.0}),
    ]
    ids = lambda ws: [n.id[0] for n in ws]  # noqa: E731
    # max_workers caps per node; memory caps node c; interleaved across nodes
    judge = Resources(cpus=1, memory_gb=1.5, max_workers=2)
    assert ids(placement(judge, nodes[:1] + [Node("c" * 8, "x", nodes[2].resources)], 99, None)) == list(
        "acac"
    )
    # once a node declares browser_slots, browser stages run only on nodes that declare it
    render = Resources(cpus=2, browser_slots=1, memory_gb=3, per_node=True)
    assert ids(placement(render, nodes, 99, None)) == ["b", "c"]
    assert worker_cpus(render, nodes[2]) == 16.0  # a per-node worker reserves the whole node
    # shards and --workers cap the count, still spread over nodes
    plain = Resources(cpus=1, memory_gb=0.5)
    assert ids(placement(plain, nodes, 3, None)) == ["a", "b", "c"]
    assert ids(placement(plain, nodes, 99, 4)) == ["a", "b", "c", "a"]
    with pytest.raises(AesdataError, match=r"'big' \(big\) asks Ray for 32 CPUs.*largest of 3 has 16 CPUs"):
        check_fits("big", "big", Resources(cpus=32), nodes)


def test_node_environment_differences_are_named() -> None:
    driver = {"aesdata": "0.3.0", "chromium": "156 headless-shell", "assets": "lock abc"}
    nodes = {"n1 (10.0.0.1)": dict(driver), "n2 (10.0.0.2)": {**driver, "chromium": "missing (no Chromium)"}}
    assert compare(driver, nodes) == [
        "node n2 (10.0.0.2): Chromium missing (no Chromium) (the driver has 156 headless-shell)"
    ]
    with pytest.raises(AesdataError, match="node n2 .*Chromium missing"):
        raise_if_different(driver, nodes)


def test_a_dead_local_worker_names_its_own_shard(tmp_path: Path) -> None:
    pipe = _pipeline(tmp_path, "  - stage: test_die\n", n=8)  # 4 shards; shard 3's row dies
    corpus = tmp_path / "corpus.jsonl"
    rows = corpus.read_text().splitlines()
    rows[7] = json.dumps({**json.loads(rows[7]), "code": "DIE"})
    corpus.write_text("\n".join(rows) + "\n")
    with pytest.raises(AesdataError, match=r"failed on shard 3: a worker process \d+ died \(exit code 9\)"):
        LocalExecutor(pipe, tmp_path / "run", workers=2).run()
    assert "while running shard 3" in (tmp_path / "run/logs/test_die-shard-00003.log").read_text()


def test_stats_json_is_rewritten_during_a_local_build(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(stats_module, "INTERVAL_S", 0.2)
    write_corpus(tmp_path, 12)
    pipe = load_pipeline(write_pipeline(tmp_path, PIPE.format(shard_size=2, delay=150, salt="s")))
    run = tmp_path / "runs" / "t"
    thread = threading.Thread(target=LocalExecutor(pipe, run, workers=1).run)
    thread.start()
    seen = []
    while thread.is_alive():
        path = run / "stats.json"
        if path.is_file():
            seen.append(json.loads(path.read_text()))
        time.sleep(0.1)
    thread.join()
    live = [s for s in seen if s["status"] == "running" and s["steps"][1]["status"] == "running"]
    assert len({s["updated_at"] for s in live}) >= 2 or len(live) >= 5  # rewritten while the step ran
    during = [s["steps"][1] for s in live if 0 < s["steps"][1]["rows_done"] < 12]
    assert during and all(s["rows_total"] == 12 and s["rows_per_s"] > 0 for s in during)
    assert any(s["eta_s"] and s["eta_s"] > 0 for s in during)
    final = json.loads((run / "stats.json").read_text())
    assert final["status"] == "complete"
    score = final["steps"][1]
    assert (score["status"], score["rows_done"], score["eta_s"], score["workers"]) == ("complete", 12, 0.0, 1)


def test_losing_a_node_mid_step_still_completes_with_the_local_rows(cluster, tmp_path: Path) -> None:
    """Runs last: it leaves the cluster a node short."""
    steps = "  - stage: test_node_slow\n    delay_ms: 1000\n"
    local = _pipeline(tmp_path / "local", steps.replace("1000", "0"), n=12)
    LocalExecutor(local, tmp_path / "local/run", workers=1).run()
    pipe = _pipeline(tmp_path / "ray", steps, n=12)
    head = ray.get_runtime_context().get_node_id()
    victim = next(n for n in cluster.list_all_nodes() if not n.is_head() and n.node_id != head)
    errors: list[BaseException] = []

    def build() -> None:
        try:
            RayExecutor(pipe, tmp_path / "ray/run", workers=3).run()  # one per node
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=build)
    thread.start()
    running = tmp_path / "ray/run/stages/test_node_slow/running"
    deadline = time.monotonic() + 90
    seen = False
    while not seen and time.monotonic() < deadline:  # wait until the victim node runs a shard
        time.sleep(0.05)
        nodes = (
            [json.loads(p.read_text())["node"] for p in running.glob("*.json")] if running.is_dir() else []
        )
        seen = victim.node_id in nodes
    assert seen, "no shard ran on the node to remove"
    cluster.remove_node(victim)
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors, errors
    stats = json.loads((tmp_path / "ray/run/stats.json").read_text())
    assert stats["steps"][1]["retries"] >= 1  # the shard the removed node ran was run again
    rows = _scores(tmp_path / "ray/run")
    assert len(rows) == 12 and rows == _scores(tmp_path / "local/run")
