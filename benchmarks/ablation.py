"""Pick defaults by measurement: train each variant for the same number of steps on the same
two-rooms data, then compare probe R^2, rollout error, effective rank, speed and planning time.

    python benchmarks/ablation.py --data runs/evidence/two-rooms.h5 --steps 600 --out runs/ablation
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from amiwm.config import RunConfig
from amiwm.envs import make_env
from amiwm.evaluation import model_evidence
from amiwm.models.world_model import WorldModel
from amiwm.planning import CEMPlanner
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.episodes import evaluate
from amiwm.training.trainer import train

T, M = {"predictor": "transformer", "history": 4}, {"predictor": "mlp"}
SIG, VIC = {"regularizer": "sigreg"}, {"regularizer": "vicreg"}
VARIANTS: dict[str, dict[str, dict]] = {
    "sigreg + transformer (LeWorldModel-like)": {"model": T, "train": SIG},
    "sigreg + mlp": {"model": M, "train": SIG},
    "vicreg + transformer": {"model": T, "train": VIC},
    "ema + transformer": {"model": T, "train": {"regularizer": "ema"}},
    "sigreg + transformer, no rollout loss": {"model": T, "train": {**SIG, "rollout_weight": 0.0}},
    "sigreg + transformer, window 6": {"model": {**T, "history": 5}, "train": {**SIG, "window": 6}},
    "vicreg + mlp (default)": {"model": M, "train": VIC},
    "vicreg + mlp, vit encoder": {"model": {**M, "encoder": "vit"}, "train": VIC},
}


def plan_ms(model: WorldModel, plans: int = 20) -> float:
    env = make_env("two-rooms")
    obs, _ = env.reset(seed=0)
    goal = env.unwrapped.goal_observation()
    agent = WorldModelAgent(model, CEMPlanner(64, 8, 4), horizon=5)
    for _ in range(plans + 3):
        agent.plan(obs, goal)
    return float(np.median(agent.plan_ms[3:]))


def plan_success(run: Path, data: Path, episodes: int = 20) -> float:
    """Success with graph subgoals and the default CEM budget, opposite rooms, seed 500."""
    agent = WorldModelAgent.from_checkpoint(run, "cem", graph_data=data)
    return evaluate(agent, make_env("two-rooms"), episodes, seed=500)["success_rate"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--out", type=Path, default=Path("runs/ablation"))
    p.add_argument("--only", nargs="*", help="variant names to run")
    args = p.parse_args()
    rows = {}
    table = args.out / "ablation.json"
    if table.exists():
        rows = json.loads(table.read_text())
    for name, over in VARIANTS.items():
        if (args.only and name not in args.only) or name in rows:
            continue
        cfg = RunConfig(dataset=str(args.data))
        cfg.train.steps = args.steps
        for section, values in over.items():
            for k, v in values.items():
                setattr(getattr(cfg, section), k, v)
        run = args.out / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        t = time.perf_counter()
        result = train(cfg, run, progress=False, resume=(run / "config.json").exists())
        model = WorldModel.from_pretrained(run)
        ev = model_evidence(model, args.data, cfg.train.val_fraction, cfg.train.seed)
        rows[name] = {
            "probe_r2": ev["probe_r2_xy"],
            "rollout5_model": ev["rollout"][5]["model"],
            "rollout5_ratio": ev["rollout"][5]["ratio"],
            "rollout10_model": ev["rollout"][10]["model"],
            "effective_rank": ev["effective_rank"],
            "train_frames_per_s": result.frames_per_s,
            "train_minutes": (time.perf_counter() - t) / 60,
            "plan_ms_cem64x4": plan_ms(model),
            "plan_success_20": plan_success(run, args.data),
            "parameters": model.num_parameters,
        }
        print(name, json.dumps(rows[name]), flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        table.write_text(json.dumps(rows, indent=2) + "\n")
    print(
        f"\n| variant ({args.steps} steps) | probe R^2 | rollout err 5 (copy/model) | "
        "rollout err 10 | eff. rank | train frames/s | plan ms (CEM 64x4) | success (20 ep) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['probe_r2']:.3f} | {r['rollout5_model']:.4f} "
            f"({r['rollout5_ratio']:.0f}x) | {r['rollout10_model']:.4f} | "
            f"{r['effective_rank']:.1f} | {r['train_frames_per_s']:.0f} | "
            f"{r['plan_ms_cem64x4']:.1f} | {r.get('plan_success_20', float('nan')):.0%} |"
        )
    print(f"\nmachine: {torch.get_num_threads()} threads, torch {torch.__version__}")


if __name__ == "__main__":
    main()
