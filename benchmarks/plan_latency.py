"""Planning latency against CEM samples and horizon (issue: scale out and speed up).

    python benchmarks/plan_latency.py --out runs/plan-latency [--checkpoint RUN] [--compile]

Times one WorldModelAgent.plan (encode observation and goal, 30 CEM iterations of batched
rollouts) on a two-rooms start, for every (samples, horizon) of the grid: the median of
--repeats after one warm-up plan. The model is the checkpoint's, or amiwm's default two-rooms
architecture with random weights (latency does not depend on the weights). Writes
OUT/latency.json and OUT/latency.png (seconds per plan against samples, one line per horizon,
and against horizon, one line per sample count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from versus import cpu_model  # benchmarks/ is on sys.path when run as a script


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/plan-latency"))
    p.add_argument("--checkpoint", type=Path, help="a trained model (default: random weights)")
    p.add_argument("--samples", default="64,128,256,512,1024,2048")
    p.add_argument("--horizons", default="5,10,20,40")
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--elites", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile the predictor")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch

    from amiwm.config import ModelConfig
    from amiwm.envs import make_env
    from amiwm.models.world_model import WorldModel
    from amiwm.planning.agent import WorldModelAgent
    from amiwm.planning.cem import CEMPlanner

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint:
        model = WorldModel.from_pretrained(args.checkpoint, device=args.device)
    else:
        model = WorldModel(ModelConfig()).to(args.device).eval()
    env = make_env("two-rooms")
    obs, _ = env.reset(seed=1000)
    goal = env.unwrapped.goal_observation()
    samples = [int(s) for s in args.samples.split(",")]
    horizons = [int(h) for h in args.horizons.split(",")]
    rows = []
    compiled = False
    for h in horizons:
        for n in samples:
            planner = CEMPlanner(n, min(args.elites, n), args.iterations)
            agent = WorldModelAgent(
                model, planner, horizon=h, compile=args.compile and not compiled
            )
            compiled = compiled or args.compile
            t = time.perf_counter()
            agent.plan(obs, goal)  # warm-up (and compilation for this shape)
            first = time.perf_counter() - t
            times = []
            for _ in range(args.repeats):
                agent.reset()
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                t = time.perf_counter()
                agent.plan(obs, goal)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
            row = {"samples": n, "horizon": h, "seconds": statistics.median(times),
                   "first_seconds": first}  # fmt: skip
            rows.append(row)
            print(f"samples {n:5d} horizon {h:3d}: {row['seconds'] * 1000:9.1f} ms per plan "
                  f"(first {first * 1000:.0f} ms)", flush=True)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    info = {
        "machine": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "threads": args.threads,
        "torch": torch.__version__,
        "compile": args.compile,
        "iterations": args.iterations,
        "params": model.num_parameters,
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "rows": rows,
    }
    (args.out / "latency.json").write_text(json.dumps(info, indent=1))
    plot(rows, samples, horizons, info, args.out / "latency.png")
    print(f"wrote {args.out / 'latency.json'} and {args.out / 'latency.png'}")


def plot(rows: list[dict], samples: list[int], horizons: list[int], info: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sec = {(r["samples"], r["horizon"]): r["seconds"] * 1000 for r in rows}
    fig, ax = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for h in horizons:
        ax[0].plot(samples, [sec[n, h] for n in samples], marker="o", label=f"horizon {h}")
    for n in samples:
        ax[1].plot(horizons, [sec[n, h] for h in horizons], marker="o", label=f"{n} samples")
    ax[0].set_xlabel("CEM samples per iteration")
    ax[1].set_xlabel("horizon (steps)")
    ax[0].set_ylabel(f"ms per plan ({info['iterations']} iterations)")
    for a in ax:
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    where = info["device"] if info["device"] != "cpu" else f"{info['cpu']}, {info['threads']} thr"
    fig.suptitle(
        f"amiwm planning latency: {info['params'] / 1e6:.1f}M-parameter model, {where}"
        + (", torch.compile" if info["compile"] else ""),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
