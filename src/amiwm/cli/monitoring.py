"""`ami-cli monitor` (streaming surprise and alarms) and `ami-cli probe` (remaining life)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from amiwm.cli import Parser
from amiwm.errors import AmiError


def _columns(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """Column options: flags, else what the checkpoint was trained with."""
    from amiwm.checkpoint import read_json, resolve

    data = read_json(resolve(args.checkpoint) / "config.json").get("data", {})
    cfg = model.config
    return {
        "time_col": args.time_col or data.get("time_col"),
        "group_col": args.group_col or data.get("group_col"),
        "sensor_cols": args.sensor_cols or cfg.channels or data.get("sensor_cols") or None,
        "action_cols": args.action_cols
        or (cfg.action_names if cfg.action_conditioning else None)
        or None,
        "missing": args.missing or data.get("missing", "error"),
    }


def _trained_on_tep(checkpoint: Path) -> bool:
    """A checkpoint trained on ``tep:`` / ``tep-any:`` data (TEP runs monitor with the XMVs of
    each row and the dynamic read-out)."""
    from amiwm.checkpoint import read_json, resolve
    from amiwm.data.formats.tep import KINDS

    spec = str(read_json(resolve(checkpoint) / "config.json").get("dataset", ""))
    return spec.startswith(tuple(f"{k}:" for k in KINDS))


def _new_file(path: Path | None, overwrite: bool) -> None:
    if path is not None and path.exists() and not overwrite:
        raise AmiError(f"{path} exists; pass --overwrite to replace it")


def cmd_monitor(args: argparse.Namespace) -> None:
    import math

    import torch

    from amiwm.data.formats import BadRow, read_sensors, stream_rows
    from amiwm.data.formats.tep import describe
    from amiwm.models.world_model import WorldModel
    from amiwm.monitoring.monitor import (
        Monitor,
        score_stream,
        split_runs,
        table_runs,
        training_runs,
    )
    from amiwm.report import plot_monitor

    for path in (args.out, args.plot):
        _new_file(path, args.overwrite)
    if args.threads < 1:
        raise AmiError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    model = WorldModel.from_pretrained(args.checkpoint)
    cols = _columns(args, model)
    tep = _trained_on_tep(args.checkpoint)  # XMVs act with their own row; dynamic read-out
    monitor = Monitor(model, smoothing=args.smoothing, next_actions=tep, dynamic=tep)
    stream = stream_rows(args.data, args.format, **cols)  # bad columns fail before calibrating
    try:
        if args.calibrate is not None:
            fit, check = split_runs(table_runs(read_sensors(args.calibrate, **cols)))
            basis = args.calibrate
        else:
            fit, check = training_runs(args.checkpoint)
            basis = "the checkpoint's held-out training episodes"
        monitor.calibrate(fit, check, args.false_alarm_rate)
    except BaseException:
        stream.close()
        raise
    if args.threshold is not None:
        monitor.threshold, basis = args.threshold, "given"
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    say(f"threshold {monitor.threshold:.4g} (false-alarm rate {args.false_alarm_rate:g}, {basis})")

    def num(v: float) -> str:
        return "" if math.isnan(v) else f"{v:.6g}"

    names = model.config.channels or stream.channels
    keep: dict[Any, list] = {}
    counts = {"rows": 0, "bad": 0, "alarm": 0}
    alarmed: set = set()
    live = args.data == "-"
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115 (closed below)
    try:
        out.write("group,time,surprise,residual,score,alarm,suspect,top3,status\n")
        with stream:
            scored = score_stream(monitor, iter(stream), args.chunk, live)
            for r, s, res, score, alarm, c, top in scored:
                counts["rows"] += 1
                if isinstance(r, BadRow):
                    counts["bad"] += 1
                    print(f"warning: skipped {r.message}", file=sys.stderr)
                    out.write(f",,,,,,,,bad row {r.line}\n")
                    continue
                counts["alarm"] += alarm
                if alarm and r.group not in alarmed:
                    alarmed.add(r.group)
                    who = f" (worst explained: {names[c]})" if c >= 0 else ""
                    if monitor.dynamic and top[0] >= 0:
                        departs = ", ".join(describe(names[j]) for j in top if j >= 0)
                        who = f"; departing most: {departs}"
                    say(f"ALARM group {r.group} at time {r.time:g}: score {score:.4g}{who}")
                status = "warmup" if math.isnan(s) else "ok"
                suspect = names[c] if alarm and c >= 0 else ""
                top3 = ";".join(names[j] for j in top if j >= 0) if alarm else ""
                out.write(
                    f"{r.group},{r.time:g},{num(s)},{num(res)},{num(score)},{int(alarm)},"
                    f"{suspect},{top3},{status}\n"
                )
                if args.plot is not None:
                    keep.setdefault(r.group, []).append((r.time, r.sensors, s, score, alarm))
                if live:
                    out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    if args.plot is not None and keep:
        group = _plot_group(args.plot_group, keep, alarmed)
        plot_monitor(args.plot, keep[group], stream.channels, monitor.threshold, f"group {group}")
    groups = ", ".join(map(str, sorted(alarmed, key=str))) or "none"
    say(f"{counts['rows']} rows, {counts['bad']} bad, {counts['alarm']} in alarm; alarms: {groups}")


def _plot_group(wanted: str | None, keep: dict, alarmed: set) -> Any:
    if wanted is None:
        return next((g for g in keep if g in alarmed), next(iter(keep)))
    for g in keep:
        if str(g) == wanted:
            return g
    raise AmiError(f"--plot-group {wanted} is not in the data")


def cmd_probe(args: argparse.Namespace) -> None:
    import json

    from amiwm.data.formats import read_rul, read_sensors
    from amiwm.models.world_model import WorldModel
    from amiwm.monitoring.rul import evaluate_rul

    if args.target != "rul":
        raise AmiError(f"unknown --target {args.target!r}; choose: rul")
    if args.cap <= 0:
        raise AmiError(f"--cap must be positive, got {args.cap}")
    model = WorldModel.from_pretrained(args.checkpoint)
    cols = _columns(args, model)
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


def _column_flags(q: Parser) -> None:
    q.add_argument("--time-col", help="time column (default: as trained; C-MAPSS: cycle)")
    q.add_argument("--group-col", help="unit/episode column (default: as trained)")
    q.add_argument("--sensor-cols", help="comma-separated sensor columns (default: as trained)")
    q.add_argument("--action-cols", help="comma-separated action columns (default: as trained)")
    q.add_argument("--missing", help="missing cells: error | ffill | drop")


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("monitor", help="stream sensor rows: per-step surprise and alarms")
    m.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
    m.add_argument(
        "--data", required=True, help="FILE, cmapss:FILE, csv:FILE, parquet:FILE, tep:PATH or -"
    )
    m.add_argument("--format", help="cmapss | csv | parquet (for - or an unknown suffix)")
    m.add_argument("--out", type=Path, help="CSV: group,time,surprise,residual,score,alarm,...")
    m.add_argument("--plot", type=Path, help="PNG: sensors, surprise and alarms over time")
    m.add_argument("--plot-group", help="group to plot (default: first in alarm)")
    m.add_argument("--false-alarm-rate", type=float, default=0.01, help="on normal data")
    m.add_argument("--threshold", type=float, help="alarm threshold instead of the calibrated one")
    m.add_argument("--calibrate", help="normal-operation data to calibrate the threshold on")
    m.add_argument("--smoothing", type=float, default=0.2, help="EWMA weight of a new row")
    m.add_argument("--chunk", type=int, default=512, help="rows per model call")
    m.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steady next to other work)"
    )
    m.add_argument("--overwrite", action="store_true", help="replace existing --out/--plot")
    m.add_argument("--quiet", action="store_true")
    _column_flags(m)
    m.set_defaults(func=cmd_monitor)

    p = sub.add_parser("probe", help="remaining useful life from frozen latents (RMSE, PHM08)")
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
    p.add_argument("--train", required=True, help="run-to-failure units to fit the probe on")
    p.add_argument("--test", required=True, help="units that end before failure")
    p.add_argument("--test-rul", type=Path, required=True, help="true RUL per test unit")
    p.add_argument("--target", default="rul", help="rul")
    p.add_argument("--cap", type=float, default=125.0, help="RUL cap (standard: 125)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _column_flags(p)
    p.set_defaults(func=cmd_probe)
