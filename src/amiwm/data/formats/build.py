"""Turn parsed rows into a SensorTable: missing-value policy, grouping, time order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from amiwm.data.formats.columns import Plan, check_missing
from amiwm.data.formats.table import SensorTable
from amiwm.errors import AmiError


def group_ids(keys: Sequence[Any]) -> np.ndarray:
    """int64 ids when every key is an int, else str ids."""
    if all(type(k) is int for k in keys):
        return np.asarray(keys, np.int64)
    return np.asarray([str(k) for k in keys], dtype=str)


def assemble(
    plan: Plan,
    keys: list[Any],
    values: np.ndarray,
    lines: np.ndarray,
    missing: str = "error",
) -> SensorTable:
    """Build the table from per-row group keys (None = missing), values and line numbers.

    ``values`` is (N, len(plan.cols)) float64 with NaN for missing cells (no Inf).
    """
    check_missing(missing)
    src, notes = plan.source, list(plan.notes)
    if not keys:
        raise AmiError(f"{src}: no data rows")
    gmiss = np.fromiter((k is None for k in keys), bool, len(keys))
    nan = np.isnan(values)
    bad = gmiss | nan.any(1)
    hard = (gmiss | nan[:, 0]) if plan.time is not None else gmiss  # never filled
    first = bad if missing == "error" else hard if missing == "ffill" else None
    if first is not None and first.any():
        r = int(np.argmax(first))
        col = _first_missing(plan, nan[r], bool(gmiss[r]), hard_only=missing == "ffill")
        what = "group id" if col == plan.group else "time" if col == plan.time else "value"
        hint = " (ffill fills only actions and sensors)" if missing == "ffill" else ""
        raise AmiError(
            f"{plan.here(int(lines[r]), col)}: missing {what}{hint}; choose missing='ffill' or "
            "'drop' (--missing) to accept gaps"
        )
    if missing == "drop" and bad.any():
        r = int(np.argmax(bad))
        col = _first_missing(plan, nan[r], bool(gmiss[r]), hard_only=False)
        keep = ~bad
        if not keep.any():
            raise AmiError(f"{src}: every row has a missing value; nothing left to read")
        notes.append(
            f"dropped {int(bad.sum())} rows with missing values "
            f"(first at row {int(lines[r])}, column {plan.names[col]})"
        )
        keys = [k for k, ok in zip(keys, keep, strict=True) if ok]
        values, lines, nan = values[keep], lines[keep], nan[keep]
    group = group_ids(keys)
    _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    grank = rank[inverse]
    if plan.time is None:
        order = np.argsort(grank, kind="stable")
        counts = np.bincount(grank)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        time = (np.arange(len(order)) - np.repeat(starts, counts)).astype(np.float64)
        if np.any(order != np.arange(len(order))):
            notes.append("made groups contiguous (rows keep their order within a group)")
    else:
        time = values[:, 0]
        order = np.lexsort((time, grank))
        unsorted = _unsorted_groups(grank, time)
        if unsorted:
            plural = "s" if unsorted > 1 else ""
            notes.append(f"sorted rows by time within {unsorted} group{plural}")
        elif np.any(order != np.arange(len(order))):
            notes.append("made groups contiguous")
        time = time[order]
        same = np.flatnonzero((np.diff(grank[order]) == 0) & (np.diff(time) <= 0))
        if same.size:
            a, b = order[same[0]], order[same[0] + 1]
            raise AmiError(
                f"{plan.here(int(lines[b]), plan.time)}: duplicate time {time[same[0] + 1]:g} "
                f"in group {group[b : b + 1].tolist()[0]!r} (also at row {int(lines[a])})"
            )
    values, nan, lines = values[order], nan[order], lines[order]
    group, grank = group[order], grank[order]
    if missing == "ffill" and nan.any():
        notes.append(_ffill(plan, values, nan, grank, lines, group))
    na, off = len(plan.actions), plan.time_offset
    return SensorTable(
        source=src,
        group=group,
        time=time,
        sensors=values[:, off + na :],
        channels=plan.channels,
        actions=values[:, off : off + na] if na else None,
        action_names=plan.action_names,
        line=lines,
        notes=notes,
    )


def _first_missing(plan: Plan, nan_row: np.ndarray, group_missing: bool, hard_only: bool) -> int:
    """The leftmost (in file order) missing column of one row."""
    cols = [plan.cols[k] for k in np.flatnonzero(nan_row)]
    if hard_only:
        cols = [c for c in cols if c == plan.time]
    if group_missing:
        cols.append(plan.group)
    return min(cols)


def _unsorted_groups(grank: np.ndarray, time: np.ndarray) -> int:
    """How many groups have time going down somewhere in file order."""
    order = np.argsort(grank, kind="stable")
    g, t = grank[order], time[order]
    down = (np.diff(g) == 0) & (np.diff(t) < 0)
    return len(np.unique(g[1:][down])) if down.any() else 0


def _ffill(
    plan: Plan,
    values: np.ndarray,
    nan: np.ndarray,
    grank: np.ndarray,
    lines: np.ndarray,
    group: np.ndarray,
) -> str:
    """Forward-fill NaNs within each group, in place; a gap at a group's start is an error."""
    n = len(values)
    idx = np.arange(n)
    start_of = np.maximum.accumulate(np.where(np.r_[True, np.diff(grank) != 0], idx, 0))
    filled = []
    for k in np.flatnonzero(nan.any(0)):
        src = np.maximum.accumulate(np.where(nan[:, k], -1, idx))
        lead = np.flatnonzero(src < start_of)
        if lead.size:
            r, col = int(lead[0]), plan.cols[k]
            raise AmiError(
                f"{plan.here(int(lines[r]), col)}: missing value at the start of group "
                f"{group[r : r + 1].tolist()[0]!r}; nothing earlier to forward-fill from "
                "(use missing='drop')"
            )
        values[:, k] = values[src, k]
        filled.append(f"{plan.names[plan.cols[k]]}: {int(nan[:, k].sum())}")
    return f"forward-filled {int(nan.sum())} missing cells ({', '.join(filled)})"
