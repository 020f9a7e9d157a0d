"""How the goal-offset protocol's failed pairs fail: which part of the success test they miss,
and by how much (reacher: each joint; pusht: the position norm and the block angle).

    MUJOCO_GL=egl python benchmarks/protocol_misses.py --checkpoint DIR/model --env pusht \
        --pair-seed 42 --agent-seed 0 --horizon 3 --cost summed

The pairs and the agent are those of `benchmarks/planner_seeds.py` (the checkpoint's held-out
episodes, CEM seeded with `--agent-seed`); the env's state is read after every decision (an
action block), so "closest" is at block ends, while success is tested at every env step.
Distances are in tolerance units (1 = at the edge of the tolerance). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from amiwm.envs.reacher import angle_error
from amiwm.planning.build import make_agent
from amiwm.planning.protocol import (
    DEFAULT_BUDGET,
    DEFAULT_OFFSET,
    GoalTask,
    goal_pairs,
    held_out_source,
    run_pair,
)


def criteria(env: str, u, state: np.ndarray, goal: np.ndarray) -> dict[str, float]:
    """Each part of the env's success test, in the tolerance units of the env `u` (success: all
    <= 1)."""
    if env == "reacher":
        err = angle_error(state[:2], goal[:2]) / u.tolerance
        return {"shoulder": float(err[0]), "wrist": float(err[1])}
    if env == "pusht":
        return {
            "position": float(np.linalg.norm(state[:4] - goal[:4]) / u.position_tolerance),
            "angle": float(angle_error(state[4], goal[4]) / u.angle_tolerance),
            "agent_px": float(np.linalg.norm(state[:2] - goal[:2])),  # the norm's two parts
            "block_px": float(np.linalg.norm(state[2:4] - goal[2:4])),
        }
    raise SystemExit(f"--env must be reacher or pusht, got {env}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--env", required=True, choices=("reacher", "pusht"))
    ap.add_argument("--pair-seed", type=int, default=42)
    ap.add_argument("--agent-seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--horizon", type=int, default=3)
    ap.add_argument("--cost", default="summed")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    agent = make_agent(args.checkpoint, "cem", graph=False, seed=args.agent_seed,
                       horizon=args.horizon, cost=args.cost, within_data=True)  # fmt: skip
    store, episodes = held_out_source(args.checkpoint, None)
    task = GoalTask(store, args.env, DEFAULT_BUDGET, None)
    parts = ("shoulder", "wrist") if args.env == "reacher" else ("position", "angle")
    rows = []
    try:
        pairs = goal_pairs(store, episodes, DEFAULT_OFFSET // task.block, args.pairs,
                           args.pair_seed)  # fmt: skip
        decisions = -(-DEFAULT_BUDGET // task.execute)
        for i, pair in enumerate(pairs):
            states: list[np.ndarray] = []
            ok, _ = run_pair(task, agent, pair, decisions, args.pair_seed + i, [], None, states)
            c = [criteria(args.env, task.env.unwrapped, s, pair.goal_state) for s in states]
            worst = [max(x[p] for p in parts) for x in c]  # <= 1: every part met
            best = int(np.argmin(worst))
            rows.append({"success": ok, "start": worst[0], "closest": worst[best],
                         "at_start": c[0], "at_closest": c[best],
                         "ever": {p: min(x[p] for x in c) for p in parts}})  # fmt: skip
    finally:
        task.close()
    failed = [r for r in rows if not r["success"]]
    closest = np.array([r["closest"] for r in failed]) if failed else np.zeros(0)
    out = {
        "checkpoint": str(args.checkpoint),
        "env": args.env,
        "pair_seed": args.pair_seed,
        "agent_seed": args.agent_seed,
        "success": float(np.mean([r["success"] for r in rows])),
        "failed": len(failed),
        "start_median": {
            "succeeded": float(np.median([r["start"] for r in rows if r["success"]] or [np.nan])),
            "failed": float(np.median([r["start"] for r in failed] or [np.nan])),
        },
        "failed_closest_quartiles": np.percentile(closest, [25, 50, 75]).round(2).tolist()
        if failed
        else None,
        "failed_within_2_tolerances": float((closest <= 2).mean()) if failed else None,
        # at the failed pair's closest block end: which part of the test held
        "failed_part_met_at_closest": {
            p: float(np.mean([r["at_closest"][p] <= 1 for r in failed])) for p in parts
        }
        if failed
        else None,
        # at any block end, each part alone
        "failed_part_ever_met": {
            p: float(np.mean([r["ever"][p] <= 1 for r in failed])) for p in parts
        }
        if failed
        else None,
    }
    if args.env == "pusht" and failed:
        px = ("agent_px", "block_px")
        won = [r for r in rows if r["success"]]
        out["start_px_median"] = {
            "succeeded": {k: float(np.median([r["at_start"][k] for r in won] or [np.nan]))
                          for k in px},
            "failed": {k: float(np.median([r["at_start"][k] for r in failed])) for k in px},
        }  # fmt: skip
        for name, far in (("block_within_20px", False), ("block_beyond_20px", True)):
            part = [r["success"] for r in rows if (r["at_start"]["block_px"] > 20) == far]
            out[f"success_{name}_at_start"] = [float(np.mean(part or [np.nan])), len(part)]
        out["failed_at_closest_px_median"] = {
            k: float(np.median([r["at_closest"][k] for r in failed])) for k in px
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
