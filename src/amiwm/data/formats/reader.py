"""Read a whole sensor table named by a dataset spec (see amiwm.data.spec)."""

from __future__ import annotations

from collections.abc import Sequence

from amiwm.data.formats.columns import check_missing
from amiwm.data.formats.table import SensorTable
from amiwm.data.formats.tep import KINDS as TEP_KINDS
from amiwm.data.spec import DatasetSpec


def read_sensors(
    spec: str,
    *,
    time_col: str | None = None,
    group_col: str | None = None,
    action_cols: str | Sequence[str] | None = None,
    sensor_cols: str | Sequence[str] | None = None,
    missing: str = "error",
) -> SensorTable:
    """Read a whole sensor file (or stdin for ``csv:-`` / ``cmapss:-``) into a SensorTable.

    C-MAPSS: group ``unit``, time ``cycle``, actions ``setting1..3``, sensors ``s1..s21`` (the
    column options pick among these names). CSV (header row) / Parquet: no ``group_col`` means
    one group (id 0); no ``time_col`` means row order (time 0, 1, ...); no ``action_cols``
    means no actions; ``sensor_cols`` defaults to the other numeric columns (judged by the
    first data row, or the Parquet type). ``missing``: "error" (first empty/NaN cell is an
    AmiError), "ffill" (forward-fill actions/sensors within a group; a gap at a group's start
    is an error), "drop" (drop rows with a missing cell). Rows come back grouped in order of
    first appearance and sorted by time; ``table.notes`` says what was changed.
    """
    check_missing(missing)
    table = DatasetSpec.parse(spec).require_table()
    kind, path = table.kind, table.path
    opts = {
        "time_col": time_col,
        "group_col": group_col,
        "action_cols": action_cols,
        "sensor_cols": sensor_cols,
    }
    if kind in TEP_KINDS:
        from amiwm.data.formats.tep import read_tep

        return read_tep(path, kind, **opts)
    if kind == "parquet":
        from amiwm.data.formats.parquet import read_parquet

        return read_parquet(path, missing, **opts)
    from amiwm.data.formats.text import read_text

    return read_text(kind, path, missing, **opts)
