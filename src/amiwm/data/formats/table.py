"""SensorTable: rows of sensor (and action) readings grouped into units/episodes, plus helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.data.formats.columns import listing
from amiwm.errors import AmiError

_ATTR_BYTES = 48_000  # HDF5 keeps attributes in the object header (64 KiB at most)


@dataclass
class SensorTable:
    """Sensor rows of one file; the readers return groups contiguous, time-sorted within a group.

    ``group`` (N,) int or str ids, ``time`` (N,) float64, ``sensors`` (N, D) float32 named by
    ``channels``, ``actions`` (N, A) float32 named by ``action_names`` or None, ``line`` (N,)
    1-based line (CSV/C-MAPSS) or row (Parquet) of each row in ``source``; ``notes`` say what
    the reader changed (rows dropped, cells filled, rows reordered, columns skipped).
    """

    source: str
    group: np.ndarray
    time: np.ndarray
    sensors: np.ndarray
    channels: list[str]
    actions: np.ndarray | None
    action_names: list[str]
    line: np.ndarray
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.group = np.asarray(self.group)
        self.time = np.asarray(self.time, np.float64)
        self.sensors = np.asarray(self.sensors, np.float32)
        self.line = np.asarray(self.line, np.int64)
        self.channels = list(self.channels)
        self.action_names = list(self.action_names)
        n = len(self.group)
        if self.sensors.ndim != 2 or self.sensors.shape[1] != len(self.channels):
            raise AmiError(f"{self.source}: sensors {self.sensors.shape} do not match channels")
        if self.actions is not None:
            self.actions = np.asarray(self.actions, np.float32)
            if self.actions.ndim != 2 or self.actions.shape[1] != len(self.action_names):
                raise AmiError(f"{self.source}: actions {self.actions.shape} do not match names")
        elif self.action_names:
            raise AmiError(f"{self.source}: action_names given without actions")
        arrays = [self.time, self.sensors, self.line]
        if self.actions is not None:
            arrays.append(self.actions)
        if self.group.ndim != 1 or any(len(a) != n for a in arrays):
            raise AmiError(f"{self.source}: group, time, sensors, actions and line differ in rows")

    def __len__(self) -> int:
        return len(self.group)

    def groups(self) -> list[Any]:
        """Group ids (Python ints or strs) in order of first appearance."""
        _, first = np.unique(self.group, return_index=True)
        return self.group[np.sort(first)].tolist()

    def group_rows(self) -> list[np.ndarray]:
        """Row indices of each group (order of ``groups()``), sorted by time."""
        _, first, inverse = np.unique(self.group, return_index=True, return_inverse=True)
        rank = np.empty(len(first), np.int64)
        rank[np.argsort(first)] = np.arange(len(first))
        order = np.lexsort((self.time, rank[inverse]))
        counts = np.bincount(rank[inverse], minlength=len(first))
        return np.split(order, np.cumsum(counts)[:-1])

    def take(self, rows: np.ndarray, notes: list[str] | None = None) -> SensorTable:
        """A new table of the given rows (in that order)."""
        return replace(
            self,
            group=self.group[rows],
            time=self.time[rows],
            sensors=self.sensors[rows],
            actions=None if self.actions is None else self.actions[rows],
            line=self.line[rows],
            notes=list(self.notes if notes is None else notes),
        )

    def select(self, groups: Iterable[Any]) -> SensorTable:
        """The rows of ``groups``, in the order given (each group time-sorted)."""
        wanted = list(groups)
        rows = dict(zip(self.groups(), self.group_rows(), strict=True))
        if len(set(wanted)) != len(wanted):
            raise AmiError(f"{self.source}: select() was given a group id more than once")
        missing = [g for g in wanted if g not in rows]
        if missing:
            raise AmiError(f"{self.source}: no group {missing[0]!r} (it has {len(rows)} groups)")
        if not wanted:
            raise AmiError(f"{self.source}: select() needs at least one group")
        return self.take(np.concatenate([rows[g] for g in wanted]))

    def without_channels(self, names: Iterable[str]) -> SensorTable:
        """A copy without the named sensor channels."""
        drop = set(names)
        unknown = sorted(drop - set(self.channels))
        if unknown:
            raise AmiError(
                f"{self.source}: no channel {unknown[0]!r}; channels: {listing(self.channels)}"
            )
        keep = [j for j, c in enumerate(self.channels) if c not in drop]
        if not keep:
            raise AmiError(f"{self.source}: removing {listing(sorted(drop))} leaves no channels")
        return replace(
            self,
            sensors=self.sensors[:, keep],
            channels=[self.channels[j] for j in keep],
            notes=list(self.notes),
        )

    def to_store(
        self,
        path: str | os.PathLike[str],
        attrs: Mapping[str, Any] | None = None,
        *,
        overwrite: bool = False,
        next_actions: bool = False,
        compression: str | None = "lzf",
    ) -> Path:
        """Write an amiwm episode store (modality "sensors"), one episode per group, atomically.

        Episodes follow ``groups()`` order with rows sorted by time. The action stored between
        rows t and t+1 is the table's action at row t (``next_actions=False``) or at row t+1
        (``next_actions=True``: inputs such as operating conditions that hold while the next
        reading is taken); the last action of each episode is the store's zero padding.
        Root attributes: ``channels``, ``action_names``, ``source``, ``groups`` (omitted when
        too many to fit an HDF5 attribute), ``action_alignment``, ``notes`` and ``attrs``.
        """
        from amiwm.data.store import EpisodeWriter

        ids, rows = self.groups(), self.group_rows()
        for rr in rows:
            t = self.time[rr]
            dup = np.flatnonzero(np.diff(t) <= 0)
            if dup.size:
                a, b = rr[dup[0]], rr[dup[0] + 1]
                raise AmiError(
                    f"{self.source}: row {self.line[b]}: duplicate time {t[dup[0] + 1]:g} in "
                    f"group {self.group[b : b + 1].tolist()[0]!r} (also at row {self.line[a]})"
                )
        meta: dict[str, Any] = {
            "channels": self.channels,
            "action_names": self.action_names,
            "source": self.source,
            "num_groups": len(ids),
            "action_alignment": "next_row" if next_actions else "same_row",
        }
        if len(json.dumps(ids)) <= _ATTR_BYTES:
            meta["groups"] = ids
        if self.notes and len(json.dumps(self.notes)) <= _ATTR_BYTES:
            meta["notes"] = self.notes
        meta.update(attrs or {})
        with EpisodeWriter(
            path,
            obs_shape=(len(self.channels),),
            obs_dtype=np.float32,
            action_dim=None if self.actions is None else len(self.action_names),
            attrs=meta,
            compression=compression,
            overwrite=overwrite,
        ) as writer:
            for rr in rows:
                acts = None
                if self.actions is not None:
                    acts = self.actions[rr[1:]] if next_actions else self.actions[rr[:-1]]
                writer.add_episode(self.sensors[rr], acts)
        return Path(path)


def drop_constant(
    table: SensorTable, rel_tol: float = 1e-6, step_tol: float = 0.2
) -> tuple[SensorTable, list[str]]:
    """Drop channels that carry (almost) no signal; returns the new table and dropped names.

    A channel is constant when its std is at most ``rel_tol`` times its largest magnitude, and
    near-constant when its std is under ``step_tol`` times its resolution (the smallest gap
    between its distinct values): it sits on one value except for rare one-step flickers (with
    0.2, a two-valued channel whose minority value is on fewer than ~4% of rows).
    On C-MAPSS FD001 this drops s1, s5, s6, s10, s16, s18 and s19.
    """
    x = table.sensors.astype(np.float64)
    std = x.std(0)
    scale = np.abs(x).max(0)
    dropped = []
    for j, name in enumerate(table.channels):
        if std[j] <= rel_tol * scale[j]:
            dropped.append(name)
            continue
        values = np.unique(x[:, j])
        if len(values) > 1 and std[j] < step_tol * np.diff(values).min():
            dropped.append(name)
    if not dropped:
        return table, []
    out = table.without_channels(dropped)
    out.notes.append("dropped constant channels: " + ", ".join(dropped))
    return out, dropped


def row_rul(table: SensorTable) -> np.ndarray:
    """Remaining life of every row: its group's last time minus its time (run-to-failure data)."""
    out = np.empty(len(table), np.float64)
    for rows in table.group_rows():
        out[rows] = table.time[rows[-1]] - table.time[rows]
    return out


