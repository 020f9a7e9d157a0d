"""Setpoint control of `amiwm/Plant-v0` through a world model (issue #4).

    python benchmarks/plant_control.py --checkpoint runs/plant/run

Each episode starts at a random steady state and asks for a new reactor-temperature setpoint
(at least 10 K away); the goal handed to the agent is the plant's steady-state sensor row at
the setpoint (`env.goal_observation`). The agent only sees noisy sensor rows. Reported: the
mean |T - setpoint| over the last 30 of 150 steps (true temperature), the share of episodes
within 2 K, and planning time; against holding the start action and a random policy. Without
--checkpoint a model is trained first (collect 120 x 300 steps, 3000 steps, context 16).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from amiwm.config import RunConfig
from amiwm.data.collect import collect
from amiwm.envs import make_env
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.episodes import wilson_interval
from amiwm.training.trainer import train

STEPS, TAIL, TOL = 150, 30, 2.0


def episode(env, agent, seed: int) -> tuple[float, list[float]]:
    rng = np.random.default_rng(seed)
    lo, hi = env.unwrapped.setpoint_range()
    start = float(rng.uniform(lo, hi))
    target = float(rng.uniform(lo, hi))
    while abs(target - start) < 10:
        target = float(rng.uniform(lo, hi))
    u0 = env.unwrapped.steady_action(start)
    obs, info = env.reset(seed=seed, options={"setpoint": target, "initial_action": u0})
    goal = env.unwrapped.goal_observation(target)
    if agent not in ("hold", "random"):
        agent.reset()
    temps, ms = [], []
    for _ in range(STEPS):
        if agent == "hold":
            a = u0
        elif agent == "random":
            a = env.action_space.sample()
        else:
            t0 = time.perf_counter()
            a = agent.choose_action(obs, goal)
            ms.append(1000 * (time.perf_counter() - t0))
        obs, _, _, _, info = env.step(a)
        temps.append(info["state"][2])
    return float(np.mean(np.abs(np.array(temps[-TAIL:]) - target))), ms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=Path("runs/plant"))
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--horizon", type=int, default=10)
    p.add_argument("--planner", default="cem")
    p.add_argument("--cost", default="summed", help="final | summed (measured better here)")
    p.add_argument("--replan-every", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch threads (1 if sharing cores)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ckpt = args.checkpoint
    if ckpt is None:
        data = args.out / "data.h5"
        if not data.exists():
            collect("plant", 120, 300, data, policy="setpoints", seed=0, progress=False)
        ckpt = args.out / "run"
        cfg = RunConfig(dataset=str(data))
        cfg.model.context, cfg.train.steps = 16, 3000
        train(cfg, ckpt, progress=False, resume=(ckpt / "config.json").exists())
    env = make_env("plant", max_steps=STEPS + 1)
    agent = WorldModelAgent.from_checkpoint(
        ckpt, args.planner, horizon=args.horizon, cost=args.cost, replan_every=args.replan_every
    )
    env.action_space.seed(0)
    rows = {}
    for name, who in (
        ("world model + " + args.planner, agent),
        ("hold", "hold"),
        ("random", "random"),
    ):
        errs, ms = [], []
        for i in range(args.episodes):
            e, m = episode(env, who, 1000 + i)
            errs.append(e)
            ms += m
        ok = int(np.sum(np.array(errs) <= TOL))
        lo, hi = wilson_interval(ok, args.episodes)
        rows[name] = {
            "mean_abs_error_K": float(np.mean(errs)),
            "within_2K": ok / args.episodes,
            "ci95": [lo, hi],
            "plan_ms_median": float(np.median(ms)) if ms else None,
        }
        print(name, json.dumps(rows[name]), flush=True)
    print("\n| controller | mean abs error (K), last 30 steps | within 2 K (95% CI) | plan ms |")
    print("|---|---|---|---|")
    for name, r in rows.items():
        ms = "-" if r["plan_ms_median"] is None else f"{r['plan_ms_median']:.1f}"
        print(
            f"| {name} | {r['mean_abs_error_K']:.2f} | {r['within_2K']:.0%} "
            f"({r['ci95'][0]:.0%}-{r['ci95'][1]:.0%}) | {ms} |"
        )


if __name__ == "__main__":
    main()
