"""Measure a memory store: `python benchmarks/memory.py --records 1000000 --dim 64`."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from amiwm.memory.store import MemoryStore


def _timed(fn, repeat: int = 1) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def run(records: int, dim: int, action_dim: int, root: Path, graph_nodes: int) -> None:
    path = root / "mem"
    rng = np.random.default_rng(0)
    store = MemoryStore.create(path, dim, action_dim, capacity=records, sync="none")
    batch = 10_000
    t = time.perf_counter()
    for start in range(0, records, batch):
        n = min(batch, records - start)
        z = rng.normal(size=(n, dim)).astype(np.float32)
        nxt = z + 0.1 * rng.normal(size=(n, dim)).astype(np.float32)
        a = rng.normal(size=(n, action_dim)).astype(np.float32)
        steps = np.arange(start, start + n)
        store.extend(z, a, nxt, steps // 1000, steps % 1000)
    write = time.perf_counter() - t
    store.close()
    disk = sum(f.stat().st_size for f in path.iterdir())
    print(
        f"extend {records:,} x {dim}-dim records (batches of {batch:,}, sync=none): "
        f"{write:.2f} s ({records / write:,.0f} records/s), {disk / 2**20:.0f} MiB on disk"
    )

    store = MemoryStore(path)
    t_open = _timed(store.refresh)  # first refresh reads and CRC-checks every record
    print(f"open + read + verify all records: {t_open:.2f} s")
    print(f"refresh with nothing new: {_timed(store.refresh, 20) * 1e3:.2f} ms")
    q = rng.normal(size=(64, dim)).astype(np.float32)
    t1 = _timed(lambda: store.nearest(q[0], k=10), 10)
    t64 = _timed(lambda: store.nearest(q, k=10), 3)
    print(f"nearest k=10, 1 query: {t1 * 1e3:.1f} ms; 64 queries batched: {t64 * 1e3:.0f} ms")
    for sync in ("none", "batch", "always"):
        with MemoryStore(path, sync=sync) as s:
            z = rng.normal(size=dim).astype(np.float32)
            a = np.zeros(action_dim, np.float32)
            n = 200
            dt = _timed(lambda s=s, z=z, a=a, n=n: [s.append(z, a, z, 0, i) for i in range(n)], 3)
        print(f"append one record, sync={sync}: {dt / n * 1e6:.0f} us each")
    t = time.perf_counter()
    graph, _ = store.reachability_graph(max_nodes=graph_nodes)
    print(
        f"reachability graph over {graph.num_nodes:,} of {len(store):,} records: "
        f"{time.perf_counter() - t:.2f} s, {graph.num_edges:,} edges"
    )
    store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--action-dim", type=int, default=2)
    p.add_argument("--graph-nodes", type=int, default=10_000)
    p.add_argument("--dir", type=Path, help="where to write (default: a temp dir, removed)")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(dir=args.dir))
    try:
        run(args.records, args.dim, args.action_dim, root, args.graph_nodes)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
