"""`ami-cli memory inspect`."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import Parser


def cmd_memory_inspect(args: argparse.Namespace) -> None:
    import json

    from amiwm.memory import MemoryStore, format_stats

    with MemoryStore(args.path, readonly=True) as store:
        stats = store.stats()
    print(json.dumps(stats) if args.json else format_stats(stats))


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("memory", help="inspect persistent latent memory stores")
    msub = m.add_subparsers(dest="memory_command", metavar="COMMAND", parser_class=Parser)
    i = msub.add_parser("inspect", help="records, fill, episodes, integrity of a memory store")
    i.add_argument("path", type=Path, help="memory store directory")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=cmd_memory_inspect)
