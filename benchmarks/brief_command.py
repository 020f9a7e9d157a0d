"""Frames/s of the brief's training command against the default model, on the same data and
cores (default 2 threads), as a new user would run them:

    ami-cli train --dataset PATH --architecture jepa-world-model --latent-dim 8192 \\
      --objective latent-state-prediction --action-conditioning true --precision bf16

Collects a two-rooms store (50 episodes x 100 steps) once, then trains each command --steps
steps, --rounds times, alternating (so a busy machine slows both alike). Frames/s per step come
from metrics.jsonl (batch x window frames over the step's wall time); the median over steps 3..N
of each run, then the median over rounds, is reported, with the ratio brief / default. Also
prints the brief's command with --precision fp32, and any note `ami-cli train` printed.

    python benchmarks/brief_command.py                    # 2 threads, 30 steps, 3 rounds
    python benchmarks/brief_command.py --cpus 0,1         # pin to two cores as well
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BRIEF = [
    "--architecture", "jepa-world-model", "--latent-dim", "8192",
    "--objective", "latent-state-prediction", "--action-conditioning", "true",
    "--precision", "bf16",
]  # fmt: skip
COMMANDS = {
    "default model": [],
    "brief's command": BRIEF,
    "brief's, fp32": [*BRIEF[:-1], "fp32"],
}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "?"
    return ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in words)


def run(cli: list[str], env: dict[str, str], out: Path, extra: list[str]) -> tuple[float, str]:
    """Median per-step frames/s of one training run (steps 3..N), and its stderr."""
    r = subprocess.run([*cli, "--out", str(out), *extra], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"training failed: {r.stderr.strip()}")
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    fps = [row["frames_per_s"] for row in rows if row["step"] >= 3]
    return statistics.median(fps), r.stderr.strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/amiwm-brief"), help="scratch dir")
    p.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads")
    p.add_argument("--cpus", help="pin the runs to these cores, e.g. 0,1 (Linux)")
    p.add_argument("--steps", type=int, default=30, help="training steps per run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--skip-fp32", action="store_true", help="leave out the brief's with fp32")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "amiwm.cli"]
    if args.cpus:
        cli = ["taskset", "-c", args.cpus, *cli]
    data = args.work / "data.h5"
    if not data.exists():
        cmd = ["collect", "--env", "two-rooms", "--episodes", "50", "--steps", "100"]
        subprocess.run([*cli, *cmd, "--out", str(data), "--quiet"], env=env, check=True)
    config = args.work / "log-every-step.yaml"
    config.write_text("train:\n  log_every: 1\n  checkpoint_every: 1000000\n")
    train = [*cli, "train", "--dataset", str(data), "--config", str(config)]
    train += ["--steps", str(args.steps), "--quiet"]
    names = [n for n in COMMANDS if not (args.skip_fp32 and n == "brief's, fp32")]
    results: dict[str, list[float]] = {n: [] for n in names}
    notes: set[str] = set()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    for r in range(args.rounds):
        for n in names:
            out = args.work / f"run-{names.index(n)}-{r}"
            subprocess.run(["rm", "-rf", str(out)], check=True)
            fps, err = run(train, env, out, COMMANDS[n])
            results[n].append(fps)
            notes.update(line for line in err.splitlines() if line.startswith("note:"))
            print(f"round {r + 1} {n}: {fps:.0f} frames/s", flush=True)
    import torch

    print(
        f"\nmachine: {cpu_name()} ({cpu_flags()}), {os.cpu_count()} cores visible, "
        f"{args.threads} threads{f', pinned to cores {args.cpus}' if args.cpus else ''}; "
        f"torch {torch.__version__}; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after ({time.perf_counter() - t0:.0f} s)"
    )
    print(f"data: two-rooms 50 x 100 steps, 64x64 frames; {args.steps} steps per run, batch 64 x 4")
    base = statistics.median(results["default model"])
    for n in names:
        med = statistics.median(results[n])
        runs = ", ".join(f"{v:.0f}" for v in results[n])
        print(f"{n:>16}: {med:6.0f} frames/s  ({med / base:.2f} of default; runs {runs})")
    for note in sorted(notes):
        print(note)


if __name__ == "__main__":
    main()
