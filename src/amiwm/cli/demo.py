"""`ami-cli demo`: collect, train, evaluate and report in one command (two-rooms, reacher,
pusht)."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import boolean_for


def cmd_demo(args: argparse.Namespace) -> None:
    from amiwm.demo import run_demo

    summary = run_demo(
        args.out,
        env=args.env,
        minutes=args.minutes,
        episodes=args.episodes,
        eval_episodes=args.eval_episodes,
        seed=args.seed,
        progress=not args.quiet,
        proprio=args.proprio,
        state_target=args.state_target,
    )
    ev, planning = summary["evidence"], summary["planning"]
    plan = planning.get("cem+graph") or planning["cem"]
    lo, hi = plan["success_ci95"]
    if ev["probe_r2_xy"] is not None:
        print(f"probe R^2 (latent -> state): {ev['probe_r2_xy']:.3f}")
    print(
        "rollout error / latent variance: "
        + ", ".join(
            f"{h} steps {e['model']:.3f} (copy {e['copy']:.3f})" for h, e in ev["rollout"].items()
        )
    )
    floors = ", ".join(
        f"{k.replace('_', ' ')} {v['success_rate']:.0%}"
        for k, v in planning.items()
        if k in ("random", "do_nothing", "already_successful")
    )
    print(
        f"success {plan['success_rate']:.0%} (95% CI {lo:.0%}-{hi:.0%}) vs {floors}; planning "
        f"{plan['plan_ms_median']:.1f} ms median"
    )
    print(
        f"report: {args.out / 'index.html'}  model: {args.out / 'model'}  "
        f"({summary['timings']['total_s'] / 60:.1f} min)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    dm = sub.add_parser("demo", help="collect, train, evaluate and report in one command")
    dm.add_argument(
        "--env", default="two-rooms", help="two-rooms (9 min) | reacher | pusht (45 min each)"
    )
    dm.add_argument("--out", type=Path, default=Path("amiwm-demo"))
    dm.add_argument(
        "--minutes", type=float, help="training budget (two-rooms 9, reacher and pusht 40)"
    )
    dm.add_argument("--episodes", type=int, help="episodes to collect (default: the recipe's)")
    dm.add_argument(
        "--eval-episodes", type=int, help="two-rooms: episodes (30); reacher/pusht: pairs (50)"
    )
    dm.add_argument("--seed", type=int, default=0)
    dm.add_argument(
        "--proprio",
        type=boolean_for("--proprio"),
        default=False,
        help="reacher/pusht: the model also takes the recorded robot state (reacher's goal is "
        "then the pose at any joint velocity)",
    )
    dm.add_argument(
        "--state-target",
        type=boolean_for("--state-target"),
        help="reacher/pusht: the recorded robot state is a training-only target; the model "
        "still plans from frames alone (default: true on reacher unless --proprio true)",
    )
    dm.add_argument("--quiet", action="store_true")
    dm.set_defaults(func=cmd_demo)
