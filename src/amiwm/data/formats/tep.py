"""Tennessee Eastman Process runs in the Braatz layout (``d00.dat``, ``d00_te.dat``, ``dNN.dat``).

Each ``.dat`` file holds whitespace-separated numbers, one 3-minute sample per row and 52
columns: XMEAS(1)-XMEAS(41) (measurements; channels ``XMEAS1``..``XMEAS41``), then
XMV(1)-XMV(11) (the controller's manipulated variables; actions ``XMV1``..``XMV11``). The
Braatz ``d00.dat`` is stored transposed (52 rows x 500 columns); that is detected and undone.
One group per file (group id = the file stem, e.g. ``d05``), time = the 1-based sample number.
``DESCRIPTIONS`` gives the Downs & Vogel (1993) name of every variable.

Specs: ``tep:FILE`` reads one file; ``tep:DIR`` reads the folder's normal runs (``d00*.dat``);
``tep-any:DIR`` reads every ``d*.dat`` file of the folder (normal and fault runs). Training
refuses fault runs given as ``tep:`` (use ``tep-any:`` to train on them on purpose).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from amiwm.data.formats.table import SensorTable
from amiwm.errors import AmiError

XMEAS = [f"XMEAS{i}" for i in range(1, 42)]
XMV = [f"XMV{i}" for i in range(1, 12)]
COLUMNS = XMEAS + XMV
KINDS = ("tep", "tep-any")

_MEAS = [
    "A feed (stream 1)",
    "D feed (stream 2)",
    "E feed (stream 3)",
    "A and C feed (stream 4)",
    "recycle flow (stream 8)",
    "reactor feed rate (stream 6)",
    "reactor pressure",
    "reactor level",
    "reactor temperature",
    "purge rate (stream 9)",
    "product separator temperature",
    "product separator level",
    "product separator pressure",
    "product separator underflow (stream 10)",
    "stripper level",
    "stripper pressure",
    "stripper underflow (stream 11)",
    "stripper temperature",
    "stripper steam flow",
    "compressor work",
    "reactor cooling water outlet temperature",
    "separator cooling water outlet temperature",
    *[f"reactor feed component {c} (stream 6)" for c in "ABCDEF"],
    *[f"purge gas component {c} (stream 9)" for c in "ABCDEFGH"],
    *[f"product component {c} (stream 11)" for c in "DEFGH"],
]
_MV = [
    "D feed flow (stream 2)",
    "E feed flow (stream 3)",
    "A feed flow (stream 1)",
    "A and C feed flow (stream 4)",
    "compressor recycle valve",
    "purge valve (stream 9)",
    "separator pot liquid flow (stream 10)",
    "stripper liquid product flow (stream 11)",
    "stripper steam valve",
    "reactor cooling water flow",
    "condenser cooling water flow",
]
DESCRIPTIONS = dict(zip(COLUMNS, _MEAS + _MV, strict=True))
_FAULT_STEM = re.compile(r"^d(\d\d)(_te)?$")


def describe(name: str) -> str:
    """``XMEAS9 (reactor temperature)``; other names unchanged."""
    return f"{name} ({DESCRIPTIONS[name]})" if name in DESCRIPTIONS else name


def is_normal(path: Path) -> bool:
    """True for a normal-operation run (``d00.dat``, ``d00_te.dat``, any ``d00*.dat``)."""
    return path.name.lower().startswith("d00")


def files(path: str | Path, kind: str = "tep") -> list[Path]:
    """The .dat files a spec names: the file itself, or a folder's d00*.dat (``tep``) or
    every d*.dat (``tep-any``), sorted by name."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.exists():
        raise AmiError(f"{p}: no such TEP file or folder")
    pattern = "d00*.dat" if kind == "tep" else "d*.dat"
    found = sorted(q for q in p.glob(pattern) if q.is_file())
    if not found:
        what = "normal runs (d00*.dat)" if kind == "tep" else "d*.dat files"
        raise AmiError(f"{p}: no {what} in this folder; is it the Braatz TEP data set?")
    return found


def check_training(path: str | Path, kind: str) -> None:
    """Refuse a fault run as training data unless the spec says so (``tep-any:``)."""
    if kind != "tep":
        return
    for f in files(path, kind):
        if not is_normal(f):
            raise AmiError(
                f"{f}: a fault run, not normal operation; train on tep:DIR (its d00*.dat) or "
                f"write tep-any:{path} to train on fault data on purpose"
            )


