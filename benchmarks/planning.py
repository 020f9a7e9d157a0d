"""Planning targets on two-rooms (issue: planning): success over 100 episodes with start and goal
in opposite rooms, planning milliseconds per replanning step, a random baseline, flat planning
against graph subgoals, and success at goal distances of 10, 25 and 50 steps.

    python benchmarks/planning.py --checkpoint amiwm-demo/model --episodes 100
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

from amiwm.checkpoint import read_json, resolve
from amiwm.envs import make_env
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.episodes import RandomAgent, evaluate


def wall_crossing_edges(checkpoint: Path, data: Path) -> tuple[int, int]:
    """(graph edges whose endpoints' true positions are not joined by a free segment, edges);
    proximity edges are built from latents only, so this checks they respect the wall."""
    import numpy as np

    from amiwm.data.store import EpisodeStore
    from amiwm.envs.two_rooms import TwoRoomsEnv
    from amiwm.models.world_model import WorldModel
    from amiwm.planning.graph import LatentGraph

    model = WorldModel.from_pretrained(checkpoint)
    graph = LatentGraph.from_store(model, data)
    with EpisodeStore(data) as store:
        every = graph.steps_per_hop
        pos = np.concatenate(
            [store.episode(e)["states"][::every] for e in range(store.num_episodes)]
        )
    m = graph.matrix.tocoo()
    env = TwoRoomsEnv()
    spatial = m.data < 0.999 * every  # temporal edges weigh exactly one hop
    bad = sum(
        not env._segment_free(pos[i], pos[j])
        for i, j in zip(m.row[spatial], m.col[spatial], strict=True)
    )
    return int(bad), int(spatial.sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--data", type=Path, help="store for the subgoal graph (default: training data)")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--samples", type=int)
    p.add_argument("--elites", type=int)
    p.add_argument("--iterations", type=int)
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--only", nargs="*", help="rows to run, e.g. 'cem+graph' 'random'")
    p.add_argument("--out", type=Path, default=Path("runs/planning.json"))
    args = p.parse_args()

    data = args.data or Path(read_json(resolve(args.checkpoint) / "config.json")["dataset"])
    env = make_env("two-rooms")
    budget = {"samples": args.samples, "elites": args.elites, "iterations": args.iterations}

    def agent(planner: str, graph: bool) -> WorldModelAgent:
        return WorldModelAgent.from_checkpoint(
            args.checkpoint,
            planner,
            horizon=args.horizon,
            graph_data=data if graph else None,
            **budget,
        )

    rows: dict[str, tuple] = {
        "random": (lambda: RandomAgent(env.action_space, 0), None),
        "cem flat (no graph)": (lambda: agent("cem", False), None),
        "cem+graph": (lambda: agent("cem", True), None),
        "mppi+graph": (lambda: agent("mppi", True), None),
        "gd+graph": (lambda: agent("gd", True), None),
        "cem+graph, 10 steps away": (lambda: agent("cem", True), 10),
        "cem+graph, 25 steps away": (lambda: agent("cem", True), 25),
        "cem+graph, 34 steps away": (lambda: agent("cem", True), 34),  # the farthest that fits
        "cem flat, 10 steps away": (lambda: agent("cem", False), 10),
        "cem flat, 25 steps away": (lambda: agent("cem", False), 25),
    }
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name, (make, distance) in rows.items():
        if (args.only and name not in args.only) or name in results:
            continue
        r = evaluate(make(), env, args.episodes, seed=args.seed, distance=distance)
        results[name] = r
        print(name, json.dumps(r), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")

    bad, total = wall_crossing_edges(args.checkpoint, data)
    print(f"latent-graph proximity edges crossing a wall: {bad} of {total}")
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.episodes} episodes each"
    )
    print("| agent | success (95% CI) | mean steps | plan ms median / p95 |")
    print("|---|---|---|---|")
    for name, r in results.items():
        lo, hi = r["success_ci95"]
        steps = f"{r['mean_steps_to_goal']:.0f}" if r["mean_steps_to_goal"] else "-"
        ms = (
            f"{r['plan_ms_median']:.1f} / {r['plan_ms_p95']:.1f}"
            if r["plan_ms_median"] is not None
            else "-"
        )
        print(f"| {name} | {r['success_rate']:.0%} ({lo:.0%}-{hi:.0%}) | {steps} | {ms} |")


if __name__ == "__main__":
    main()
