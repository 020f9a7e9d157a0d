"""List-valued Parquet columns (LeRobot's ``action``, ``observation.state``) as channels.

A list column whose entries all have the same length k reads as k numeric channels named
``col[0]`` .. ``col[k-1]``; naming ``col`` in --action-cols / --sensor-cols takes all of them.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from amiwm.data.formats.columns import name_list, where
from amiwm.errors import AmiError

_ELEMENT = re.compile(r"(.+)\[(\d+)\]")


def _is_list(pa: Any, t: Any) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _numeric(pa: Any, t: Any) -> bool:
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_boolean(t)
    )


def list_widths(pa: Any, pf: Any) -> dict[str, int]:
    """Numeric list columns -> their length (fixed-size type, else the first non-null entry)."""
    import pyarrow.compute as pc

    schema = pf.schema_arrow
    widths: dict[str, int] = {}
    for field in schema:
        t = field.type
        if not (_is_list(pa, t) and _numeric(pa, t.value_type)):
            continue
        if pa.types.is_fixed_size_list(t):
            widths[field.name] = int(t.list_size)
            continue
        for g in range(pf.num_row_groups):
            col = pf.read_row_group(g, columns=[field.name]).column(0)
            lengths = pc.list_value_length(col).drop_null()
            if len(lengths):
                widths[field.name] = int(lengths[0].as_py())
                break
    return {name: k for name, k in widths.items() if k > 0}


def expand_names(names: list[str], widths: dict[str, int]) -> list[str]:
    """Column names with each list column replaced by its element names."""
    out: list[str] = []
    for n in names:
        out.extend([f"{n}[{i}]" for i in range(widths[n])] if n in widths else [n])
    return out


def expand_request(value: Any, widths: dict[str, int]) -> Any:
    """A --action-cols/--sensor-cols value with list column names replaced by their elements."""
    names = name_list(value)
    if names is None:
        return None
    return expand_names(names, widths)


def element(name: str, widths: dict[str, int]) -> tuple[str, int] | None:
    """(list column, index) for an element name like ``action[1]``, else None."""
    m = _ELEMENT.fullmatch(name)
    if m and m.group(1) in widths and int(m.group(2)) < widths[m.group(1)]:
        return m.group(1), int(m.group(2))
    return None


def list_values(pa: Any, column: Any, k: int, source: str, first: int, name: str) -> np.ndarray:
    """A list column of one record batch as (rows, k) float64; null entries and values are NaN.

    An entry of another length is an error naming its row (rows numbered from ``first``)."""
    import pyarrow.compute as pc

    n = len(column)
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    valid = ~np.isnan(lengths.astype(np.float64))
    bad = np.flatnonzero(valid & (lengths != k))
    if len(bad):
        r = int(bad[0])
        raise AmiError(
            f"{where(source, first + r, name)}: a list of {int(lengths[r])} values where the "
            f"column's first entry has {k}; list columns must hold lists of one length"
        )
    out = np.full((n, k), np.nan)
    flat = pc.list_flatten(column).cast(pa.float64()).to_numpy(zero_copy_only=False)
    out[valid] = np.asarray(flat, np.float64).reshape(-1, k)
    return out
