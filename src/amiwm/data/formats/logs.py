"""Per-episode action and state logs beside videos or image folders: .csv, .parquet, .npy, .jsonl.

One vector per frame. CSV: an optional header row; columns named like a frame counter
(frame, frame_index, index, step, t, time, timestamp) are skipped, the others form the vector.
Parquet: an ``action`` (or ``state``) list column, else every numeric column but the counters.
JSONL: each line a number, a list, or an object with an ``action``/``state``/``value`` list.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from amiwm.data.formats.episodes import as_matrix
from amiwm.errors import AmiError

LOG_SUFFIXES = (".csv", ".parquet", ".npy", ".jsonl")
COUNTERS = {"frame", "frame_index", "index", "step", "t", "time", "timestamp"}


def find_log(folder: Path, stem: str) -> Path | None:
    """``folder/stem.{csv,parquet,npy,jsonl}``, the first that exists."""
    for suffix in LOG_SUFFIXES:
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


def _float(cell: str) -> float:
    cell = cell.strip()
    return float(cell) if cell else float("nan")


def read_log(path: Path, key: str = "action") -> np.ndarray:
    """The (T, dim) float32 vectors of one log file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return as_matrix(np.load(path, allow_pickle=False), str(path))
        if suffix == ".jsonl":
            return _jsonl(path, key)
        if suffix == ".parquet":
            return _parquet(path, key)
        if suffix == ".csv":
            return _csv(path)
    except (OSError, ValueError) as err:
        raise AmiError(f"{path}: unreadable log ({str(err).splitlines()[0]})") from err
    raise AmiError(f"{path}: unknown log type; use one of {', '.join(LOG_SUFFIXES)}")


def _csv(path: Path) -> np.ndarray:
    with path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    if not rows:
        raise AmiError(f"{path}: empty log")
    head = rows[0]
    try:
        [_float(c) for c in head]
        names = None
    except ValueError:
        names, rows = [c.strip().lower() for c in head], rows[1:]
    keep = [i for i, n in enumerate(names or head) if names is None or n not in COUNTERS]
    if not keep:
        raise AmiError(f"{path}: no value columns (only frame counters)")
    out = np.empty((len(rows), len(keep)), np.float64)
    for r, row in enumerate(rows):
        if len(row) != len(head):
            raise AmiError(
                f"{path}: line {r + 1 + (names is not None)} has {len(row)} cells, "
                f"the first {len(head)}"
            )
        try:
            out[r] = [_float(row[i]) for i in keep]
        except ValueError as err:
            raise AmiError(f"{path}: line {r + 1 + (names is not None)}: {err}") from err
    if not len(out):
        raise AmiError(f"{path}: no data rows")
    return as_matrix(out, str(path))


def _jsonl(path: Path, key: str) -> np.ndarray:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        v = json.loads(line)
        if isinstance(v, dict):
            v = next((v[k] for k in (key, "value", "action", "state") if k in v), None)
            if v is None:
                raise AmiError(f"{path}: line {n} has no {key!r} or 'value' entry")
        rows.append(np.atleast_1d(np.asarray(v, dtype=np.float64)))
    if not rows:
        raise AmiError(f"{path}: empty log")
    if len({r.shape for r in rows}) > 1:
        raise AmiError(f"{path}: lines hold vectors of different lengths")
    return as_matrix(np.stack(rows), str(path))


def _parquet(path: Path, key: str) -> np.ndarray:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise AmiError("parquet logs need pyarrow: pip install 'amiwm[robot]'") from err
    try:
        table = pq.read_table(path)
    except Exception as err:
        raise AmiError(f"{path}: unreadable parquet ({str(err).splitlines()[0]})") from err
    for name in (key, "action", "state", "observation.state"):
        if name in table.column_names:
            col = table.column(name).combine_chunks()
            if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type):
                flat = col.flatten().to_numpy(zero_copy_only=False)
                if len(col) and flat.size % len(col):
                    raise AmiError(f"{path}: column {name} holds vectors of different lengths")
                return as_matrix(flat.reshape(len(col), -1), str(path))
            return as_matrix(col.to_numpy(zero_copy_only=False), str(path))
    cols = [
        c
        for c, f in zip(table.column_names, table.schema, strict=True)
        if c.lower() not in COUNTERS
        and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]
    if not cols:
        raise AmiError(f"{path}: no numeric value columns")
    return as_matrix(np.column_stack([table.column(c).to_numpy() for c in cols]), str(path))
