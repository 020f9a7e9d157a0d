"""Parquet sources via pyarrow (optional extra ``amiwm[parquet]``); rows are numbered from 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.data.formats.build import assemble
from amiwm.data.formats.columns import Plan, group_key, resolve, where
from amiwm.data.formats.parquet_lists import (
    element,
    expand_names,
    expand_request,
    list_values,
    list_widths,
)
from amiwm.data.formats.table import SensorTable
from amiwm.errors import AmiError

_BATCH = 1 << 16
_SECONDS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise AmiError("reading Parquet needs pyarrow: pip install 'amiwm[parquet]'") from None
    return pa, pq


def open_parquet(path: str) -> Any:
    """A ``pyarrow.parquet.ParquetFile``; unreadable files are AmiErrors."""
    if path == "-":
        raise AmiError("Parquet cannot be read from stdin; give a file path")
    pa, pq = _pyarrow()
    p = Path(path)
    if not p.exists():
        raise AmiError(f"{path}: no such file")
    if p.is_dir():
        raise AmiError(f"{path}: is a directory, not a data file")
    try:
        return pq.ParquetFile(p)
    except (pa.ArrowException, OSError) as err:
        raise AmiError(f"{path}: not a readable Parquet file: {err}") from None


def _numeric(pa: Any, t: Any) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def parquet_plan(pf: Any, source: str, **opts: Any) -> Plan:
    """Resolve the columns of a Parquet file; value columns must be numeric (time: or dates)."""
    pa, _ = _pyarrow()
    schema = pf.schema_arrow
    widths = list_widths(pa, pf)  # list columns become one channel per element
    names, numeric = [], []
    for name, t in zip(schema.names, schema.types, strict=True):
        each = expand_names([name], widths)
        names += each
        numeric += [name in widths or _numeric(pa, t)] * len(each)
    for key in ("action_cols", "sensor_cols"):
        opts[key] = expand_request(opts.get(key), widths)
    plan = resolve(source, names, numeric, header_line=None, **opts)
    for c in plan.cols if plan.group is None else [*plan.cols, plan.group]:
        if element(names[c], widths) is not None:
            if c in (plan.time, plan.group):
                raise AmiError(
                    f"{where(source, None, names[c])}: a time or group column "
                    "cannot be a list element"
                )
            continue
        t = schema.field(names[c]).type
        if c == plan.group:
            continue
        ok = _numeric(pa, t) or pa.types.is_boolean(t)
        if c == plan.time:
            ok = ok or pa.types.is_timestamp(t)
        if not ok:
            raise AmiError(
                f"{where(source, None, names[c])}: has type {t}; time, action and sensor "
                "columns must be numeric (or lists of numbers of one length)"
            )
    return plan


def _floats(pa: Any, column: Any) -> np.ndarray:
    t = column.type
    if pa.types.is_timestamp(t):
        ticks = column.cast(pa.int64()).cast(pa.float64())
        return ticks.to_numpy(zero_copy_only=False) / _SECONDS[t.unit]
    return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _key(value: Any) -> Any:
    if value is None or isinstance(value, int | str):
        return group_key(value) if isinstance(value, str) else value
    if isinstance(value, float):
        if value != value:
            return None
        return int(value) if value.is_integer() else str(value)
    return str(value)


def batches(pf: Any, plan: Plan) -> Iterator[tuple[int, list[Any], np.ndarray]]:
    """(first row number, group keys, values with NaN for nulls) per record batch."""
    pa, _ = _pyarrow()
    widths = list_widths(pa, pf)
    wanted = sorted(set(plan.cols) | ({plan.group} if plan.group is not None else set()))
    parts = {c: element(plan.names[c], widths) for c in wanted}
    names = list(dict.fromkeys(p[0] if p else plan.names[c] for c, p in parts.items()))
    row = 1
    try:
        for batch in pf.iter_batches(batch_size=_BATCH, columns=names):
            n = batch.num_rows
            if plan.group is None:
                keys: list[Any] = [0] * n
            else:
                keys = [_key(v) for v in batch.column(plan.names[plan.group]).to_pylist()]
            values = np.empty((n, len(plan.cols)), np.float64)
            lists: dict[str, np.ndarray] = {}
            for k, c in enumerate(plan.cols):
                part = parts[c]
                if part is None:
                    values[:, k] = _floats(pa, batch.column(plan.names[c]))
                    continue
                if part[0] not in lists:
                    col = batch.column(part[0])
                    lists[part[0]] = list_values(
                        pa, col, widths[part[0]], plan.source, row, part[0]
                    )
                values[:, k] = lists[part[0]][:, part[1]]
            yield row, keys, values
            row += n
    except (pa.ArrowException, OSError) as err:
        raise AmiError(f"{plan.source}: reading Parquet failed near row {row}: {err}") from None


def read_parquet(path: str, missing: str = "error", **opts: Any) -> SensorTable:
    """A Parquet file as a SensorTable (Inf anywhere is an error naming its row and column)."""
    pf = open_parquet(path)
    plan = parquet_plan(pf, path, **opts)
    keys: list[Any] = []
    blocks = []
    for first, batch_keys, values in batches(pf, plan):
        inf = np.isinf(values)
        if inf.any():
            r, k = np.argwhere(inf)[0]
            raise AmiError(f"{plan.here(first + int(r), plan.cols[k])}: infinite value")
        keys.extend(batch_keys)
        blocks.append(values)
    if not blocks:
        raise AmiError(f"{path}: no data rows")
    values = np.concatenate(blocks)
    return assemble(plan, keys, values, np.arange(1, len(values) + 1), missing)
