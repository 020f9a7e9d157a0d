"""`ami-cli data inspect`: what an episode store holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import Parser


def cmd_data_inspect(args: argparse.Namespace) -> None:
    from amiwm.data.store import EpisodeStore, format_summary

    with EpisodeStore(args.path) as store:
        print(format_summary(store.summary()))


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="inspect episode stores")
    dsub = d.add_subparsers(dest="data_command", metavar="COMMAND", parser_class=Parser)
    i = dsub.add_parser("inspect", help="print a summary of an episode store")
    i.add_argument("path", type=Path)
    i.set_defaults(func=cmd_data_inspect)
