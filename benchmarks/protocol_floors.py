"""The floors of the goal-offset protocol (goal 25 steps ahead, budget 50, 50 pairs, seed 42)
on episodes of the smooth exploration policy: random policy, doing nothing, and the share of
starts already successful, for reacher, pusht and two-rooms. A trained agent must beat these.

    PYTHONPATH=src python benchmarks/protocol_floors.py [--episodes 20] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from amiwm.data.collect import collect
from amiwm.planning.protocol import evaluate_protocol


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--envs", default="reacher,pusht,two-rooms")
    a = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus (shared with other jobs)")
    with tempfile.TemporaryDirectory() as d:
        for env in a.envs.split(","):
            t = time.perf_counter()
            store = collect(env, a.episodes, a.steps, Path(d) / f"{env}.h5", seed=1000,
                            progress=False)  # fmt: skip
            r = evaluate_protocol(None, store, list(range(a.episodes)), pairs=50, seed=42)
            f = r["floors"]
            print(
                f"{env:10s} start: {r['protocol']['start_from']:5s} "
                + "  ".join(
                    f"{k} {v['success_rate']:.0%} [{v['ci95'][0]:.0%}, {v['ci95'][1]:.0%}]"
                    for k, v in f.items()
                )
                + f"  ({time.perf_counter() - t:.0f} s)"
            )


if __name__ == "__main__":
    main()
