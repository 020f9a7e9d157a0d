"""Evidence of a real world model on two-rooms (issue: foundation).

Collects two-rooms data with the CLI's collector, trains a world model for a wall-clock budget,
then measures on held-out episodes:
  (a) linear-probe R^2 from the frozen latent to the agent's (x, y)      target >= 0.95
  (b) latent rollout error at 1, 5, 10 steps vs copy-the-last-latent     target >= 5x lower at 5
  (c) effective rank of the latents (no collapse)
  (d) training frames/s

    python benchmarks/evidence.py --out runs/evidence --minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from amiwm.config import RunConfig, load_config_file
from amiwm.data.collect import collect
from amiwm.evaluation import model_evidence
from amiwm.models.world_model import WorldModel
from amiwm.training.trainer import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/evidence"))
    p.add_argument("--minutes", type=float, default=10.0, help="training wall-clock budget")
    p.add_argument("--episodes", type=int, default=400)
    p.add_argument("--episode-steps", type=int, default=100)
    p.add_argument("--steps", type=int, default=2400, help="optimizer steps (budget may cut)")
    p.add_argument("--config", type=Path, help="YAML run config (model/train sections)")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "two-rooms.h5"
    if not data.exists():
        t = time.perf_counter()
        collect(
            "two-rooms",
            args.episodes,
            args.episode_steps,
            data,
            policy="drift",
            seed=args.seed,
            progress=not args.quiet,
        )
        print(
            f"collected {args.episodes} x {args.episode_steps} steps "
            f"in {time.perf_counter() - t:.0f}s"
        )

    cfg = load_config_file(args.config) if args.config else RunConfig()
    cfg.dataset = str(data)
    cfg.train.steps = args.steps
    cfg.train.seed = args.seed
    if args.latent_dim:
        cfg.model.latent_dim = args.latent_dim
    run = args.out / "model"
    resume = (run / "config.json").exists()
    result = train(cfg, run, resume=resume, progress=not args.quiet, max_seconds=args.minutes * 60)

    model = WorldModel.from_pretrained(run)
    t = time.perf_counter()
    ev = model_evidence(model, data, cfg.train.val_fraction, cfg.train.seed)
    encode_s = time.perf_counter() - t
    r2, roll = ev["probe_r2_xy"], ev["rollout"]
    report = {
        "probe_r2_xy": r2,
        "rollout": roll,
        "effective_rank": ev["effective_rank"],
        "latent_dim": model.config.latent_dim,
        "train_frames_per_s": result.frames_per_s,
        "evidence_seconds": encode_s,
        "train_steps": result.step,
        "train_seconds": result.seconds,
        "val_pred_loss": result.val_pred_loss,
        "parameters": model.num_parameters,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "command": " ".join(sys.argv),
    }
    (args.out / "evidence.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nEvidence ({report['machine']}; {result.step} steps in {result.seconds:.0f}s)")
    print(f"(a) linear probe latent -> (x, y), held-out R^2: {r2:.3f}   (target >= 0.95)")
    print("(b) rollout error / latent variance    model    copy-last   copy/model")
    for h, e in roll.items():
        print(
            f"    {h:>2} steps                          {e['model']:.4f}   {e['copy']:.4f}"
            f"      {e['ratio']:.1f}x"
        )
    print(
        f"(c) effective rank of latents: {report['effective_rank']:.1f} "
        f"of {model.config.latent_dim}"
    )
    print(f"(d) training throughput: {result.frames_per_s:.0f} frames/s")
    print(f"written: {args.out / 'evidence.json'}")


if __name__ == "__main__":
    main()
