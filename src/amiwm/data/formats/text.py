"""Text sources (CSV with a header, whitespace-separated C-MAPSS): opening, plans, records."""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from amiwm.data.formats import cmapss
from amiwm.data.formats.build import assemble
from amiwm.data.formats.columns import (
    BadCell,
    Plan,
    header_names,
    numeric_cells,
    resolve,
    where,
)
from amiwm.data.formats.table import SensorTable
from amiwm.errors import AmiError

Records = Iterator[tuple[int, list[str] | None]]  # (line, fields); None = unreadable record
_BLOCK = 1 << 16


def source_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


@contextlib.contextmanager
def open_text(path: str) -> Iterator[TextIO]:
    """The file (UTF-8, bad bytes replaced) or stdin for ``-``; missing files are AmiErrors."""
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # stdin replaced by a text stream (tests, embedding)
            yield sys.stdin
            return
        f = io.TextIOWrapper(buffer, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield f
        finally:
            f.detach()  # leave the process's stdin open
        return
    p = Path(path)
    if not p.exists():
        raise AmiError(f"{path}: no such file")
    if p.is_dir():
        raise AmiError(f"{path}: is a directory, not a data file")
    try:
        f = open(p, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115
    except OSError as err:
        raise AmiError(f"{path}: cannot read: {err.strerror or err}") from None
    with f:
        yield f


def _whitespace_records(f: TextIO) -> Records:
    for n, line in enumerate(f, 1):
        parts = line.split()
        if parts:
            yield n, parts


def _csv_records(reader: Any) -> Records:
    while True:
        try:
            parts = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield reader.line_num, None
            continue
        if parts:
            yield reader.line_num, parts


def text_plan(kind: str, f: TextIO, source: str, **opts: Any) -> tuple[Plan, Records]:
    """Resolve the columns of an open text source; returns the plan and its data records."""
    if kind == "cmapss":
        plan = resolve(
            source,
            list(cmapss.COLUMNS),
            [True] * len(cmapss.COLUMNS),
            header_line=None,
            **cmapss.defaults(**opts),
        )
        return plan, _whitespace_records(f)
    reader = csv.reader(f)
    try:
        header = next((row for row in reader if row), None)
    except csv.Error as err:
        raise AmiError(f"{where(source, reader.line_num)}: unreadable CSV header: {err}") from None
    if header is None:
        raise AmiError(f"{where(source, 1)}: empty file; expected a header row")
    header_line = reader.line_num
    names = header_names(header)
    records = _csv_records(reader)
    # default sensors are judged by the first data row; with sensor_cols given, do not wait
    # for it (a live stdin stream may not have sent it yet)
    first = next(records, None) if opts.get("sensor_cols") is None else None
    numeric = numeric_cells(None if first is None else first[1], len(names))
    plan = resolve(source, names, numeric, header_line=header_line, **opts)
    return plan, records if first is None else chain([first], records)


def unreadable(source: str, line: int) -> str:
    return f"{where(source, line)}: unreadable CSV record (bad quoting or a huge field)"


def collect(plan: Plan, records: Records) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Group keys, values (NaN = missing) and lines of every record; bad rows are AmiErrors."""
    keys: list[Any] = []
    lines: list[int] = []
    rows: list[list[float]] = []
    blocks: list[np.ndarray] = []
    parse = plan.parse
    for line, parts in records:
        if parts is None:
            raise AmiError(unreadable(plan.source, line))
        try:
            key, vals, _ = parse(parts, line)
        except BadCell as err:
            raise AmiError(str(err)) from None
        keys.append(key)
        rows.append(vals)
        lines.append(line)
        if len(rows) == _BLOCK:
            blocks.append(np.asarray(rows, np.float64))
            rows = []
    blocks.append(np.asarray(rows, np.float64).reshape(len(rows), len(plan.cols)))
    return keys, np.concatenate(blocks), np.asarray(lines, np.int64)


def read_text(kind: str, path: str, missing: str = "error", **opts: Any) -> SensorTable:
    """A CSV or C-MAPSS file (or stdin for ``-``) as a SensorTable."""
    source = source_name(path)
    with open_text(path) as f:
        plan, records = text_plan(kind, f, source, **opts)
        try:
            keys, values, lines = collect(plan, records)
        except OSError as err:
            raise AmiError(f"{source}: read failed: {err}") from None
        except UnicodeError as err:  # stdin with a strict codec
            raise AmiError(f"{source}: not valid text: {err}") from None
    return assemble(plan, keys, values, lines, missing)
