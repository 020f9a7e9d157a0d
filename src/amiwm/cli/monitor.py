"""`ami-cli monitor`: per-row surprise and alarms on a sensor stream (file or stdin)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from amiwm.cli import Parser, names
from amiwm.errors import AmiError


def _new_file(path: Path | None, overwrite: bool) -> None:
    if path is not None and path.exists() and not overwrite:
        raise AmiError(f"{path} exists; pass --overwrite to replace it")


def cmd_monitor(args: argparse.Namespace) -> None:
    import torch

    from amiwm.data.formats.tep import describe
    from amiwm.monitoring.watch import Watch
    from amiwm.report import plot_monitor
    from amiwm.report_monitor import MonitorPage, check_page_path

    for path in (args.out, args.plot):
        _new_file(path, args.overwrite)
    if args.html is not None:
        check_page_path(args.html, args.overwrite)
    if args.threads < 1:
        raise AmiError(f"--threads must be >= 1, got {args.threads}")
    if args.html_refresh <= 0:
        raise AmiError(f"--html-refresh must be > 0 seconds, got {args.html_refresh}")
    torch.set_num_threads(args.threads)
    watch = Watch(
        args.checkpoint,
        args.data,
        fmt=args.format,
        calibrate=args.calibrate,
        false_alarm_rate=args.false_alarm_rate,
        threshold=args.threshold,
        smoothing=args.smoothing,
        chunk=args.chunk,
        **column_options(args),
    )
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    rate = args.false_alarm_rate
    say(f"threshold {watch.threshold:.4g} (false-alarm rate {rate:g}, {watch.basis})")
    page = None
    if args.html is not None:
        title = f"amiwm monitor: {args.data} ({args.checkpoint})"
        page = MonitorPage.for_watch(
            args.html, watch, title=title, refresh_s=args.html_refresh, overwrite=args.overwrite
        )
        page.start()

    def num(v: float) -> str:
        return "" if math.isnan(v) else f"{v:.6g}"

    keep: dict[Any, list] = {}
    counts = {"rows": 0, "bad": 0, "alarm": 0}
    alarmed: set = set()
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115 (closed below)
    try:
        out.write("group,time,surprise,residual,score,alarm,suspect,top3,status\n")
        for r in watch:
            counts["rows"] += 1
            if r.bad is not None:
                counts["bad"] += 1
                print(f"warning: skipped {r.bad.message}", file=sys.stderr)
                out.write(f",,,,,,,,{r.status}\n")
                if page is not None:
                    page.add(r)
                continue
            counts["alarm"] += r.alarm
            if r.alarm and r.group not in alarmed:
                alarmed.add(r.group)
                who = f" (worst explained: {r.suspect})" if r.suspect else ""
                if r.top:
                    who = f"; departing most: {', '.join(describe(n) for n in r.top)}"
                say(f"ALARM group {r.group} at time {r.time:g}: score {r.score:.4g}{who}")
            out.write(
                f"{r.group},{r.time:g},{num(r.surprise)},{num(r.residual)},{num(r.score)},"
                f"{int(r.alarm)},{r.suspect},{';'.join(r.top)},{r.status}\n"
            )
            if args.plot is not None:
                keep.setdefault(r.group, []).append(
                    (r.time, r.sensors, r.surprise, r.score, r.alarm)
                )
            if page is not None:
                page.add(r)
            if watch.live:
                out.flush()
    except BaseException:
        if page is not None:
            page.finish(stopped=True)
        raise
    finally:
        if out is not sys.stdout:
            out.close()
    if page is not None:
        page.finish()
    if args.plot is not None and keep:
        group = _plot_group(args.plot_group, keep, alarmed)
        plot_monitor(
            args.plot, keep[group], watch.stream.channels, watch.threshold, f"group {group}"
        )
    groups = ", ".join(map(str, sorted(alarmed, key=str))) or "none"
    say(f"{counts['rows']} rows, {counts['bad']} bad, {counts['alarm']} in alarm; alarms: {groups}")


def _plot_group(wanted: str | None, keep: dict, alarmed: set) -> Any:
    if wanted is None:
        return next((g for g in keep if g in alarmed), next(iter(keep)))
    for g in keep:
        if str(g) == wanted:
            return g
    raise AmiError(f"--plot-group {wanted} is not in the data")


def column_options(args: argparse.Namespace) -> dict[str, Any]:
    """The column flags as given (None: not given; the checkpoint's apply)."""
    keys = ("time_col", "group_col", "sensor_cols", "action_cols", "missing")
    return {k: getattr(args, k) for k in keys}


def column_flags(q: Parser) -> None:
    q.add_argument("--time-col", help="time column (default: as trained; C-MAPSS: cycle)")
    q.add_argument("--group-col", help="unit/episode column (default: as trained)")
    q.add_argument(
        "--sensor-cols", type=names, help="comma-separated sensor columns (default: as trained)"
    )
    q.add_argument(
        "--action-cols", type=names, help="comma-separated action columns (default: as trained)"
    )
    q.add_argument("--missing", help="missing cells: error | ffill | drop")


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("monitor", help="stream sensor rows: per-step surprise and alarms")
    m.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
    m.add_argument(
        "--data", required=True, help="FILE, cmapss:FILE, csv:FILE, parquet:FILE, tep:PATH or -"
    )
    m.add_argument("--format", help="cmapss | csv | parquet | tep (for - or an unknown suffix)")
    m.add_argument("--out", type=Path, help="CSV: group,time,surprise,residual,score,alarm,...")
    m.add_argument("--plot", type=Path, help="PNG: sensors, surprise and alarms over time")
    m.add_argument("--plot-group", help="group to plot (default: first in alarm)")
    m.add_argument(
        "--html", type=Path, help="self-contained HTML page per run: traces, score, alarms"
    )
    m.add_argument(
        "--html-refresh", type=float, default=5.0, help="seconds between page rewrites (running)"
    )
    m.add_argument(
        "--false-alarm-rate",
        type=float,
        default=0.01,
        help="share of rows in alarm that no normal calibration run exceeds",
    )
    m.add_argument("--threshold", type=float, help="alarm threshold instead of the calibrated one")
    m.add_argument("--calibrate", help="normal-operation data to calibrate the threshold on")
    m.add_argument("--smoothing", type=float, default=0.2, help="EWMA weight of a new row")
    m.add_argument("--chunk", type=int, default=512, help="rows per model call")
    m.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: steady next to other work)"
    )
    m.add_argument("--overwrite", action="store_true", help="replace existing --out/--plot/--html")
    m.add_argument("--quiet", action="store_true")
    column_flags(m)
    m.set_defaults(func=cmd_monitor)
