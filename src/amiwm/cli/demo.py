"""`ami-cli demo`: collect, train, evaluate and report on two-rooms in one command."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_demo(args: argparse.Namespace) -> None:
    from amiwm.demo import run_demo

    summary = run_demo(
        args.out,
        minutes=args.minutes,
        episodes=args.episodes,
        eval_episodes=args.eval_episodes,
        seed=args.seed,
        progress=not args.quiet,
    )
    ev, plan = summary["evidence"], summary["planning"]["cem+graph"]
    lo, hi = plan["success_ci95"]
    print(f"probe R^2 (latent -> x, y): {ev['probe_r2_xy']:.3f}")
    print(
        "rollout error / latent variance: "
        + ", ".join(
            f"{h} steps {e['model']:.3f} (copy {e['copy']:.3f})" for h, e in ev["rollout"].items()
        )
    )
    print(
        f"success {plan['success_rate']:.0%} (95% CI {lo:.0%}-{hi:.0%}) vs random "
        f"{summary['planning']['random']['success_rate']:.0%}; planning "
        f"{plan['plan_ms_median']:.1f} ms median"
    )
    print(
        f"report: {args.out / 'index.html'}  model: {args.out / 'model'}  "
        f"({summary['timings']['total_s'] / 60:.1f} min)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    dm = sub.add_parser("demo", help="collect, train, evaluate and report on two-rooms")
    dm.add_argument("--out", type=Path, default=Path("amiwm-demo"))
    dm.add_argument("--minutes", type=float, default=9.0, help="training budget")
    dm.add_argument("--episodes", type=int, default=400, help="episodes to collect")
    dm.add_argument("--eval-episodes", type=int, default=30)
    dm.add_argument("--seed", type=int, default=0)
    dm.add_argument("--quiet", action="store_true")
    dm.set_defaults(func=cmd_demo)
