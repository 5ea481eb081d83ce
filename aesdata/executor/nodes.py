"""The Ray cluster as the executor sees it: connecting (bounded), alive nodes, what fits where.

- ``connect``: ``ray.init`` to an address, failing in seconds with one paragraph: the GCS port is probed
  with a plain socket first (``ray.init`` to a wrong address retries for over a minute behind its own
  log lines), then ``ray.init`` runs in a thread the caller waits for at most ``timeout_s``.
- ``alive_nodes``: the alive nodes and their total resources (``ray.nodes()``).
- ``request``: what one worker of a stage asks Ray for (CPUs, GPUs, memory, browser slots).
- ``check_fits``: before a step starts, one paragraph naming the step, its request and the largest node
  when no node can take one worker (Ray would otherwise wait forever behind a hidden warning).
- ``placement``: the node of each worker of a step: one per node for ``per_node`` stages, else as
  many as fit on each node (``resources.node_slots``), interleaved across nodes.

Written by hand: Ray has no bounded connect nor a feasibility check that names the request.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

from aesdata.errors import AesdataError
from aesdata.resources import Resources, node_slots

#: the custom Ray resource a node may declare for the browser pages it can hold (see README)
BROWSER_RESOURCE = "browser_slots"
#: bound of the socket probe of the cluster's address
PROBE_TIMEOUT_S = 5.0
#: bound of ``ray.init`` once the address answers
INIT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Node:
    """One alive Ray node: its id, address and total resources (Ray's names: CPU, GPU, memory bytes)."""

    id: str
    ip: str
    resources: dict[str, float]

    def label(self) -> str:
        """Short name for messages: the first 8 hex of the id and the IP."""
        return f"{self.id[:8]} ({self.ip})"


def connect(ray: Any, address: str | None, timeout_s: float = INIT_TIMEOUT_S) -> None:
    """``ray.init`` to ``address`` (None: start a local Ray; ``auto``: the cluster this machine is in).

    Raise ``AesdataError`` within ``PROBE_TIMEOUT_S`` when a ``host:port`` (or ``ray://host:port``) does
    not answer, and within ``timeout_s`` when Ray does not finish connecting to an address; raise it at
    once when ``ray.init`` fails."""
    if address and address != "auto":
        _probe(address)
    box: dict[str, BaseException] = {}

    def init() -> None:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except BaseException as e:  # handed to the waiting thread
            box["error"] = e

    where = f"the Ray cluster at {address!r}" if address else "a local Ray"
    if not address:  # starting a local Ray takes what it takes (processes to spawn): not bounded
        init()
    elif not _finished_within(init, timeout_s):
        raise AesdataError(
            f"Could not connect to {where} within {timeout_s:.0f} s (the address answers, but not as a Ray head).",
            "Check --ray-address: `ray status` on the head node prints the address (HOST:6379 by default).",
        )
    if "error" in box:
        raise AesdataError(
            f"Could not connect to {where}: {box['error']}.",
            "Start it with `ray start --head`, or leave out --ray-address for a local Ray.",
        ) from None


def _finished_within(fn: Any, timeout_s: float) -> bool:
    """Run ``fn`` in a daemon thread; True when it returned within ``timeout_s`` (else it is left behind)."""
    thread = threading.Thread(target=fn, name="aesdata-ray-init", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return not thread.is_alive()


def _probe(address: str) -> None:
    """Open and close a TCP connection to ``address``'s host and port, or raise ``AesdataError``."""
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise AesdataError(
            f"--ray-address {address!r} is not HOST:PORT.",
            "Pass the head node's address as `ray status` prints it, e.g. 10.0.0.5:6379.",
        )
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        raise AesdataError(
            f"Cannot reach the Ray cluster at {address!r}: {e.strerror or e}.",
            "Check --ray-address (`ray status` on the head prints it) and that `ray start --head` runs there "
            "and its port is open to this machine.",
        ) from None


def alive_nodes(ray: Any) -> list[Node]:
    """The cluster's alive nodes (with some resources), in Ray's order."""
    return [
        Node(n["NodeID"], n.get("NodeManagerAddress", "?"), dict(n.get("Resources") or {}))
        for n in ray.nodes()
        if n.get("Alive") and n.get("Resources")
    ]


def browser_declared(nodes: list[Node]) -> bool:
    """True when some node declares the ``browser_slots`` resource (browser stages then run only there)."""
    return any(BROWSER_RESOURCE in n.resources for n in nodes)


def capacity(node: Node, browser: bool) -> dict[str, float]:
    """A node's totals as ``node_slots`` reads them (``browser_slots`` 0 where others declare it)."""
    if browser and BROWSER_RESOURCE not in node.resources:
        return {**node.resources, BROWSER_RESOURCE: 0.0}
    return node.resources


def request(res: Resources, browser: bool, cpus: float | None = None) -> dict[str, Any]:
    """Ray options of one worker: ``num_cpus`` (``cpus`` when given), ``num_gpus``, ``memory``, browser slots."""
    out: dict[str, Any] = {
        "num_cpus": cpus if cpus is not None else res.cpus,
        "num_gpus": res.gpus,
        "memory": int(res.memory_gb * 2**30),
    }
    if browser and res.browser_slots > 0:
        out["resources"] = {BROWSER_RESOURCE: float(res.browser_slots)}
    return out


def describe_request(res: Resources, browser: bool) -> str:
    """What one worker asks for, in words."""
    parts = [f"{res.cpus:g} CPU{'s' * (res.cpus != 1)}", f"{res.memory_gb:g} GiB of memory"]
    if res.gpus:
        parts.append(f"{res.gpus:g} GPU{'s' * (res.gpus != 1)}")
    if browser and res.browser_slots:
        parts.append(f"{res.browser_slots} {BROWSER_RESOURCE}")
    return ", ".join(parts)


def describe_node(node: Node) -> str:
    """A node's totals, in words."""
    r = node.resources
    cpus, gpus = r.get("CPU", 0.0), r.get("GPU", 0.0)
    words = [f"{cpus:g} CPU{'s' * (cpus != 1)}", f"{r.get('memory', 0.0) / 2**30:.1f} GiB of memory"]
    if gpus:
        words.append(f"{gpus:g} GPU{'s' * (gpus != 1)}")
    if BROWSER_RESOURCE in r:
        words.append(f"{r[BROWSER_RESOURCE]:g} {BROWSER_RESOURCE}")
    return ", ".join(words)


def check_fits(step_id: str, stage_name: str, res: Resources, nodes: list[Node]) -> None:
    """Raise ``AesdataError`` naming the step, its request and the largest node when no alive node
    can take one worker of the step."""
    browser = browser_declared(nodes)
    if any(node_slots(res, capacity(n, browser)) for n in nodes):
        return
    if not nodes:
        raise AesdataError(
            f"Step {step_id!r} ({stage_name}) cannot start: the Ray cluster has no alive node.",
            "Start workers with `ray start --address HEAD:PORT` and rerun; finished shards are kept.",
        )
    largest = max(nodes, key=lambda n: (n.resources.get("CPU", 0.0), n.resources.get("memory", 0.0)))
    raise AesdataError(
        f"Step {step_id!r} ({stage_name}) asks Ray for {describe_request(res, browser)} per worker, "
        f"but no alive node has that: the largest of {len(nodes)} has {describe_node(largest)} "
        f"(node {largest.label()}).",
        "Add a node that big (`ray start --num-cpus N --memory BYTES`), or run with --executor local.",
    )


def placement(res: Resources, nodes: list[Node], n_shards: int, override: int | None) -> list[Node]:
    """The node of each worker of a step: slots per node (``node_slots``), interleaved across nodes so
    a cap (shards, ``--workers``) still spreads them; at most ``n_shards`` and ``override`` workers."""
    browser = browser_declared(nodes)
    slots = [(n, node_slots(res, capacity(n, browser))) for n in nodes]
    out: list[Node] = []
    for k in range(max((s for _, s in slots), default=0)):
        out.extend(n for n, s in slots if s > k)
    cap = min(n_shards, override) if override else n_shards
    return out[: max(0, cap)]


def worker_cpus(res: Resources, node: Node) -> float:
    """CPUs one worker reserves on ``node``: the whole node for ``per_node`` stages, else ``res.cpus``."""
    return max(res.cpus, node.resources.get("CPU", 0.0)) if res.per_node else res.cpus
