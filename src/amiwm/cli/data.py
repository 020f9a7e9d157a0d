"""`ami-cli data inspect`: what an episode store, a sensor table or a robot corpus holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import Parser
from amiwm.cli.train import add_corpus_flags


def cmd_data_inspect(args: argparse.Namespace) -> int | None:
    from amiwm.data.spec import DatasetSpec
    from amiwm.data.store import EpisodeStore, format_summary

    spec = DatasetSpec.parse(args.path)
    if spec.is_corpus:  # a robot corpus, before any import
        from amiwm.data.formats.corpus import describe_corpus, format_corpus
        from amiwm.data.formats.folders import ArrayKeys

        keys = ArrayKeys(args.frames_key, args.actions_key, args.state_key, args.episodes_key)
        info = describe_corpus(spec.text(), args.camera, keys)
        print(format_corpus(info))
        return 1 if info["problems"] else None
    if spec.is_table:
        from amiwm.data.formats import read_sensors
        from amiwm.data.formats.summary import table_summary

        print(table_summary(read_sensors(spec.text())))
        return None
    with EpisodeStore(Path(spec.path)) as store:
        print(format_summary(store.summary()))
    return None


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="inspect episode stores, sensor tables, robot corpora")
    dsub = d.add_subparsers(dest="data_command", metavar="COMMAND", parser_class=Parser)
    i = dsub.add_parser(
        "inspect", help="summarise an episode store, a sensor table or a robot corpus folder"
    )
    i.add_argument(
        "path", help="store (.h5), KIND:PATH (cmapss:, csv:, parquet:, tep:), or a corpus folder"
    )
    add_corpus_flags(i, import_flags=False)
    i.set_defaults(func=cmd_data_inspect)
