"""Frames and only part of the recorded robot state: which part a planner needs from sensors.

    python benchmarks/state_subset.py store --store DIR/reacher.h5 --keep 2,3 --out V/reacher.h5
    ami-cli train --dataset V/reacher.h5 --proprio true ... --out V/model   # the recipe's flags
    python benchmarks/state_subset.py eval --checkpoint V/model --store DIR/reacher.h5 \
        --keep 2,3 --env reacher --free-state 0,1

`store` copies a store with its `states` cut to the `--keep` entries (reacher: 2, 3 are the
joint velocities, so the pose has to come from the frame). `eval` plans with a model trained
on such a copy on the original store's protocol pairs (the same held-out episodes, pairs of
`--pair-seed`; the success test needs the full state), giving the agent each view's and the
goal's kept entries, with `--free-state` (indices into the kept entries) left free.
One JSON line per planner seed, then the mean.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np
import torch

from amiwm.planning.build import make_agent
from amiwm.planning.protocol import evaluate_protocol, held_out_source


def indices(text: str) -> list[int]:
    return [int(i) for i in text.split(",") if i.strip()]


def copy_store(src: Path, dst: Path, keep: list[int]) -> None:
    if dst.exists():
        raise SystemExit(f"{dst} exists; pick another --out")
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        g.attrs.update(f.attrs)
        for name in f:
            if name == "states":
                g.create_dataset("states", data=f["states"][:, keep])
            else:
                f.copy(f[name], g, name=name)


def evaluate(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    keep = indices(args.keep)
    _, episodes = held_out_source(args.checkpoint, None)  # the copy's split: the same episodes
    rates = []
    for seed in (int(s) for s in args.agent_seeds.split(",")):
        agent = make_agent(args.checkpoint, "cem", graph=False, seed=seed, horizon=args.horizon,
                           cost=args.cost, free_state=indices(args.free_state))  # fmt: skip
        act = agent.act

        def kept(view, goal, act=act):
            return act(*({"pixels": o["pixels"], "state": np.asarray(o["state"])[keep]}
                         for o in (view, goal)))  # fmt: skip

        agent.act = kept
        r = evaluate_protocol(agent, args.store, episodes, env=args.env, pairs=args.pairs,
                              seed=args.pair_seed, floors=False)  # fmt: skip
        rates.append(r["success_rate"])
        print(json.dumps({"agent_seed": seed, "pair_seed": args.pair_seed, "keep": keep,
                          "free_state": args.free_state, "success": r["success_rate"],
                          "ms": round(r["plan_ms_median"], 1)}), flush=True)  # fmt: skip
    print(f"mean success {np.mean(rates):.1%} over {len(rates)} planner seeds")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("store")
    s.add_argument("--store", type=Path, required=True)
    s.add_argument("--keep", required=True)
    s.add_argument("--out", type=Path, required=True)
    e = sub.add_parser("eval")
    e.add_argument("--checkpoint", type=Path, required=True)
    e.add_argument("--store", type=Path, required=True, help="the original store (full state)")
    e.add_argument("--keep", required=True)
    e.add_argument("--env", required=True)
    e.add_argument("--free-state", default="")
    e.add_argument("--pair-seed", type=int, default=42)
    e.add_argument("--agent-seeds", default="0,1,2,3,4")
    e.add_argument("--pairs", type=int, default=50)
    e.add_argument("--horizon", type=int, default=3)
    e.add_argument("--cost", default="summed")
    args = ap.parse_args()
    if args.cmd == "store":
        copy_store(args.store, args.out, indices(args.keep))
    else:
        evaluate(args)


if __name__ == "__main__":
    main()
