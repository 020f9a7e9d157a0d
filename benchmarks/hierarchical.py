"""Maze-v0: hierarchical planning (macro-action and landmark-graph high levels) vs flat CEM/MPPI.

One command: collect maze data, train a world model, fit the macro predictor, then run every
variant on the same episodes (goals >= 100 steps away by the shortest free path) and print a
markdown table: success with a 95% Wilson interval and planning ms per step. The flat planners
get the planning time per step of the hierarchical agent: their sample count is scaled by the
measured time ratio before the evaluation. Stages whose outputs exist in --work are reused.

    python benchmarks/hierarchical.py --work bench-maze --episodes 100 --threads 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

VARIANTS = ("hier-macro", "hier-graph", "flat-cem", "flat-mppi")


def run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "amiwm.cli", *args], check=True)


def prepare(a: argparse.Namespace) -> tuple[Path, Path]:
    a.work.mkdir(parents=True, exist_ok=True)
    data, ckpt = a.work / "maze.h5", a.work / "run"
    if not data.exists():
        n, steps = str(a.collect_episodes), str(a.collect_steps)
        run("collect", "--env", "maze", "--policy", "drift", "--episodes", n, "--steps", steps,
            "--out", str(data), "--seed", str(a.seed), "--quiet")  # fmt: skip
    if not (ckpt / "checkpoint").exists():
        run("train", "--dataset", str(data), "--steps", str(a.train_steps), "--out", str(ckpt),
            "--seed", str(a.seed), "--quiet")  # fmt: skip
    return data, ckpt


def build(name: str, model, macro, graph, a: argparse.Namespace, samples: int):
    from amiwm.planning import make_planner
    from amiwm.planning.agent import WorldModelAgent
    from amiwm.planning.hierarchical import HierarchicalAgent

    planner = "mppi" if name == "flat-mppi" else "cem"
    budget = {"samples": samples, "elites": 8, "iterations": 4}
    low = WorldModelAgent(model, make_planner(planner, **budget), horizon=a.horizon, seed=a.seed)
    if name == "hier-macro":
        return HierarchicalAgent(
            low, macro, planner=make_planner("cem", **budget), high_horizon=a.high_horizon
        )
    if name == "hier-graph":
        return HierarchicalAgent(low, graph, lookahead=a.k, every=a.k)
    return low


def ms_per_step(agent, env, steps: int = 40) -> float:
    """Median planning ms per step over a short probe episode."""
    from amiwm.planning.episodes import run_episode

    env.unwrapped.max_steps, keep = steps, env.unwrapped.max_steps
    result = run_episode(env, agent, seed=10_000)
    env.unwrapped.max_steps = keep
    return float(np.median(result.plan_ms))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("bench-maze"))
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--collect-episodes", type=int, default=400)
    p.add_argument("--collect-steps", type=int, default=150)
    p.add_argument("--train-steps", type=int, default=800)
    p.add_argument("--max-steps", type=int, default=300, help="episode limit (goals 100+ steps)")
    p.add_argument("--k", type=int, default=8, help="env steps per macro-step")
    p.add_argument("--high-horizon", type=int, default=16, help="macro-steps planned")
    p.add_argument("--horizon", type=int, default=5, help="low-level MPC horizon")
    p.add_argument("--samples", type=int, default=64, help="hierarchical samples per level")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    from amiwm.envs import make_env
    from amiwm.models.world_model import WorldModel
    from amiwm.planning.episodes import evaluate
    from amiwm.planning.graph import LatentGraph
    from amiwm.planning.hierarchical import MacroPredictor, train_macro

    data, ckpt = prepare(a)
    model = WorldModel.from_pretrained(ckpt)
    names = [v for v in a.variants.split(",") if v]
    t0 = time.perf_counter()
    if (a.work / "macro" / "macro.json").exists():
        macro, fit = MacroPredictor.load(a.work / "macro"), {}
    else:
        macro, fit = train_macro(model, data, k=a.k, seed=a.seed)
        macro.save(a.work / "macro")
    graph = LatentGraph.from_store(model, data)
    print(f"high levels ready in {time.perf_counter() - t0:.0f}s; macro fit {fit}", flush=True)

    env = make_env("maze", max_steps=a.max_steps)
    # equal planning time per step: flat planners get the samples that match the slower
    # hierarchical variant's measured ms per step (both measured, whichever variants run)
    hier = [ms_per_step(build(v, model, macro, graph, a, a.samples), env) for v in VARIANTS[:2]]
    target = max(hier)
    print(f"hierarchical ms/step (macro, graph): {hier[0]:.1f}, {hier[1]:.1f}", flush=True)
    rows = {}
    for name in names:
        samples = a.samples
        if name.startswith("flat"):
            base = ms_per_step(build(name, model, macro, graph, a, a.samples), env)
            samples = max(8, int(round(a.samples * target / base)))
        agent = build(name, model, macro, graph, a, samples)
        t1 = time.perf_counter()
        r = evaluate(agent, env, a.episodes, seed=a.seed)
        r.update(samples=samples, minutes=(time.perf_counter() - t1) / 60)
        rows[name] = r
        print(json.dumps({name: r}), flush=True)
    (a.work / f"results-{'+'.join(names)}.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nMaze-v0 (3x3 rooms, goals >= 100 steps), {a.episodes} episodes, limit {a.max_steps}")
    print("| planner | success | 95% CI | mean steps | plan ms/step (median, p95) | samples |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        lo, hi = r["success_ci95"]
        steps = r["mean_steps_to_goal"]
        print(
            f"| {name} | {r['success_rate']:.0%} | {lo:.0%}-{hi:.0%} | "
            f"{'-' if steps is None else f'{steps:.0f}'} | {r['plan_ms_median']:.1f}, "
            f"{r['plan_ms_p95']:.1f} | {r['samples']} |"
        )


if __name__ == "__main__":
    main()
