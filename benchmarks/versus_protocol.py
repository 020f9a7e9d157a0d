"""versus.py --task reacher|pusht: amiwm's demo run against LeWM on the same store and pairs.

amiwm's side is read from a finished `ami-cli demo --env TASK --out DEMO` (DEMO/summary.json,
DEMO/model), not retrained; its protocol settings (store, pairs, seed, offset, budget,
held-out episodes) are checked against this run's. Measured here, on this machine: seconds per
plan of amiwm's CEM at LeWM's budget (300 samples x 30 iterations, top 30, horizon 5) and at
its default (64 x 4, top 8). LeWM (benchmarks/swm/lewm_side.py, in the swm venv) trains for
--minutes on the store's training episodes (the demo's split) and is evaluated with the same
protocol pairs, seeds and budget, planning with its own CEM. When LeWM's evaluation is cut
short (--eval-minutes), amiwm's agent is re-run on the same first pairs for a like-for-like row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OFFSET, BUDGET = 25, 50


def demo_paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    demo = args.demo or Path("runs") / f"{args.task}-demo"
    data = args.data or demo / f"{args.task}.h5"
    return demo, demo / "model", data


def demo_split(args: argparse.Namespace) -> tuple[list[int], str]:
    """The held-out episodes: the demo model's validation split when the model is there, else
    the split its training will draw (split_episodes(n, 0.1, demo seed): amiwm's defaults)."""
    from amiwm.config import RunConfig
    from amiwm.data.store import EpisodeStore
    from amiwm.data.windows import split_episodes
    from amiwm.rundir import RunDir

    demo, model_dir, data = demo_paths(args)
    if (model_dir / "config.json").exists():
        run = RunDir(model_dir)
        trained_on = run.training_data
        if trained_on is None or trained_on.resolve() != data.resolve():
            sys.exit(f"error: {model_dir} was trained on {run.data_path}, not {data}")
        return [int(e) for e in run.split[1]], f"{model_dir} (RunDir.split[1])"
    if not data.is_file():
        sys.exit(f"error: store {data} not found; pass --data or --demo")
    with EpisodeStore(data) as store:
        n = store.num_episodes
    frac = RunConfig().train.val_fraction
    _, held = split_episodes(n, frac, args.demo_seed)
    return [int(e) for e in held], f"split_episodes({n}, {frac}, {args.demo_seed})"


def check_demo(args: argparse.Namespace, held_out: list[int]) -> dict[str, Any] | None:
    """The demo's summary (None while it is not written); exits when its protocol or split
    differ from this run's."""
    demo, model_dir, data = demo_paths(args)
    path = demo / "summary.json"
    if not path.is_file() or not (model_dir / "checkpoint").exists():
        return None
    summary = json.loads(path.read_text())
    proto = summary["protocol"]["protocol"]
    if demo_split(args)[0] != held_out:
        sys.exit(f"error: {model_dir}'s held-out episodes differ from the ones LeWM was given")
    want = {
        "store": str(data.resolve()),
        "pairs": args.pairs,
        "seed": args.protocol_seed,
        "goal_offset": OFFSET,
        "budget": BUDGET,
        "held_out_episodes": len(held_out),
    }
    got = {k: proto.get(k) for k in want}
    got["store"] = str(Path(got["store"]).resolve())
    diff = [f"{k}: demo {got[k]} vs here {want[k]}" for k in want if got[k] != want[k]]
    if diff:
        sys.exit(f"error: {path} was evaluated with other protocol settings ({'; '.join(diff)})")
    return summary


def demo_planner(summary: dict[str, Any]) -> dict[str, Any]:
    """The demo agent's planner settings (older summaries: horizon 5, final cost, whole
    blocks)."""
    block = summary["protocol"]["protocol"].get("action_block", 1)
    planner = {"horizon": 5, "cost": "final", "block_steps": block}
    planner.update({k: v for k, v in (summary.get("planner") or {}).items() if v is not None})
    return planner


def amiwm_from_demo(summary: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    from amiwm.models.world_model import WorldModel
    from amiwm.rundir import RunDir

    p = summary["protocol"]
    planner = demo_planner(summary)
    reused = bool(summary["training"].get("reused"))
    model = WorldModel.from_pretrained(model_dir)
    cfg = model.config
    return {
        "success_rate": p["success_rate"],
        "successes": p["successes"],
        "pairs": p["episodes"],
        "success_ci95": p["success_ci95"],
        "floors": p["floors"],
        "plan_ms_median_in_demo": p["plan_ms_median"],
        "train_frames_per_s": summary["training"]["frames_per_s"],
        "train_steps": summary["training"]["steps"],
        "train_batch": RunDir(model_dir).config.train.batch_size,
        # a demo that reused a finished model did not time its training
        "train_seconds": None if reused else summary["timings"].get("train_s"),
        "params": model.num_parameters,
        "model": {k: getattr(cfg, k) for k in ("encoder", "predictor", "latent_dim")},
        "planner": planner,
        "agent": f"cem 64 x 8 x 4 (default), horizon {planner['horizon']} blocks, "
        f"{planner['cost']} cost, replans every {planner['block_steps']} env step(s), no graph",
    }


def first_pair(data: Path, held_out: list[int], args: argparse.Namespace):
    from amiwm.planning.protocol import GoalTask, goal_pairs

    task = GoalTask(data, None, BUDGET, None)
    pairs = goal_pairs(data, held_out, OFFSET // task.block, args.pairs, args.protocol_seed)
    return task, pairs


def amiwm_plan_times(model_dir: Path, data: Path, held_out: list[int], args: argparse.Namespace):
    """Seconds per WorldModelAgent.plan (encode obs and goal, CEM) on the first pair's start."""
    import numpy as np

    from amiwm.planning.build import make_agent

    task, pairs = first_pair(data, held_out, args)
    try:
        obs, info = task.reset(pairs[0], args.protocol_seed)
        frame = task.frame(obs, info)
    finally:
        task.close()
    out = {}
    for name, budget in (
        ("lewm_budget", {"samples": 300, "elites": 30, "iterations": 30}),
        ("default", {}),
    ):
        agent = make_agent(model_dir, "cem", graph=False, horizon=5, seed=args.seed, **budget)
        agent.plan(frame, pairs[0].goal_frame)  # warm-up, not timed
        times = []
        for _ in range(args.plan_repeats):
            agent.reset()
            t = time.perf_counter()
            agent.plan(frame, pairs[0].goal_frame)
            times.append(time.perf_counter() - t)
        out[name] = {"seconds": times, "median_s": float(np.median(times)), **budget}
    return out


def amiwm_first_pairs(
    model_dir: Path, data: Path, held_out: list[int], n: int, args, planner: dict[str, Any]
):
    """amiwm's demo agent on the first `n` protocol pairs, with the protocol's episode loop."""
    from amiwm.planning.build import make_agent
    from amiwm.planning.protocol import GoalTask, _rate, _run, goal_pairs

    steps = planner["block_steps"]
    agent = make_agent(
        model_dir, "cem", graph=False, seed=args.seed, horizon=planner["horizon"],
        cost=planner["cost"], execute=steps,
    )  # fmt: skip
    task = GoalTask(data, None, BUDGET, None, steps)
    pairs = goal_pairs(data, held_out, OFFSET // task.block, args.pairs, args.protocol_seed)
    decisions = -(-BUDGET // task.execute)
    try:
        wins = [
            _run(task, agent, p, decisions, args.protocol_seed + i, [])[0]
            for i, p in enumerate(pairs[:n])
        ]
    finally:
        task.close()
    return {**_rate(wins), "wins": wins, "pair_ids": [[p.episode, p.step] for p in pairs]}


def run_lewm_task(
    args: argparse.Namespace, data: Path, held_out: list[int], thread_env: dict[str, str]
) -> dict[str, Any]:
    held = args.out / "held_out.json"
    held.write_text(json.dumps(held_out) + "\n")
    out = args.out / "lewm.json"
    log = args.out / "lewm.log"
    cmd = [
        str(args.swm_python), str(Path(__file__).parent / "swm" / "lewm_side.py"),
        "--task", args.task, "--data", str(data.resolve()), "--held-out", str(held.resolve()),
        "--out", str(out.resolve()), "--threads", str(args.threads), "--seed", str(args.seed),
        "--train-minutes", str(args.minutes), "--pairs", str(args.pairs),
        "--protocol-seed", str(args.protocol_seed), "--goal-offset", str(OFFSET),
        "--budget", str(BUDGET), "--eval-samples", "300", "--eval-iterations", "30",
        "--eval-topk", "30", "--horizon", "5",
        "--checkpoint", str((args.out / "lewm.safetensors").resolve()),
    ]  # fmt: skip
    if args.eval_minutes is not None:
        cmd += ["--eval-seconds", str(60 * args.eval_minutes)]
    if args.eval_until is not None:
        cmd += ["--eval-until", str(utc_today(args.eval_until))]
    print(f"[{time.strftime('%H:%M:%S')}] LeWM: {' '.join(cmd)} (log: {log})", flush=True)
    with log.open("a") as f:
        env = {**os.environ, **thread_env}
        rc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    got = json.loads(out.read_text()) if out.exists() else {}
    got["command"] = " ".join(cmd)
    if rc:
        got.setdefault("errors", []).append(f"lewm_side.py exited {rc}; see {log}")
    return got


def utc_today(hhmm: str) -> float:
    """'HH:MM' (UTC, today) -> Unix time."""
    import datetime as dt

    h, m = (int(x) for x in hhmm.split(":"))
    now = dt.datetime.now(dt.UTC)
    return now.replace(hour=h, minute=m, second=0, microsecond=0).timestamp()


def _ci(r: dict[str, Any] | None, key: str = "ci95") -> str:
    if not r or r.get("success_rate") is None:
        return "n/a"
    lo, hi = r.get(key) or r.get("success_ci95") or r.get("ci95")
    return f"{r['success_rate']:.0%} ({lo:.0%}-{hi:.0%}), {r['successes']}/{r.get('n', '?')}"


def task_table(r: Any, args: argparse.Namespace) -> str:
    a, lw = r.get("amiwm", {}), r.get("lewm", {})
    plan = r.get("amiwm_plan", {})
    lp, lt = lw.get("protocol", {}), lw.get("training", {})
    fl = a.get("floors", {})
    n_l = lp.get("pairs_evaluated")
    rows = [
        "| | amiwm | LeWM (stable-worldmodel 0.1.1) |",
        "|---|---|---|",
        f"| success, {args.pairs} pairs (95% CI) | {_ci({**a, 'n': a.get('pairs')})} | "
        + (_ci({**lp, "n": n_l}) if lp.get("complete") else f"not all pairs: see below ({n_l})")
        + " |",
    ]
    if lp and not lp.get("complete"):
        pre = r.get("amiwm_first_pairs", {})
        rows.append(
            f"| success on the first {n_l} pairs (what LeWM's evaluation reached) | "
            f"{_ci({**pre, 'n': n_l})} | {_ci({**lp, 'n': n_l})} |"
        )
    rows += [
        "| floors on the same pairs: already there / random / do nothing | "
        f"{_floors(fl)} | {_floors(lw.get('floors', {}).get('floors'))} |",
        f"| planner in the evaluation | {a.get('agent', '?')} | CEM 300 x 30 iterations, top 30, "
        "horizon 5 blocks, executes all 5 (receding horizon 5) |",
        f"| seconds per plan, CEM 300 x 30 x 30, horizon 5 (this machine) | "
        f"{_f(plan.get('lewm_budget', {}).get('median_s'), '.3f')} | "
        f"{_f(lp.get('plan_s_median'), '.1f')} |",
        f"| seconds per plan, amiwm's default CEM 64 x 8 x 4 | "
        f"{_f(plan.get('default', {}).get('median_s'), '.3f')} | - |",
        f"| training frames/s (1 thread) | {_f(a.get('train_frames_per_s'), '.0f')} | "
        f"{_f(lt.get('frames_per_s'), '.1f')} |",
        f"| training steps x batch in the budget | {a.get('train_steps', '?')} x "
        f"{a.get('train_batch', '?')} | "
        f"{lt.get('train_steps', '?')} x {lt.get('train_batch', '?')} |",
        f"| training minutes | {_minutes(a.get('train_seconds'))} | "
        f"{_minutes(lt.get('train_seconds'))} |",
        f"| parameters | {_m(a.get('params'))} | {_m(lw.get('params', {}).get('total'))} |",
    ]  # fmt: skip
    return "\n".join(rows)


def _floors(f: dict[str, Any] | None) -> str:
    if not f:
        return "not rerun here (evaluation cut before the last pair)"
    keys = ("already_successful", "random", "do_nothing")
    return " / ".join(f"{f[k]['success_rate']:.0%}" for k in keys)


def _f(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _minutes(seconds: float | None) -> str:
    return _f(None if seconds is None else seconds / 60, ".1f")


def _m(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.2f}M"


def run_task(args: argparse.Namespace, results: Any, thread_env: dict[str, str]) -> str:
    """All stages of one task; returns the markdown table. LeWM may start before the demo has
    finished (the split is known in advance); a rerun with the same --out then adds amiwm."""
    demo, model_dir, data = demo_paths(args)
    r = results
    held_out, source = demo_split(args)
    if r.get("held_out", {}).get("episodes", held_out) != held_out:
        sys.exit(f"error: {r.path} holds a LeWM run on other held-out episodes; use --fresh")
    r.save("held_out", {"episodes": held_out, "from": source}, quiet=True)
    summary = check_demo(args, held_out)
    if summary is not None and "amiwm" not in r:
        r.save("amiwm", {**amiwm_from_demo(summary, model_dir), "demo": str(demo)})
    if summary is not None and "amiwm_plan" not in r:
        r.save("amiwm_plan", amiwm_plan_times(model_dir, data, held_out, args))
    lewm = r.get("lewm", {})
    if not args.amiwm_only and not lewm.get("protocol", {}).get("pairs_evaluated"):
        lewm = run_lewm_task(args, data, held_out, thread_env)
        r.save("lewm", lewm, quiet=True)
    lp = lewm.get("protocol", {})
    if lp.get("pair_ids"):
        # the same pairs on both sides: LeWM drew them in its venv, amiwm here
        task, mine = first_pair(data, held_out, args)
        task.close()
        if [[p.episode, p.step] for p in mine] != lp["pair_ids"]:
            lewm.setdefault("errors", []).append("LeWM's pairs differ from amiwm's")
            r.save("lewm", lewm, quiet=True)
    summary = summary or check_demo(args, held_out)  # it may have appeared meanwhile
    if summary is None:
        print(f"amiwm side pending: {demo}/summary.json not written yet; rerun with this --out")
        return task_table(r, args)
    if "amiwm" not in r:
        r.save("amiwm", {**amiwm_from_demo(summary, model_dir), "demo": str(demo)})
    if "amiwm_plan" not in r:
        r.save("amiwm_plan", amiwm_plan_times(model_dir, data, held_out, args))
    if lp and not lp.get("complete") and "amiwm_first_pairs" not in r:
        n = lp["pairs_evaluated"]
        planner = demo_planner(summary)
        r.save("amiwm_first_pairs", amiwm_first_pairs(model_dir, data, held_out, n, args, planner))
    return task_table(r, args)
