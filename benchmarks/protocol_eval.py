"""Reacher / Push-T after `ami-cli demo --env reacher|pusht --out DIR`: the published protocol
with LeWorldModel's planner budget, and what limits success.

    python benchmarks/protocol_eval.py --run runs/reacher-demo [--pairs 50] [--threads 1]

Prints and writes DIR/protocol_eval.json:
1. success on the demo's 50 held-out pairs (seed 42) with CEM 300 samples / 30 elites / 30
   iterations, horizon 5 (blocks of 5 env steps), as LeWorldModel evaluates (plus the recipe's
   state cost for a model trained with its state as a target); seconds per plan;
2. the default agent's numbers from the demo's summary, side by side;
3. the cost landscape: over held-out episodes, how well the latent distance to a goal frame
   ranks the true distance to the goal state (Spearman rho, for goals 1..5 blocks ahead), and
   how often the latent nearest to the goal among the episode's frames is the goal's own frame
   neighbourhood (true error under the success tolerance);
4. the model: rollout error at 1, 5 and 10 blocks against copying the last latent (from the
   demo's evidence).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from amiwm.data.store import EpisodeStore
from amiwm.demo import recipe_for, recipe_state_cost
from amiwm.envs.reacher import angle_error
from amiwm.planning.build import make_agent
from amiwm.planning.protocol import evaluate_protocol, held_out_source


def true_distance(env: str, s: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Distance to the goal state in units of the success tolerance (<= 1: success)."""
    if "reacher" in env.lower():
        return angle_error(s[..., :2], goal[..., :2]).max(-1) / 0.05
    pos = np.linalg.norm(s[..., :4] - goal[..., :4], axis=-1) / 20.0
    ang = angle_error(s[..., 4], goal[..., 4]) / (np.pi / 9)
    return np.maximum(pos, ang)


def landscape(model, store: Path, episodes: list[int], env: str) -> dict:
    rhos, near = [], []
    with EpisodeStore(store) as s:
        for e in episodes:
            ep = s.episode(e)
            with torch.inference_mode():
                z = model.encode(ep["observations"]).float().numpy()
            st = ep["states"]
            for g in range(5, len(z), 5):
                lo = max(0, g - 5)
                d_lat = np.linalg.norm(z[lo:g] - z[g], axis=-1)
                d_true = true_distance(env, st[lo:g], st[g])
                if len(d_lat) > 2 and np.ptp(d_true) > 0:
                    rhos.append(spearmanr(d_lat, d_true).statistic)
                order = np.argsort(np.linalg.norm(z - z[g], axis=-1))
                other = order[order != g][0]  # the nearest other frame in latent space
                near.append(float(true_distance(env, st[other], st[g]) <= 1.0))
    return {
        "spearman_latent_vs_true_distance": float(np.nanmean(rhos)),
        "nearest_latent_frame_within_tolerance": float(np.mean(near)),
        "goals": len(near),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", type=Path, required=True, help="the demo's --out folder")
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    summary = json.loads((a.run / "summary.json").read_text())
    env, model_dir = summary["env"], a.run / "model"
    store, held_out = held_out_source(model_dir, None)
    seed = summary["protocol"]["protocol"]["seed"]
    out: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "threads": a.threads,
        "env": env,
        "default_agent": {
            k: summary["protocol"].get(k)
            for k in ("success_rate", "success_ci95", "plan_ms_median", "plan_ms_p95")
        },
        "floors": summary["protocol"]["floors"],
        "rollout": summary["evidence"]["rollout"],
        "training": summary["training"],
    }
    # a model trained with its state as a target plans with the recipe's state cost, as the demo
    weight, entries = recipe_state_cost(recipe_for(env)[1], model_dir)
    out["state_cost"], out["state_cost_entries"] = weight, list(entries)
    agent = make_agent(model_dir, "cem", samples=300, elites=30, iterations=30, graph=False,
                       state_cost=weight, state_cost_entries=entries)  # fmt: skip
    t = time.perf_counter()
    r = evaluate_protocol(agent, store, held_out, pairs=a.pairs, seed=seed, floors=False)
    out["cem_300x30x30"] = {
        k: r[k] for k in ("success_rate", "success_ci95", "plan_ms_median", "plan_ms_p95")
    }
    out["cem_300x30x30"]["wall_s"] = time.perf_counter() - t
    out["landscape"] = landscape(agent.model, store, held_out, env)
    print(json.dumps(out, indent=2, default=float))
    (a.run / "protocol_eval.json").write_text(json.dumps(out, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
