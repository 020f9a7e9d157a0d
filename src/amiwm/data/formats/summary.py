"""A printable summary of a SensorTable (``ami-cli data inspect KIND:PATH``)."""

from __future__ import annotations

import numpy as np

from amiwm.data.formats.columns import listing
from amiwm.data.formats.table import SensorTable


def table_summary(table: SensorTable) -> str:
    """Rows, groups (with their row counts), channels, actions, time range and reader notes."""
    rows = table.group_rows()
    ids = table.groups()
    sizes = [len(r) for r in rows]
    shown = ", ".join(f"{g} ({n})" for g, n in list(zip(ids, sizes, strict=True))[:30])
    more = f", ... ({len(ids) - 30} more)" if len(ids) > 30 else ""
    x = table.sensors.astype(np.float64)
    lines = [
        f"source: {table.source}",
        f"rows: {len(table)} in {len(ids)} groups: {shown}{more}",
        f"time: {table.time.min():g} .. {table.time.max():g}",
        f"sensors ({len(table.channels)}): {listing(table.channels)}",
        f"actions ({len(table.action_names)}): {listing(table.action_names) or 'none'}",
        f"sensor value range: {x.min():.4g} .. {x.max():.4g}",
    ]
    lines += [f"note: {n}" for n in table.notes]
    return "\n".join(lines)
