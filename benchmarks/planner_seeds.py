"""The goal-offset protocol over several planner seeds: how much of a success rate is the
planner's luck, and which planner settings do better.

    python benchmarks/planner_seeds.py --checkpoint DIR/model --env pusht \
        --pair-seed 7 --agent-seeds 0,1 --horizon 3 --cost summed [--state-cost 100 \
        --state-cost-entries 0,1]

One line of JSON per planner seed: the same pairs (drawn with `--pair-seed` from the held-out
episodes of the checkpoint's store, as `ami-cli eval` draws them), the agent's CEM seeded with
each of `--agent-seeds` (`ami-cli eval` ties both to its one `--seed`; `ami-cli demo` plans with
seed 0 on pairs of seed 42). Then the mean. Settings are chosen on pairs of another seed than
the ones reported (README: the recipes chose theirs on seed 7 and report seed 42).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from amiwm.planning.build import make_agent
from amiwm.planning.protocol import evaluate_protocol, held_out_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--env", required=True)
    ap.add_argument("--pair-seed", type=int, default=42)
    ap.add_argument("--agent-seeds", default="0,1,2,3,4")
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--cost", default="final")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--elites", type=int)
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--action-range", choices=("data", "env"), default="data")
    ap.add_argument("--block-steps", type=int, help="env steps run of each block per plan")
    ap.add_argument("--free-state", default="", help="goal state entries left free, e.g. 2,3")
    ap.add_argument(
        "--state-cost",
        type=float,
        default=0.0,
        help="weight of the read-out's state distance (a state-target model)",
    )
    ap.add_argument("--state-cost-entries", default="", help="state entries it measures, e.g. 0,1")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    budget = {"samples": args.samples, "elites": args.elites, "iterations": args.iterations}
    store, episodes = held_out_source(args.checkpoint, None)
    free = [int(i) for i in args.free_state.split(",") if i.strip()]
    reads = [int(i) for i in args.state_cost_entries.split(",") if i.strip()]
    rates = []
    for seed in (int(s) for s in args.agent_seeds.split(",")):
        agent = make_agent(args.checkpoint, "cem", graph=False, seed=seed, horizon=args.horizon,
                           cost=args.cost, within_data=args.action_range == "data",
                           execute=args.block_steps, free_state=free, state_cost=args.state_cost,
                           state_cost_entries=reads, **budget)  # fmt: skip
        r = evaluate_protocol(agent, store, episodes, env=args.env, pairs=args.pairs,
                              seed=args.pair_seed, floors=False,
                              execute=args.block_steps)  # fmt: skip
        rates.append(r["success_rate"])
        row = {"agent_seed": seed, "pair_seed": args.pair_seed, "horizon": args.horizon,
               "cost": args.cost, "action_range": args.action_range,
               "block_steps": args.block_steps, "free_state": free,
               "state_cost": args.state_cost, "state_cost_entries": reads,
               **{k: v for k, v in budget.items() if v is not None},
               "success": r["success_rate"], "ms": round(r["plan_ms_median"], 1)}  # fmt: skip
        print(json.dumps(row), flush=True)
    print(f"mean success {np.mean(rates):.1%} over {len(rates)} planner seeds "
          f"(min {min(rates):.0%}, max {max(rates):.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
