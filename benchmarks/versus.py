"""Side by side: amiwm against stable-worldmodel 0.1.1's LeWM, same machine, data and threads.

    bash benchmarks/swm/setup.sh          # once: LeWM in its own venv (.venv-swm)
    python benchmarks/versus.py --data data/versus-two-rooms.h5 --minutes 10 --episodes 20 \\
        --threads 2 --swm-python .venv-swm/bin/python --out runs/versus

Measures (a) training frames/s at about LeWM's parameter count (amiwm: ViT encoder + wider
transformer predictor) and, labelled apart, amiwm's default small model; (b) seconds per CEM
plan at 300 samples x horizon 5 x 30 iterations; (c) two-rooms success after training each
side's default recipe for the same wall-clock minutes (start and goal in opposite rooms,
seeds eval-seed + i, amiwm's env, success radius and 200-step limit). Both sides run one after
the other with the same thread count. Results go to OUT/versus.json after every stage; a rerun
with the same --out skips the stages already there (--fresh redoes them). Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LEWM_SIDE = ROOT / "benchmarks" / "swm" / "lewm_side.py"


SETTINGS = (
    "data", "minutes", "episodes", "threads", "batch", "throughput_seconds", "plan_samples",
    "plan_iterations", "plan_elites", "plan_repeats", "eval_samples", "eval_iterations",
    "eval_elites", "eval_seed", "seed", "task", "demo", "pairs", "protocol_seed", "demo_seed",
)  # fmt: skip
"""Arguments that change what is measured: a resumed run must keep them."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--task",
        choices=("two-rooms", "reacher", "pusht"),
        default="two-rooms",
        help="reacher/pusht: against a finished `ami-cli demo` run (see versus_protocol.py)",
    )
    p.add_argument(
        "--data",
        type=Path,
        help="two-rooms store (collected if missing; required); reacher/pusht: DEMO/TASK.h5",
    )
    p.add_argument("--demo", type=Path, help="reacher/pusht: the demo's --out (runs/TASK-demo)")
    p.add_argument("--pairs", type=int, default=50, help="reacher/pusht: protocol pairs")
    p.add_argument("--demo-seed", type=int, default=0, help="reacher/pusht: the demo's --seed")
    p.add_argument("--protocol-seed", type=int, default=42, help="reacher/pusht: demo seed + 42")
    p.add_argument(
        "--eval-minutes", type=float, help="reacher/pusht: cut LeWM's evaluation after this"
    )
    p.add_argument("--eval-until", help="reacher/pusht: or at this UTC time today (HH:MM)")
    p.add_argument("--minutes", type=float, default=10.0, help="training budget of each side (c)")
    p.add_argument("--episodes", type=int, default=20, help="evaluation episodes of each side (c)")
    p.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads of both sides")
    p.add_argument("--swm-python", type=Path, default=ROOT / ".venv-swm" / "bin" / "python")
    p.add_argument("--out", type=Path, default=Path("runs/versus"))
    p.add_argument("--collect-episodes", type=int, default=400, help="if --data is missing")
    p.add_argument("--batch", type=int, default=64, help="batch of both throughput runs (a)")
    p.add_argument("--throughput-seconds", type=float, default=60.0)
    p.add_argument("--plan-samples", type=int, default=300)
    p.add_argument("--plan-iterations", type=int, default=30)
    p.add_argument("--plan-elites", type=int, default=30)
    p.add_argument("--plan-repeats", type=int, default=3)
    p.add_argument("--eval-samples", type=int, default=100, help="CEM budget of (c), both sides")
    p.add_argument("--eval-iterations", type=int, default=10)
    p.add_argument("--eval-elites", type=int, default=10)
    p.add_argument("--eval-seed", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amiwm-only", action="store_true", help="skip LeWM (no swm venv needed)")
    p.add_argument("--fresh", action="store_true", help="redo stages already in versus.json")
    return p.parse_args(argv)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Results:
    """versus.json, rewritten after every stage."""

    def __init__(self, path: Path, fresh: bool) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path.exists() and not fresh:
            self.data = json.loads(path.read_text())

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def save(self, key: str, value: Any, quiet: bool = False) -> None:
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")
        if not quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {key}: {json.dumps(value)}", flush=True)


# ----------------------------------------------------------------------------- amiwm side
def run_config(data: Path, seed: int) -> Any:
    from amiwm.config import RunConfig
    from amiwm.data.store import EpisodeStore
    from amiwm.training.trainer import fill_model_from_data

    cfg = RunConfig(dataset=str(data.resolve()))
    cfg.train.seed = seed
    with EpisodeStore(data) as store:
        fill_model_from_data(cfg, store)
    return cfg


def matched_config(cfg: Any, target: int, family: str = "vit") -> Any:
    """An amiwm model of about `target` parameters. family "vit": LeWM's shape (ViT encoder,
    192-d latents, a depth-6 transformer predictor, widened); "conv": amiwm's default shape
    (conv encoder, Markov MLP predictor), widened."""
    import copy

    from amiwm.models.world_model import WorldModel

    best = None
    for dim in range(128, 2049, 32):
        c = copy.deepcopy(cfg)
        m = c.model
        if family == "vit":
            m.encoder, m.predictor, m.latent_dim = "vit", "transformer", 192
            m.predictor_dim, m.predictor_depth, m.predictor_heads = dim, 6, 8
        else:
            m.encoder_width, m.predictor_dim = 64, dim
        n = sum(p.numel() for p in WorldModel(m).parameters())
        if best is None or abs(n - target) < abs(best[0] - target):
            best = (n, c)
    return best[1]


def amiwm_throughput(cfg: Any, batch: int, seconds: float) -> dict[str, Any]:
    """Training steps of amiwm's trainer (window from its store, loss, AdamW, clip), timed."""
    import torch

    from amiwm.data.windows import WindowDataset, split_episodes
    from amiwm.models.world_model import WorldModel
    from amiwm.training.batches import step_generator
    from amiwm.training.loss import build_regularizer, latent_prediction_loss

    tc = cfg.train
    torch.manual_seed(tc.seed)
    model = WorldModel(cfg.model).train()
    from amiwm.data.store import EpisodeStore

    with EpisodeStore(cfg.dataset) as store:
        train_eps, _ = split_episodes(store.num_episodes, tc.val_fraction, tc.seed)
    data = WindowDataset(cfg.dataset, tc.window, episodes=train_eps)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    reg = build_regularizer(tc)

    def step(i: int) -> int:
        g = step_generator(tc.seed, i)
        idx = torch.randint(len(data), (batch,), generator=g).tolist()
        b = data.get_batch(idx)
        loss = latent_prediction_loss(model, b, tc, reg, None, g)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        return b["obs"].shape[0] * b["obs"].shape[1]

    step(0)  # warm-up
    steps, frames, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or steps < 2:
        frames += step(steps + 1)
        steps += 1
    dt = time.perf_counter() - t0
    return {
        "frames_per_s": frames / dt,
        "steps": steps,
        "seconds": dt,
        "batch": batch,
        "frames_per_sample": tc.window,
        "params": model.num_parameters,
        "model": {
            k: getattr(cfg.model, k)
            for k in ("encoder", "predictor", "latent_dim", "predictor_dim", "predictor_depth")
        },
        "regularizer": tc.regularizer,
    }


def amiwm_plan_time(cfg: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per WorldModelAgent.plan (encode obs and goal, CEM) at the given budget."""
    import numpy as np
    import torch

    from amiwm.envs import make_env
    from amiwm.models.world_model import WorldModel
    from amiwm.planning.agent import WorldModelAgent
    from amiwm.planning.cem import CEMPlanner

    torch.manual_seed(args.seed)
    model = WorldModel(cfg.model).eval()
    planner = CEMPlanner(args.plan_samples, args.plan_elites, args.plan_iterations)
    agent = WorldModelAgent(model, planner, horizon=5, replan_every=5, seed=args.seed)
    env = make_env("two-rooms")
    obs, _ = env.reset(seed=args.eval_seed)
    goal = env.unwrapped.goal_observation()
    planner.iterations = 1
    agent.plan(obs, goal)  # warm-up, not timed
    planner.iterations = args.plan_iterations
    times = []
    for _ in range(args.plan_repeats):
        agent.reset()
        t = time.perf_counter()
        agent.plan(obs, goal)
        times.append(time.perf_counter() - t)
    return {
        "seconds": times,
        "median_s": float(np.median(times)),
        "samples": args.plan_samples,
        "iterations": args.plan_iterations,
        "elites": args.plan_elites,
        "horizon": 5,
        "params": model.num_parameters,
    }


def amiwm_success(
    cfg: Any, args: argparse.Namespace, run_dir: Path, steps_per_s: float
) -> dict[str, Any]:
    """Train amiwm's default config for --minutes, then evaluate two agents on two-rooms."""
    from amiwm.envs import make_env
    from amiwm.planning.agent import WorldModelAgent
    from amiwm.planning.episodes import evaluate
    from amiwm.training.trainer import train

    if run_dir.exists():
        shutil.rmtree(run_dir)  # an unfinished run of ours: start over
    budget = args.minutes * 60
    # the cosine schedule needs a step count: what the measured speed fits in the budget
    cfg.train.steps = max(50, int(budget * steps_per_s))
    t = time.perf_counter()
    result = train(cfg, run_dir, progress=False, max_seconds=budget)
    out: dict[str, Any] = {
        "train_steps": result.step,
        "planned_steps": cfg.train.steps,
        "train_seconds": time.perf_counter() - t,
        "val_pred_loss": result.val_pred_loss,
        "params": None,
    }
    env = make_env("two-rooms")
    agent = WorldModelAgent.from_checkpoint(run_dir, "cem", graph_data=cfg.dataset, seed=args.seed)
    out["params"] = agent.model.num_parameters
    t = time.perf_counter()
    out["default_agent"] = {
        **evaluate(agent, env, args.episodes, seed=args.eval_seed),
        "eval_seconds": time.perf_counter() - t,
        "agent": "cem 64x8x4 (default), horizon 5, replan every step, latent-graph subgoals",
    }
    flat = WorldModelAgent.from_checkpoint(
        run_dir,
        "cem",
        samples=args.eval_samples,
        elites=args.eval_elites,
        iterations=args.eval_iterations,
        horizon=5,
        seed=args.seed,
    )
    t = time.perf_counter()
    out["flat_same_budget"] = {
        **evaluate(flat, env, args.episodes, seed=args.eval_seed),
        "eval_seconds": time.perf_counter() - t,
        "agent": (
            f"cem {args.eval_samples}x{args.eval_elites}x{args.eval_iterations}, horizon 5, "
            "replan every step, no graph"
        ),
    }
    return out


# ----------------------------------------------------------------------------- LeWM side
def run_lewm(args: argparse.Namespace, only: str, log: Path) -> dict[str, Any]:
    """Run benchmarks/swm/lewm_side.py in the swm venv; return its JSON (partial on failure)."""
    out = args.out / "lewm.json"
    cmd = [
        str(args.swm_python), str(LEWM_SIDE), "--data", str(args.data.resolve()),
        "--out", str(out.resolve()), "--threads", str(args.threads), "--only", only,
        "--seed", str(args.seed), "--batch", str(args.batch),
        "--throughput-seconds", str(args.throughput_seconds),
        "--plan-samples", str(args.plan_samples), "--plan-iterations", str(args.plan_iterations),
        "--plan-topk", str(args.plan_elites), "--plan-repeats", str(args.plan_repeats),
        "--train-minutes", str(args.minutes), "--episodes", str(args.episodes),
        "--eval-seed", str(args.eval_seed), "--eval-samples", str(args.eval_samples),
        "--eval-iterations", str(args.eval_iterations), "--eval-topk", str(args.eval_elites),
    ]  # fmt: skip
    env = {**os.environ, **thread_env(args.threads)}
    print(f"[{time.strftime('%H:%M:%S')}] LeWM: {' '.join(cmd)} (log: {log})", flush=True)
    with log.open("a") as f:
        rc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    got = json.loads(out.read_text()) if out.exists() else {}
    got["command"] = " ".join(cmd)
    if rc:
        got.setdefault("errors", []).append(f"lewm_side.py --only {only} exited {rc}; see {log}")
        print(f"warning: LeWM side exited {rc}; see {log}", file=sys.stderr)
    return got


def thread_env(threads: int) -> dict[str, str]:
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


# ----------------------------------------------------------------------------- table
def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def table(r: Results, args: argparse.Namespace) -> str:
    lw = r.get("lewm", {})
    lw_fps = lw.get("throughput", {}).get("frames_per_s")
    lw_plan = lw.get("plan", {}).get("median_s")
    lw_succ = lw.get("success", {}).get("success_rate")
    lw_n = lw.get("params", {}).get("total")
    rows = []

    def row(name: str, a: float | None, b: float | None, spec: str, ratio: float | None,
            target: str, met: bool | None) -> None:  # fmt: skip
        m = "-" if met is None else ("yes" if met else "no")
        if met and target == ">= LeWM" and a == b:
            m = "yes (equal)"
        rows.append(
            f"| {name} | {_fmt(a, spec)} | {_fmt(b, spec)} | {_fmt(ratio, '.2f')}"
            f"{'' if ratio is None else 'x'} | {target} | {m} |"
        )

    def div(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None or y == 0 else x / y

    for key, shape in (("", "ViT + transformer, LeWM's shape"), ("_conv", "conv + MLP")):
        eq = r.get(f"amiwm_throughput_matched{key}", {})
        ratio = div(eq.get("frames_per_s"), lw_fps)
        row(
            f"(a) train frames/s, ~equal params (amiwm {shape}, {_m(eq.get('params'))}; "
            f"LeWM {_m(lw_n)}), batch {args.batch}",
            eq.get("frames_per_s"), lw_fps, ".1f", ratio, ">= 1.5x",
            None if ratio is None else ratio >= 1.5,
        )  # fmt: skip
    small = r.get("amiwm_throughput_default", {})
    row(
        f"(a') train frames/s, amiwm default model ({_m(small.get('params'))}) [info]",
        small.get("frames_per_s"), lw_fps, ".1f", div(small.get("frames_per_s"), lw_fps), "-",
        None,
    )  # fmt: skip
    budget = f"{args.plan_samples}x5x{args.plan_iterations}"
    for key, shape in (("", "ViT + transformer"), ("_conv", "conv + MLP")):
        pm = r.get(f"amiwm_plan_matched{key}", {})
        ratio = div(lw_plan, pm.get("median_s"))
        row(
            f"(b) seconds per CEM plan {budget}, ~equal params (amiwm {shape})",
            pm.get("median_s"), lw_plan, ".3f", ratio, ">= 2x faster",
            None if ratio is None else ratio >= 2.0,
        )  # fmt: skip
    pd = r.get("amiwm_plan_default", {})
    row(
        f"(b') seconds per CEM plan {budget}, amiwm default model [info]", pd.get("median_s"),
        lw_plan, ".3f", div(lw_plan, pd.get("median_s")), "-", None,
    )  # fmt: skip
    s = r.get("amiwm_success", {})
    for key, label in (("default_agent", "amiwm default agent"), ("flat_same_budget", "flat")):
        a = s.get(key, {}).get("success_rate")
        met = None if a is None or lw_succ is None else a >= lw_succ
        row(
            f"(c) two-rooms success after {args.minutes:g} min training, {args.episodes} "
            f"episodes ({label})", a, lw_succ, ".0%", None, ">= LeWM", met,
        )  # fmt: skip
    head = (
        "| metric | amiwm | stable-worldmodel LeWM | ratio | target | met? |\n"
        "|---|---|---|---|---|---|"
    )
    return "\n".join([head, *rows])


def _m(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f}M"


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.update(thread_env(args.threads))  # before torch is imported
    if not args.amiwm_only and not args.swm_python.exists():
        sys.exit(
            f"error: {args.swm_python} not found; run `bash benchmarks/swm/setup.sh` first "
            "(or pass --swm-python, or --amiwm-only)"
        )
    if args.task == "two-rooms" and args.data is None:
        sys.exit("error: --data is required for two-rooms (the store, collected if missing)")
    import torch

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    r = Results(args.out / "versus.json", args.fresh)
    if args.fresh:
        (args.out / "lewm.json").unlink(missing_ok=True)
    settings = {k: str(v) for k, v in vars(args).items() if k in SETTINGS}
    if r.get("settings", settings) != settings:
        diff = sorted(k for k in settings if r.get("settings", {}).get(k) != settings[k])
        sys.exit(
            f"error: {r.path} was measured with other settings ({', '.join(diff)}); "
            "pass --fresh or choose another --out"
        )
    r.save("settings", settings, quiet=True)
    log = args.out / "lewm.log"
    r.save(
        "machine",
        {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "threads": args.threads,
            "amiwm": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
            },
            "command": " ".join([sys.executable, *sys.argv]),
        },
    )
    if args.task != "two-rooms":
        from versus_protocol import run_task

        text = run_task(args, r, thread_env(args.threads))
        r.save("table", text, quiet=True)
        lv = r.get("lewm", {}).get("versions", {})
        print(
            f"\nmachine: {cpu_model()}, {os.cpu_count()} cores, {args.threads} thread(s) each "
            f"side; amiwm: torch {torch.__version__}; LeWM: stable-worldmodel "
            f"{lv.get('stable-worldmodel', '?')}, torch {lv.get('torch', '?')}\n{text}"
        )
        for err in r.get("lewm", {}).get("errors", []):
            print(f"LeWM error: {err}")
        print(f"\nwrote {r.path}")
        return
    if not args.data.exists():
        from amiwm.data.collect import collect

        t = time.perf_counter()
        collect("two-rooms", args.collect_episodes, 100, args.data, seed=args.seed, progress=False)
        r.save("collect", {"episodes": args.collect_episodes, "seconds": time.perf_counter() - t})

    lewm: dict[str, Any] = r.get("lewm", {})
    if not args.amiwm_only and "params" not in lewm:
        lewm = run_lewm(args, "params", log)
        r.save("lewm", lewm, quiet=True)
    target = lewm.get("params", {}).get("total")
    if target is None:
        print("LeWM parameter count unknown: the matched amiwm model aims at 18M", flush=True)
        target = 18_000_000
    cfg = run_config(args.data, args.seed)
    matched = matched_config(cfg, target)

    if "amiwm_throughput_matched" not in r:
        r.save("amiwm_throughput_matched", amiwm_throughput(matched, args.batch,
                                                            args.throughput_seconds))  # fmt: skip
    wide = matched_config(cfg, target, "conv")
    if "amiwm_throughput_matched_conv" not in r:
        fps = amiwm_throughput(wide, args.batch, args.throughput_seconds)
        r.save("amiwm_throughput_matched_conv", fps)
    if "amiwm_throughput_default" not in r:
        r.save("amiwm_throughput_default", amiwm_throughput(cfg, args.batch,
                                                            args.throughput_seconds))  # fmt: skip
    if "amiwm_plan_matched" not in r:
        r.save("amiwm_plan_matched", amiwm_plan_time(matched, args))
    if "amiwm_plan_matched_conv" not in r:
        r.save("amiwm_plan_matched_conv", amiwm_plan_time(wide, args))
    if "amiwm_plan_default" not in r:
        r.save("amiwm_plan_default", amiwm_plan_time(cfg, args))
    if "amiwm_success" not in r:
        d = r.get("amiwm_throughput_default")
        steps_per_s = d["frames_per_s"] / (cfg.train.batch_size * cfg.train.window)
        r.save("amiwm_success", amiwm_success(cfg, args, args.out / "amiwm-model", steps_per_s))

    if not args.amiwm_only:
        todo = [s for s in ("throughput", "plan", "success") if s not in lewm]
        if todo:
            lewm = run_lewm(args, ",".join(todo), log)
            r.save("lewm", lewm, quiet=True)
    text = table(r, args)
    r.save("table", text, quiet=True)
    lv = r.get("lewm", {}).get("versions", {})
    print(
        f"\nmachine: {cpu_model()}, {os.cpu_count()} cores, {args.threads} threads each side; "
        f"amiwm: python {platform.python_version()}, torch {torch.__version__}; "
        f"LeWM: stable-worldmodel {lv.get('stable-worldmodel', '?')}, torch "
        f"{lv.get('torch', '?')}, transformers {lv.get('transformers', '?')}"
    )
    print(text)
    a, b = r.get("amiwm_success", {}), r.get("lewm", {}).get("success", {})
    if a or b:
        print(
            f"(c) training in the budget: amiwm {a.get('train_steps', '?')} steps of batch "
            f"{run_config(args.data, args.seed).train.batch_size}, LeWM "
            f"{b.get('train_steps', '?')} steps of batch {b.get('train_batch', '?')}; "
            f"LeWM plans {args.eval_samples}x5x{args.eval_iterations} (top {args.eval_elites}) "
            f"and executes 5 blocks of {b.get('action_block', '?')} actions per plan"
        )
    for err in r.get("lewm", {}).get("errors", []):
        print(f"LeWM error: {err}")
    print(f"\nwrote {r.path}")


if __name__ == "__main__":
    main()
