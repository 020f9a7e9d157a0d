"""stream_rows: bad rows are reported and skipped, good rows keep coming, channels by name."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from amiwm.data.formats import BadRow, Row, read_sensors, stream_rows
from amiwm.errors import AmiError

FD001 = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmapss" / "train_FD001.txt"
)
OPTS = {"time_col": "t", "group_col": "ep", "action_cols": ["a"]}
CSV = """ep,t,a,s1,s2
1,0,0.1,1,2
1,1,0.2,oops,4
1,2,0.3,5,6
2,0,0.4,7
2,1,0.5,9,inf
1,2,0.6,11,12
1,3,0.7,,14
2,5,0.8,15,16
"""


def lines_of(items):
    return [(type(r).__name__, r.line) for r in items]


def test_bad_middle_rows_are_reported_and_skipped(tmp_path):
    path = tmp_path / "live.csv"
    path.write_text(CSV)
    stream = stream_rows(str(path), **OPTS)
    assert stream.channels == ["s1", "s2"] and stream.action_names == ["a"]
    items = list(stream)
    assert lines_of(items) == [
        ("Row", 2),
        ("BadRow", 3),
        ("Row", 4),
        ("BadRow", 5),
        ("BadRow", 6),
        ("BadRow", 7),
        ("BadRow", 8),
        ("Row", 9),
    ]
    bad = {r.line: r.message for r in items if isinstance(r, BadRow)}
    assert bad[3] == f"{path}: row 3, column s1: not a number: 'oops'"
    assert bad[5].startswith(f"{path}: row 5, column s2: missing; the row has 4 fields")
    assert bad[6] == f"{path}: row 6, column s2: infinite value 'inf'"
    assert bad[7].startswith(f"{path}: row 7, column t: time 2 is not after 2 (row 4) in group 1")
    assert bad[8].startswith(f"{path}: row 8, column s1: missing value")
    rows = [r for r in items if isinstance(r, Row)]
    assert [r.group for r in rows] == [1, 1, 2] and [r.time for r in rows] == [0.0, 2.0, 5.0]
    np.testing.assert_array_equal(rows[2].sensors, np.array([15, 16], np.float32))
    np.testing.assert_allclose(rows[2].actions, [0.8])
    assert rows[0].sensors.dtype == np.float32


def test_ffill_selected_channels_and_stdin(tmp_path, monkeypatch):
    text = "ep,t,a,s1,s2\n1,0,0.1,1,2\n1,1,0.2,,4\n2,0,0.3,,6\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    stream = stream_rows("-", "csv", sensor_cols=["s2", "s1"], missing="ffill", **OPTS)
    items = list(stream)
    assert stream.source == "<stdin>" and stream.channels == ["s2", "s1"]
    assert isinstance(items[1], Row) and items[1].sensors.tolist() == [4.0, 1.0]
    assert isinstance(items[2], BadRow) and "no earlier good row in group 2" in items[2].message


def test_fatal_problems_raise_before_the_first_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("ep,t,a,s1\n1,0,0,1\n")
    with pytest.raises(AmiError, match=r"d.csv: row 1, column s2: no such column"):
        stream_rows(str(path), sensor_cols=["s1", "s2"], **OPTS)
    with pytest.raises(AmiError, match="no such file"):
        stream_rows(str(tmp_path / "gone.csv"))
    with pytest.raises(AmiError, match="stdin needs a format"):
        stream_rows("-")
    with pytest.raises(AmiError, match="the prefix says csv but the format given is parquet"):
        stream_rows(f"csv:{path}", "parquet")
    with stream_rows(f"csv:{path}", time_col="t") as stream:
        first = next(stream)
    assert isinstance(first, Row) and first.group == 0 and first.actions is None
    assert stream.channels == ["ep", "a", "s1"]


def test_parquet_stream_matches_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    cols = {"ep": ["x", "x", "y"], "t": [0, 1, 0], "s1": [1.0, None, 3.0], "s2": [4.0, 5.0, 6.0]}
    pq.write_table(pa.table(cols), path)
    items = list(stream_rows(str(path), time_col="t", group_col="ep"))
    assert lines_of(items) == [("Row", 1), ("BadRow", 2), ("Row", 3)]
    assert items[1].message.startswith(f"{path}: row 2, column s1: missing value")
    assert items[2].group == "y" and items[2].sensors.tolist() == [3.0, 6.0]
    with pytest.raises(AmiError, match="Parquet cannot be read from stdin"):
        stream_rows("parquet:-")


def test_fd001_stream_matches_table():
    if not FD001.exists():
        pytest.skip(f"C-MAPSS data not found at {FD001}")
    table = read_sensors(f"cmapss:{FD001}", sensor_cols=["s2", "s3"])
    stream = stream_rows(f"cmapss:{FD001}", sensor_cols=["s2", "s3"], action_cols=[])
    items = list(stream)
    assert len(items) == 20631 and all(isinstance(r, Row) for r in items)
    sensors = np.stack([r.sensors for r in items])
    np.testing.assert_array_equal(sensors, table.sensors)
    assert items[-1].group == 100 and items[-1].actions is None
    assert [r.time for r in items[:3]] == [1.0, 2.0, 3.0]
