"""`ami-cli collect` and `ami-cli data inspect`."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import Parser


def cmd_collect(args: argparse.Namespace) -> None:
    from amiwm.data.collect import collect

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
    )
    print(f"wrote {path}")


def cmd_data_inspect(args: argparse.Namespace) -> None:
    from amiwm.data.store import EpisodeStore, format_summary

    with EpisodeStore(args.path) as store:
        print(format_summary(store.summary()))


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("collect", help="collect episodes from an environment into HDF5")
    c.add_argument("--env", default="two-rooms", help="two-rooms or a Gymnasium id (rgb_array)")
    c.add_argument("--episodes", type=int, default=100)
    c.add_argument("--steps", type=int, default=100, help="steps per episode")
    c.add_argument("--out", type=Path, default=Path("data.h5"))
    c.add_argument("--policy", default="drift", help="drift (two-rooms) or random")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--frame-size", type=int, default=64, help="pixels, a multiple of 16")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_collect)

    d = sub.add_parser("data", help="inspect episode stores")
    dsub = d.add_subparsers(dest="data_command", metavar="COMMAND", parser_class=Parser)
    i = dsub.add_parser("inspect", help="print a summary of an episode store")
    i.add_argument("path", type=Path)
    i.set_defaults(func=cmd_data_inspect)
