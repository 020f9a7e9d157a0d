"""`ami-cli probe`: remaining useful life from a model's frozen latents."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli.monitor import column_flags, column_options
from amiwm.errors import AmiError


def cmd_probe(args: argparse.Namespace) -> None:
    import json

    from amiwm.data.formats import read_rul, read_sensors
    from amiwm.models.world_model import WorldModel
    from amiwm.monitoring.rul import evaluate_rul
    from amiwm.monitoring.watch import trained_columns

    if args.target != "rul":
        raise AmiError(f"unknown --target {args.target!r}; choose: rul")
    if args.cap <= 0:
        raise AmiError(f"--cap must be positive, got {args.cap}")
    model = WorldModel.from_pretrained(args.checkpoint)
    cols = trained_columns(args.checkpoint, model, **column_options(args))
    train = read_sensors(args.train, **cols)
    test = read_sensors(args.test, **cols)
    rul = read_rul(args.test_rul, units=len(test.groups()))
    report = evaluate_rul(model, train, test, rul, cap=args.cap)
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"RUL on {len(rul)} test units (cap {args.cap:g}): RMSE {report['rmse']:.2f}, "
        f"PHM08 score {report['score']:.1f}; probe fit RMSE {report['train_rmse']:.2f}"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="remaining useful life from frozen latents (RMSE, PHM08)")
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
    p.add_argument("--train", required=True, help="run-to-failure units to fit the probe on")
    p.add_argument("--test", required=True, help="units that end before failure")
    p.add_argument("--test-rul", type=Path, required=True, help="true RUL per test unit")
    p.add_argument("--target", default="rul", help="rul")
    p.add_argument("--cap", type=float, default=125.0, help="RUL cap (standard: 125)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    column_flags(p)
    p.set_defaults(func=cmd_probe)
