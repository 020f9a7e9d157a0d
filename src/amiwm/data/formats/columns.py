"""Column plans: which file columns hold the group, time, actions and sensors; row parsing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amiwm.errors import AmiError

MISSING_POLICIES = ("error", "ffill", "drop")
MISSING_TEXT = frozenset({"", "na", "nan", "n/a", "null", "none"})


class BadCell(Exception):
    """One unparseable row or cell; ``str()`` is the full one-line message."""


def where(source: str, row: int | None, column: str | None = None) -> str:
    """``FILE: row R, column C`` (either part left out when unknown)."""
    parts = [source]
    if row is not None:
        parts.append(f": row {row}")
    if column is not None:
        parts.append(f"{',' if row is not None else ':'} column {column}")
    return "".join(parts)


def listing(names: Sequence[str], limit: int = 12) -> str:
    """A short comma list of column names."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[: limit - 2]) + f", ..., {names[-1]} ({len(names)} columns)"


def name_list(value: str | Sequence[str] | None) -> list[str] | None:
    """Column names from a list or a comma-separated string (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def check_missing(missing: str) -> str:
    if missing not in MISSING_POLICIES:
        raise AmiError(f"unknown missing-value policy {missing!r}; use one of {MISSING_POLICIES}")
    return missing


def group_key(text: str) -> int | str | None:
    """A group id from its text: an int when it is one, else the stripped text; None if empty."""
    text = text.strip()
    if text.lower() in MISSING_TEXT:
        return None
    try:
        return int(text)
    except ValueError:
        return text


@dataclass
class Plan:
    """Resolved column roles of one file; ``cols`` are the numeric columns in value order.

    Values of a row are ``[time] + actions + sensors`` (time only when there is a time column).
    """

    source: str
    names: list[str]
    group: int | None
    time: int | None
    actions: list[int]
    sensors: list[int]
    header_line: int | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cols = ([] if self.time is None else [self.time]) + self.actions + self.sensors
        self.pos = {c: k for k, c in enumerate(self.cols)}
        self.width = len(self.names)
        self._keys: dict[str, Any] = {}

    @property
    def channels(self) -> list[str]:
        return [self.names[i] for i in self.sensors]

    @property
    def action_names(self) -> list[str]:
        return [self.names[i] for i in self.actions]

    @property
    def time_offset(self) -> int:
        return 0 if self.time is None else 1

    def here(self, line: int | None, col: int | None = None) -> str:
        return where(self.source, line, None if col is None else self.names[col])

    def parse(self, parts: list[str], line: int) -> tuple[Any, list[float], tuple[int, ...]]:
        """Group key, values (NaN where missing) and the missing file columns of one text row.

        Raises BadCell for a ragged row, non-numeric text or an infinite value.
        """
        if len(parts) != self.width:
            raise BadCell(self._ragged(len(parts), line))
        try:
            vals = [float(parts[i]) for i in self.cols]
        except ValueError:
            return self._slow(parts, line)
        total = sum(vals)
        if total - total != 0.0:  # NaN or Inf somewhere (or an overflowing sum)
            return self._slow(parts, line)
        if self.group is None:
            return 0, vals, ()
        raw = parts[self.group]
        key = self._keys.get(raw)
        if key is None:
            key = group_key(raw)
            if key is None:
                return None, vals, (self.group,)
            if len(self._keys) < 100_000:
                self._keys[raw] = key
        return key, vals, ()

    def _ragged(self, n: int, line: int) -> str:
        if n < self.width:
            return f"{self.here(line, n)}: missing; the row has {n} fields, expected {self.width}"
        return (
            f"{where(self.source, line, str(self.width + 1))}: extra field; the row has {n} "
            f"fields, expected {self.width}"
        )

    def _slow(self, parts: list[str], line: int) -> tuple[Any, list[float], tuple[int, ...]]:
        miss: list[int] = []
        key: Any = 0
        if self.group is not None:
            key = group_key(parts[self.group])
            if key is None:
                miss.append(self.group)
        vals: list[float] = []
        for i in self.cols:
            text = parts[i]
            try:
                v = float(text)
            except ValueError:
                if text.strip().lower() not in MISSING_TEXT:
                    shown = text if len(text) <= 40 else text[:37] + "..."
                    raise BadCell(f"{self.here(line, i)}: not a number: {shown!r}") from None
                v = math.nan
            if math.isnan(v):
                miss.append(i)
            elif math.isinf(v):
                raise BadCell(f"{self.here(line, i)}: infinite value {text.strip()!r}")
            vals.append(v)
        return key, vals, tuple(sorted(miss))


def resolve(
    source: str,
    names: list[str],
    numeric: Sequence[bool],
    *,
    header_line: int | None,
    time_col: str | None,
    group_col: str | None,
    action_cols: str | Sequence[str] | None,
    sensor_cols: str | Sequence[str] | None,
) -> Plan:
    """Map the requested column names onto ``names``; default sensors are the numeric rest.

    ``numeric[i]`` says whether column ``i`` may be a default sensor. Unnamed columns (empty
    header cells, e.g. a saved index) are never picked by default.
    """
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in index:
            raise AmiError(f"{where(source, header_line, name)}: appears twice in the header")
        index[name] = i
    used: dict[int, str] = {}

    def take(name: str, role: str) -> int:
        if name not in index:
            raise AmiError(
                f"{where(source, header_line, name)}: no such column (asked for as {role}); "
                f"the columns are: {listing(names)}"
            )
        i = index[name]
        if i in used:
            raise AmiError(f"{where(source, header_line, name)}: used as both {used[i]} and {role}")
        used[i] = role
        return i

    group = None if group_col is None else take(group_col, "group column")
    time = None if time_col is None else take(time_col, "time column")
    actions = [take(n, "an action column") for n in name_list(action_cols) or []]
    wanted = name_list(sensor_cols)
    notes: list[str] = []
    if wanted is None:
        sensors, skipped = [], []
        for i, name in enumerate(names):
            if i in used or name.startswith("unnamed:"):
                continue
            (sensors if numeric[i] else skipped).append(i)
        if skipped:
            notes.append("skipped non-numeric columns: " + listing([names[i] for i in skipped]))
        unnamed = [n for n in names if n.startswith("unnamed:")]
        if unnamed:
            notes.append("ignored unnamed columns: " + listing(unnamed))
    else:
        sensors = [take(n, "a sensor column") for n in wanted]
    if not sensors:
        raise AmiError(f"{source}: no sensor columns; name them with sensor_cols (--sensor-cols)")
    return Plan(source, names, group, time, actions, sensors, header_line, notes)


def header_names(cells: list[str]) -> list[str]:
    """Stripped header names; empty ones become ``unnamed:N`` (1-based position)."""
    names = [c.strip() for c in cells]
    if names:
        names[0] = names[0].lstrip("\ufeff")
    return [n or f"unnamed:{i + 1}" for i, n in enumerate(names)]


def numeric_cells(parts: list[str] | None, width: int) -> list[bool]:
    """Which fields of a first data row look numeric (or missing); unknown fields count as yes."""
    flags = [True] * width
    if parts is None:
        return flags
    for i, text in enumerate(parts[:width]):
        if text.strip().lower() in MISSING_TEXT:
            continue
        try:
            float(text)
        except ValueError:
            flags[i] = False
    return flags