def cut_units(
    table: SensorTable, seed: int, min_cycles: int = 30
) -> tuple[SensorTable, np.ndarray]:
    """The C-MAPSS test protocol on run-to-failure units: truncate each at a random cycle.

    For a unit of n rows the last kept row is drawn uniformly from rows ``min_cycles`` .. n - 1
    (1-based), so at least ``min_cycles`` rows stay and at least one is removed. Returns the
    truncated table and, per kept unit in ``groups()`` order, the true RUL (last time minus
    the time at the cut). Units with n <= min_cycles rows are left out (noted).
    """
    if min_cycles < 1:
        raise AmiError(f"min_cycles must be >= 1, got {min_cycles}")
    rng = np.random.default_rng(seed)
    keep, rul, short = [], [], []
    for gid, rows in zip(table.groups(), table.group_rows(), strict=True):
        n = len(rows)
        if n <= min_cycles:
            short.append(gid)
            continue
        cut = int(rng.integers(min_cycles - 1, n - 1))  # 0-based index of the last kept row
        keep.append(rows[: cut + 1])
        rul.append(table.time[rows[-1]] - table.time[rows[cut]])
    if not keep:
        raise AmiError(f"{table.source}: no unit has more than min_cycles={min_cycles} rows")
    notes = [*table.notes, f"cut {len(keep)} units at random cycles (seed {seed})"]
    if short:
        notes.append(f"left out {len(short)} units with <= {min_cycles} rows: {short[:10]}")
    return table.take(np.concatenate(keep), notes), np.asarray(rul, np.float64)
