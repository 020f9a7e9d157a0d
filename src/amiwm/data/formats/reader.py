"""Source specs (``cmapss:PATH``, ``csv:PATH``, ``parquet:PATH`` or a plain path) and reading."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from amiwm.data.formats.cmapss import looks_like_cmapss
from amiwm.data.formats.columns import check_missing
from amiwm.data.formats.table import SensorTable
from amiwm.data.formats.tep import KINDS as TEP_KINDS
from amiwm.errors import AmiError

KINDS = ("cmapss", "csv", "parquet", *TEP_KINDS)
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def parse_spec(spec: str, kind: str | None = None) -> tuple[str, str]:
    """``(kind, path)`` of a source spec (``tep:`` / ``tep-any:`` need their prefix); ``kind``
    (if given) overrides inference.

    A plain path is read by suffix (.csv, .parquet/.pq); a .txt file holding 26 numbers per
    line is C-MAPSS. ``-`` is stdin and needs a kind (``csv:-``, ``cmapss:-``).
    """
    prefix, sep, rest = str(spec).partition(":")
    found, path = (prefix.lower(), rest) if sep and prefix.lower() in KINDS else (None, str(spec))
    if kind is not None:
        kind = kind.lower()
        if kind not in KINDS:
            raise AmiError(f"unknown data format {kind!r}; use one of {', '.join(KINDS)}")
        if found is not None and found != kind:
            raise AmiError(f"{spec}: the prefix says {found} but the format given is {kind}")
        found = kind
    if not path:
        raise AmiError(f"{spec!r}: no file path; write e.g. csv:data.csv or csv:- for stdin")
    if found is not None:
        return found, path
    if path == "-":
        raise AmiError("reading stdin needs a format: write csv:- or cmapss:- (or pass --format)")
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix], path
    if not p.exists():
        raise AmiError(f"{path}: no such file")
    if suffix == ".txt" and looks_like_cmapss(p):
        return "cmapss", path
    raise AmiError(
        f"{path}: cannot tell its format; prefix it with cmapss:, csv: or parquet: "
        "(e.g. cmapss:train_FD001.txt)"
    )


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
    kind, path = parse_spec(spec)
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