def read_matrix(path: Path) -> tuple[np.ndarray, list[str]]:
    """(samples, 52) float64 of one file, and notes (the transposed layout)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise AmiError(f"{path}: cannot read: {err.strerror or err}") from None
    rows = [line.split() for line in text.splitlines()]
    rows = [r for r in rows if r]
    if not rows:
        raise AmiError(f"{path}: empty file; expected 52 numbers per row (XMEAS 1-41, XMV 1-11)")
    width = len(rows[0])
    for n, r in enumerate(rows, 1):
        if len(r) != width:
            raise AmiError(f"{path}: row {n} has {len(r)} numbers but row 1 has {width}")
    try:
        x = np.array(rows, dtype=np.float64)
    except ValueError:
        for n, r in enumerate(rows, 1):
            for c, v in enumerate(r, 1):
                try:
                    float(v)
                except ValueError:
                    what = f"row {n}, column {c}: not a number: {v[:40]!r}"
                    raise AmiError(f"{path}: {what}") from None
        raise
    notes = []
    if width != len(COLUMNS) and len(rows) == len(COLUMNS):
        x = x.T
        notes.append(f"{path.name}: stored transposed (52 rows x {width} columns); read as columns")
    elif width != len(COLUMNS):
        raise AmiError(
            f"{path}: {width} numbers per row; a TEP file has 52 "
            "(XMEAS 1-41, then XMV 1-11), or 52 rows when stored transposed"
        )
    bad = np.argwhere(~(np.abs(x) <= np.finfo(np.float32).max))  # NaN, Inf, beyond float32
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise AmiError(
            f"{path}: sample {r + 1}, {COLUMNS[c]}: {x[r, c]} is not a finite number; "
            "fix or remove the file"
        )
    return x, notes


def _names(value: str | Sequence[str] | None, default: list[str], what: str) -> list[str]:
    if value is None:
        return list(default)
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise AmiError(f"no TEP {what} column {unknown[0]!r}; use XMEAS1..XMEAS41 or XMV1..XMV11")
    return names


def read_tep(
    path: str | Path,
    kind: str = "tep",
    *,
    time_col: str | None = None,
    group_col: str | None = None,
    action_cols: str | Sequence[str] | None = None,
    sensor_cols: str | Sequence[str] | None = None,
) -> SensorTable:
    """Read a TEP file or folder (see the module doc) into a SensorTable.

    Sensors default to XMEAS1..41 and actions to XMV1..11; ``sensor_cols`` / ``action_cols``
    pick among the 52 names (an empty action list: no actions). Time is the sample number and
    the group is the file stem: ``time_col`` / ``group_col`` may only be None, "sample" / "file".
    """
    if time_col not in (None, "sample"):
        raise AmiError(f"TEP files have no column {time_col!r}; time is the sample number")
    if group_col not in (None, "file"):
        raise AmiError(f"TEP files have no column {group_col!r}; each file is one group")
    sensors = _names(sensor_cols, XMEAS, "sensor")
    actions = _names(action_cols, XMV, "action")
    both = sorted(set(sensors) & set(actions))
    if both:
        raise AmiError(f"{both[0]} is given both as a sensor and as an action column")
    if not sensors:
        raise AmiError("no sensor columns selected")
    s_idx = [COLUMNS.index(n) for n in sensors]
    a_idx = [COLUMNS.index(n) for n in actions]
    groups, times, xs, notes = [], [], [], []
    for f in files(path, kind):
        x, note = read_matrix(f)
        notes += note
        groups.append(np.full(len(x), f.stem, dtype=object))
        times.append(np.arange(1, len(x) + 1, dtype=np.float64))
        xs.append(x)
    x = np.concatenate(xs)
    group = np.concatenate(groups).astype(str)
    time = np.concatenate(times)
    return SensorTable(
        source=str(path),
        group=group,
        time=time,
        sensors=x[:, s_idx],
        channels=sensors,
        actions=x[:, a_idx] if a_idx else None,
        action_names=actions,
        line=time.astype(np.int64),
        notes=notes,
    )


def fault_number(group: str) -> int | None:
    """21 for ``d21`` / ``d21_te``, 0 for the normal runs, None for other names."""
    m = _FAULT_STEM.match(str(group))
    return int(m.group(1)) if m else None
