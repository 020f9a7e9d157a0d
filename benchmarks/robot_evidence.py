"""Evidence on a robot corpus nobody here wrote (issue #13): record gym-pusht episodes as a
LeRobot v2.1 dataset (examples/record_pusht.py, h264 mp4s), train the default model for at most
`--minutes` on it, run the brief's command flag for flag, and probe held-out latents linearly
for the agent's and the block's position (R^2; targets 0.9 and 0.8).

    python benchmarks/robot_evidence.py --episodes 120 --steps 100 --minutes 12
        [--train-flags "--latent-dim 256"] [--name default] [--skip-brief]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from amiwm.evaluation import encode_episodes, linear_probe_r2
from amiwm.models.world_model import WorldModel
from amiwm.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str) -> str:
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"failed: {' '.join(argv)}\n{out.stderr[-2000:]}")
    print(f"  ({time.perf_counter() - t0:.0f} s) {out.stdout.strip().splitlines()[-1]}")
    return out.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=120)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--minutes", type=float, default=12.0)
    p.add_argument("--brief-steps", type=int, default=20, help="steps of the brief's command")
    p.add_argument("--out", type=Path, default=Path("runs/evidence-pusht"))
    p.add_argument("--train-flags", default="", help="extra flags of the default model's train")
    p.add_argument("--name", default="default", help="the default model's folder in --out")
    p.add_argument("--skip-brief", action="store_true", help="do not run the brief's command")
    args = p.parse_args()
    torch.set_num_threads(2)
    corpus, cli = args.out / "pusht-lerobot", [sys.executable, "-m", "amiwm.cli"]
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads")
    if not corpus.exists():
        print(f"recording {args.episodes} x {args.steps} gym-pusht frames")
        run(sys.executable, str(ROOT / "examples" / "record_pusht.py"), "--episodes",
            str(args.episodes), "--steps", str(args.steps), "--state", "full",
            "--out", str(corpus))  # fmt: skip
    print("the default model, at most", args.minutes, "minutes")
    model_dir = args.out / args.name
    run(*cli, "train", "--dataset", str(corpus), "--steps", "100000", "--max-minutes",
        str(args.minutes), "--out", str(model_dir), "--quiet", "--device", "cpu",
        *args.train_flags.split())  # fmt: skip
    brief = "skipped"
    if not args.skip_brief:
        print(f"the brief's command, flag for flag, {args.brief_steps} steps")
        brief = run(*cli, "train", "--dataset", str(corpus), "--architecture", "jepa-world-model",
                    "--latent-dim", "8192", "--objective", "latent-state-prediction",
                    "--action-conditioning", "true", "--precision", "bf16",
                    "--steps", str(args.brief_steps), "--out", str(args.out / "brief"),
                    "--quiet", "--device", "cpu")  # fmt: skip
    rundir = RunDir(model_dir)
    fit, held = rundir.split
    model = WorldModel.from_pretrained(model_dir)
    z_fit, s_fit = encode_episodes(model, rundir.training_data, fit)
    z_held, s_held = encode_episodes(model, rundir.training_data, held)
    result = {
        "episodes": {"fit": len(fit), "held_out": len(held)},
        "agent_xy_r2": linear_probe_r2(z_fit, s_fit[:, :2], z_held, s_held[:, :2]),
        "block_xy_r2": linear_probe_r2(z_fit, s_fit[:, 2:4], z_held, s_held[:, 2:4]),
        "block_angle_cos_sin_r2": linear_probe_r2(z_fit, _angle(s_fit), z_held, _angle(s_held)),
        "train": [json.loads(r) for r in (model_dir / "metrics.jsonl").read_text().splitlines()][
            -1
        ],
        "brief_command": brief.strip().splitlines()[-1],
        "train_flags": args.train_flags,
    }
    (args.out / f"evidence-{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "train"}, indent=2))
    print(f"trained {result['train']['step']} steps; targets: agent R^2 >= 0.9, block >= 0.8")


def _angle(s: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(s[:, 4]), np.sin(s[:, 4])], 1)


if __name__ == "__main__":
    main()
