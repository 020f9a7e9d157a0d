"""NASA C-MAPSS turbofan files: 26 space-separated numbers per line, and RUL files.

Columns: ``unit``, ``cycle``, ``setting1..setting3`` (operational settings, used as actions),
``s1..s21`` (sensors). Training files run to failure; test files stop earlier and come with
a RUL file holding the true remaining life of each test unit, in unit order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from amiwm.errors import AmiError

SETTINGS = [f"setting{i}" for i in range(1, 4)]
SENSORS = [f"s{i}" for i in range(1, 22)]
COLUMNS = ["unit", "cycle", *SETTINGS, *SENSORS]


def defaults(
    time_col: str | None,
    group_col: str | None,
    action_cols: object,
    sensor_cols: object,
) -> dict[str, object]:
    """Column options with C-MAPSS defaults filled in (unit, cycle, settings, sensors)."""
    return {
        "time_col": "cycle" if time_col is None else time_col,
        "group_col": "unit" if group_col is None else group_col,
        "action_cols": SETTINGS if action_cols is None else action_cols,
        "sensor_cols": SENSORS if sensor_cols is None else sensor_cols,
    }


def read_rul(path: str | os.PathLike[str], units: int | None = None) -> np.ndarray:
    """True RUL per test unit (int64, unit order) from a C-MAPSS ``RUL_FD00x.txt`` file.

    One non-negative integer per line; blank lines are allowed only at the end. With
    ``units``, the file must hold exactly that many values (one per unit of the test file).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise AmiError(f"{p}: no such RUL file") from None
    except OSError as err:
        raise AmiError(f"{p}: cannot read: {err.strerror or err}") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    values = []
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if len(fields) != 1:
            what = "blank line" if not fields else f"{len(fields)} fields"
            raise AmiError(f"{p}: row {n}, column 1: {what}; expected one integer RUL per line")
        try:
            value = int(fields[0])
        except ValueError:
            raise AmiError(f"{p}: row {n}, column 1: not an integer: {fields[0][:40]!r}") from None
        if value < 0:
            raise AmiError(f"{p}: row {n}, column 1: negative RUL {value}")
        values.append(value)
    if not values:
        raise AmiError(f"{p}: empty RUL file")
    if units is not None and len(values) != units:
        raise AmiError(
            f"{p}: has {len(values)} RUL values but the test data has {units} units; "
            "they must pair up one per unit, in unit order"
        )
    return np.asarray(values, np.int64)
