"""`ami-cli collect`: record episodes of an environment into an episode store."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import names


def cmd_collect(args: argparse.Namespace) -> None:
    from amiwm.data.collect import collect
    from amiwm.data.outside import parse_env_kwargs

    path = collect(
        args.env,
        args.episodes,
        args.steps,
        args.out,
        policy=args.policy,
        seed=args.seed,
        frame_size=args.frame_size,
        overwrite=args.overwrite,
        progress=not args.quiet,
        env_kwargs=parse_env_kwargs(args.env_kwargs),
        obs_key=args.obs_key,
        state_keys=args.state_keys,
        action_block=args.action_block,
    )
    print(f"wrote {path}")


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("collect", help="collect episodes from an environment into HDF5")
    c.add_argument(
        "--env",
        default="two-rooms",
        help="two-rooms, reacher, pusht, ... or a Gymnasium id",
    )
    c.add_argument("--episodes", type=int, default=100)
    c.add_argument("--steps", type=int, default=100, help="steps per episode")
    c.add_argument("--out", type=Path, default=Path("data.h5"))
    c.add_argument(
        "--policy",
        default="auto",
        help="auto | drift (rooms) | smooth | random | setpoints | push (pusht)",
    )
    c.add_argument(
        "--env-kwargs", help='constructor arguments as JSON, e.g. \'{"obs_type": "pixels"}\''
    )
    c.add_argument("--obs-key", help="image entry of a dict observation (default: the only one)")
    c.add_argument(
        "--state-keys",
        type=names,
        help="observation keys or info entries stored as states (a,b)",
    )
    c.add_argument(
        "--action-block",
        type=int,
        default=1,
        help="env steps per stored step (their actions concatenated; LeWM's frameskip 5)",
    )
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--frame-size", type=int, default=64, help="pixels, a multiple of 16")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_collect)
