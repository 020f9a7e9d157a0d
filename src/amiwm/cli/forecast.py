"""`ami-cli forecast`: the sensor readings H steps ahead of each group's latest window."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from amiwm.cli.monitor import column_flags, column_options
from amiwm.errors import AmiError


def cmd_forecast(args: argparse.Namespace) -> None:
    import torch

    from amiwm.monitoring.forecast import Forecaster, read_plan

    if args.out.exists() and not args.overwrite:
        raise AmiError(f"{args.out} exists; pass --overwrite to replace it")
    if args.horizon < 1:
        raise AmiError(f"--horizon must be >= 1, got {args.horizon}")
    if args.threads < 1:
        raise AmiError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    fc = Forecaster(args.checkpoint, args.horizon, fit=args.fit, **column_options(args))
    plan = None
    if args.actions is not None:
        plan = read_plan(args.actions, fc.action_names, args.horizon)
    table = fc.read(args.data)
    results = fc.forecast_table(table, plan)
    channels = fc.model.config.channels or table.channels
    tmp = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(",".join(["group", "step", *channels]) + "\n")
            for g, y in results:
                for k, row in enumerate(y, start=1):
                    f.write(f"{g},{k}," + ",".join(f"{v:.6g}" for v in row) + "\n")
        os.replace(tmp, args.out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AmiError(f"cannot write {args.out}: {exc.strerror}") from None
    if not args.quiet:
        under = f"the plan {args.actions}" if plan is not None else "the last actions held"
        if not fc.action_names:
            under = "no actions (the model takes none)"
        print(
            f"{len(results)} group(s), {args.horizon} steps under {under}; read-out fitted on "
            f"{fc.basis} -> {args.out}",
            file=sys.stderr,
        )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecast", help="sensor readings H steps ahead, under an action plan")
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
    p.add_argument("--data", required=True, help="FILE, cmapss:FILE, csv:FILE, tep:PATH ...")
    p.add_argument(
        "--actions",
        type=Path,
        help="plan CSV: a header of the model's action names, one row per step (the action "
        "leading to it); default: the last recorded action held",
    )
    p.add_argument("--horizon", type=int, required=True, help="steps ahead")
    p.add_argument("--out", type=Path, required=True, help="CSV: group,step,<channels>")
    p.add_argument("--fit", help="normal data to fit the read-out on (default: training data)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--quiet", action="store_true")
    column_flags(p)
    p.set_defaults(func=cmd_forecast)
