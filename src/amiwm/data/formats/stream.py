"""Row-by-row reading for live monitoring: a bad row is reported and the stream goes on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np

from amiwm.data.formats.columns import BadCell, Plan, check_missing
from amiwm.data.formats.reader import TEP_KINDS, read_sensors
from amiwm.data.formats.table import SensorTable
from amiwm.data.formats.text import Records, open_text, source_name, text_plan, unreadable
from amiwm.data.spec import DatasetSpec


class Row(NamedTuple):
    """One good row: sensors (D,) and actions (A,) float32 (views of one small array)."""

    line: int
    group: Any
    time: float
    sensors: np.ndarray
    actions: np.ndarray | None


class BadRow(NamedTuple):
    """A row that was skipped; ``message`` is ``FILE: row R, column C: what is wrong``."""

    line: int
    message: str


Parsed = tuple[int, Any, list[float], tuple[int, ...]]


class RowStream:
    """Iterator of Row / BadRow; ``channels`` and ``action_names`` name the value columns."""

    def __init__(self, plan: Plan, rows: Iterator[Row | BadRow], stack: contextlib.ExitStack):
        self.source = plan.source
        self.channels = plan.channels
        self.action_names = plan.action_names
        self.time_col = None if plan.time is None else plan.names[plan.time]
        self.group_col = None if plan.group is None else plan.names[plan.group]
        self._rows = rows
        self._stack = stack

    def __iter__(self) -> Iterator[Row | BadRow]:
        return self._rows  # the generator itself: no per-row method call in a for loop

    def __next__(self) -> Row | BadRow:
        return next(self._rows)

    def close(self) -> None:
        """Stop reading and release the file."""
        # a live pump thread may be inside the generator: it then ends with the process
        with contextlib.suppress(ValueError):
            self._rows.close()  # type: ignore[attr-defined]
        self._stack.close()

    def __enter__(self) -> RowStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def stream_rows(
    source: str,
    kind: str | None = None,
    *,
    time_col: str | None = None,
    group_col: str | None = None,
    action_cols: str | Sequence[str] | None = None,
    sensor_cols: str | Sequence[str] | None = None,
    missing: str = "error",
) -> RowStream:
    """Stream rows of a file or stdin (``-``) as Row / BadRow, never stopping at a bad row.

    ``source`` is a spec as for ``read_sensors`` (``kind`` may name the format instead of a
    prefix). Column options are those of ``read_sensors``; pass ``sensor_cols`` (and
    ``action_cols``) to get exactly the channels a checkpoint was trained on, in its order.
    Unreadable files and unknown columns raise AmiError here, before any row. A BadRow is
    yielded for a ragged row, non-numeric text, Inf, a missing cell (``missing="ffill"``
    fills sensor/action gaps from the group's previous good row instead), or a time that is
    not after the group's previous good row. Rows keep file order; time is float64 (row
    count within the group when there is no time column).
    """
    check_missing(missing)
    table = DatasetSpec.parse(source, kind).require_table()
    kind, path = table.kind, table.path
    opts = {
        "time_col": time_col,
        "group_col": group_col,
        "action_cols": action_cols,
        "sensor_cols": sensor_cols,
    }
    if kind in TEP_KINDS:  # whole files, small: read at once, then stream their rows
        return stream_table(read_sensors(f"{kind}:{path}", **opts))
    stack = contextlib.ExitStack()
    try:
        if kind == "parquet":
            from amiwm.data.formats.parquet import open_parquet, parquet_plan

            pf = open_parquet(path)
            stack.callback(lambda: getattr(pf, "close", lambda: None)())
            plan = parquet_plan(pf, path, **opts)
            parsed = _parquet_parsed(pf, plan)
        else:
            f = stack.enter_context(open_text(path))
            plan, records = text_plan(kind, f, source_name(path), **opts)
            parsed = _text_parsed(plan, records)
    except BaseException:
        stack.close()
        raise
    return RowStream(plan, _sequence(plan, parsed, missing, stack), stack)


def _text_parsed(plan: Plan, records: Records) -> Iterator[Parsed | BadRow]:
    parse = plan.parse
    for line, parts in records:
        if parts is None:
            yield BadRow(line, unreadable(plan.source, line))
            continue
        try:
            key, vals, miss = parse(parts, line)
        except BadCell as err:
            yield BadRow(line, str(err))
            continue
        yield line, key, vals, miss


def _parquet_parsed(pf: Any, plan: Plan) -> Iterator[Parsed | BadRow]:
    from amiwm.data.formats.parquet import batches

    for first, keys, values in batches(pf, plan):
        nan, inf = np.isnan(values), np.isinf(values)
        nan_rows, inf_rows = nan.any(1), inf.any(1)
        for i, (key, vals) in enumerate(zip(keys, values.tolist(), strict=True)):
            line = first + i
            if inf_rows[i]:
                col = plan.cols[int(np.argmax(inf[i]))]
                yield BadRow(line, f"{plan.here(line, col)}: infinite value")
                continue
            miss = [plan.cols[k] for k in np.flatnonzero(nan[i])] if nan_rows[i] else []
            if key is None:
                miss.append(plan.group)
            yield line, key, vals, tuple(sorted(miss))


def _gap(
    plan: Plan, line: int, key: Any, vals: list[float], miss: tuple[int, ...], missing: str, last
) -> str | None:
    """Fill ``vals`` in place (ffill) or say why the row must be skipped."""
    col = miss[0]
    if key is None:
        return f"{plan.here(line, plan.group)}: missing group id; row skipped"
    if plan.time in miss:
        return f"{plan.here(line, plan.time)}: missing time; row skipped"
    if missing != "ffill":
        return f"{plan.here(line, col)}: missing value; row skipped (missing={missing!r})"
    prev = last.get(key)
    if prev is None:
        return (
            f"{plan.here(line, col)}: missing value and no earlier good row in group {key!r} "
            "to forward-fill from; row skipped"
        )
    for c in miss:
        k = plan.pos[c]
        vals[k] = prev[k]
    return None


def _sequence(
    plan: Plan, parsed: Iterator[Parsed | BadRow], missing: str, stack: contextlib.ExitStack
) -> Iterator[Row | BadRow]:
    has_time = plan.time is not None
    na, off = len(plan.actions), plan.time_offset
    a1 = off + na
    last_time: dict[Any, float] = {}
    last_line: dict[Any, int] = {}
    last_vals: dict[Any, list[float]] = {}
    ffill = missing == "ffill"
    array, f32 = np.array, np.float32
    try:
        for item in parsed:
            if type(item) is BadRow:
                yield item
                continue
            line, key, vals, miss = item
            if miss:
                why = _gap(plan, line, key, vals, miss, missing, last_vals)
                if why is not None:
                    yield BadRow(line, why)
                    continue
            prev = last_time.get(key)
            if not has_time:
                t = 0.0 if prev is None else prev + 1.0
            else:
                t = vals[0]
                if prev is not None and t <= prev:
                    yield BadRow(
                        line,
                        f"{plan.here(line, plan.time)}: time {t:g} is not after {prev:g} "
                        f"(row {last_line[key]}) in group {key!r}; row skipped",
                    )
                    continue
            last_time[key] = t
            last_line[key] = line
            if ffill:
                last_vals[key] = vals
            arr = array(vals, f32)
            yield Row(line, key, t, arr[a1:], arr[off:a1] if na else None)
    finally:
        stack.close()


def stream_table(table: SensorTable) -> RowStream:
    """A RowStream over the rows of a table read whole, group by group (TEP files)."""
    plan = SimpleNamespace(
        source=table.source,
        channels=table.channels,
        action_names=table.action_names,
        time=0,
        group=1,
        names=["sample", "file"],
    )

    def rows():  # noqa: ANN202
        acts = table.actions
        for rr in table.group_rows():
            for i in rr:
                a = None if acts is None else acts[i]
                yield Row(int(table.line[i]), str(table.group[i]), float(table.time[i]),
                          table.sensors[i], a)  # fmt: skip

    return RowStream(plan, rows(), contextlib.ExitStack())
