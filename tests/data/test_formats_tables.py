"""CSV and Parquet importers: column roles, missing-value policies, and bad-input messages."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest

from amiwm.data.formats import read_sensors
from amiwm.errors import AmiError

OPTS = {"time_col": "t", "group_col": "ep", "action_cols": ["a"]}
CSV = """ep,t,a,s1,s2,label
run-b,2,0.1,1.5,2,x
run-b,1,0.2,3,4,y
run-a,0,0.3,5,6,z
run-b,3,0.4,7,8,w
run-a,1,0.5,9,10,v
"""


def write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_roles_order_and_notes(tmp_path):
    table = read_sensors(str(write(tmp_path, CSV)), **OPTS)
    assert table.groups() == ["run-b", "run-a"]
    assert table.group.tolist() == ["run-b"] * 3 + ["run-a"] * 2
    np.testing.assert_array_equal(table.time, [1, 2, 3, 0, 1])  # sorted within groups
    np.testing.assert_array_equal(table.line, [3, 2, 5, 4, 6])  # source lines follow the rows
    assert table.channels == ["s1", "s2"] and table.action_names == ["a"]
    np.testing.assert_allclose(table.sensors[:, 0], [3, 1.5, 7, 5, 9])
    np.testing.assert_allclose(table.actions[:, 0], [0.2, 0.1, 0.4, 0.3, 0.5])
    assert "skipped non-numeric columns: label" in table.notes
    assert "sorted rows by time within 1 group" in table.notes


def test_csv_defaults_int_groups_and_unnamed_index(tmp_path):
    path = write(tmp_path, ",unit,v,w\n0,1,0.5,1\n1,1,0.7,1\n2,2,0.9,1\n")
    table = read_sensors(f"csv:{path}", group_col="unit")
    assert table.groups() == [1, 2] and table.group.dtype == np.int64
    assert table.channels == ["v", "w"]  # the unnamed index column is not a sensor
    np.testing.assert_array_equal(table.time, [0, 1, 0])  # no time column: row order
    assert any("unnamed:1" in n for n in table.notes)
    plain = read_sensors(str(path), sensor_cols="w,v")
    assert plain.groups() == [0] and plain.channels == ["w", "v"] and plain.actions is None


def test_missing_policies(tmp_path):
    text = "ep,t,a,s1,s2\n1,0,0.1,1,2\n1,1,,3,\n1,2,0.3,NaN,6\n2,0,0.4,7,8\n2,1,0.5,NA,10\n"
    path = write(tmp_path, text)
    with pytest.raises(AmiError, match=r"d.csv: row 3, column a: missing value"):
        read_sensors(str(path), **OPTS)
    filled = read_sensors(str(path), missing="ffill", **OPTS)
    np.testing.assert_allclose(filled.actions[:, 0], [0.1, 0.1, 0.3, 0.4, 0.5])
    np.testing.assert_allclose(filled.sensors, [[1, 2], [3, 2], [3, 6], [7, 8], [7, 10]])
    assert "forward-filled 4 missing cells (a: 1, s1: 2, s2: 1)" in filled.notes
    dropped = read_sensors(str(path), missing="drop", **OPTS)
    assert len(dropped) == 2 and dropped.line.tolist() == [2, 5]
    assert "dropped 3 rows with missing values (first at row 3, column a)" in dropped.notes
    lead = write(tmp_path, "ep,t,a,s1,s2\n1,0,0.1,1,2\n2,0,0.2,,4\n", "lead.csv")
    with pytest.raises(AmiError, match=r"lead.csv: row 3, column s1: .*start of group 2"):
        read_sensors(str(lead), missing="ffill", **OPTS)
    notime = write(tmp_path, "ep,t,a,s1,s2\n1,0,0.1,1,2\n1,,0.2,3,4\n", "notime.csv")
    with pytest.raises(AmiError, match=r"notime.csv: row 3, column t: missing time"):
        read_sensors(str(notime), missing="ffill", **OPTS)
    assert len(read_sensors(str(notime), missing="drop", **OPTS)) == 1
    with pytest.raises(AmiError, match="unknown missing-value policy"):
        read_sensors(str(path), missing="zero", **OPTS)


BAD = [
    (
        "ragged_short",
        "ep,t,a,s1,s2\n1,0,0,1,2\n1,1,0,3\n",
        "row 3, column s2: missing; the row has 4",
    ),
    ("ragged_long", "ep,t,a,s1,s2\n1,0,0,1,2,9\n", "row 2, column 6: extra field"),
    ("text", "ep,t,a,s1,s2\n1,0,0,1,2\n1,1,0,abc,2\n", "row 3, column s1: not a number: 'abc'"),
    ("nan", "ep,t,a,s1,s2\n1,0,0,1,2\n1,1,0,nan,2\n", "row 3, column s1: missing value"),
    ("inf", "ep,t,a,s1,s2\n1,0,0,1,2\n1,1,0,1,-inf\n", "row 3, column s2: infinite value"),
    ("bad_time", "ep,t,a,s1,s2\n1,x,0,1,2\n", "row 2, column t: not a number: 'x'"),
    ("dup_time", "ep,t,a,s1,s2\n1,0,0,1,2\n2,0,0,1,2\n1,0,0,3,4\n", "row 4, column t: duplicate"),
    ("dup_header", "ep,t,a,s1,s1\n1,0,0,1,2\n", "row 1, column s1: appears twice"),
    ("no_column", "ep,t,act,s1,s2\n1,0,0,1,2\n", "row 1, column a: no such column"),
    ("empty", "", "row 1: empty file"),
    ("header_only", "ep,t,a,s1,s2\n", "no data rows"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_csv_names_file_row_column(tmp_path, name, text, message):
    path = write(tmp_path, text, f"{name}.csv")
    with pytest.raises(AmiError) as info:
        read_sensors(str(path), **OPTS)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_options_and_files(tmp_path):
    path = write(tmp_path, CSV)
    with pytest.raises(AmiError, match=r"row 1, column t: used as both time column and a sensor"):
        read_sensors(str(path), sensor_cols=["s1", "t"], **OPTS)
    with pytest.raises(AmiError, match=r"row 1, column s9: no such column \(asked for as a sensor"):
        read_sensors(str(path), sensor_cols=["s9"], **OPTS)
    with pytest.raises(AmiError, match="nope.csv: no such file"):
        read_sensors(str(tmp_path / "nope.csv"))
    with pytest.raises(AmiError, match="is a directory"):
        read_sensors(f"csv:{tmp_path}")
    with pytest.raises(AmiError, match="cannot tell its format"):
        read_sensors(str(write(tmp_path, "x", "d.dat")))
    text_only = write(tmp_path, "name,kind\na,b\n", "t.csv")
    with pytest.raises(AmiError, match="no sensor columns"):
        read_sensors(str(text_only))


def parquet_file(tmp_path: Path, **columns) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def test_parquet_round_trip_matches_csv(tmp_path):
    csv_table = read_sensors(str(write(tmp_path, CSV)), **OPTS)
    path = parquet_file(
        tmp_path,
        ep=["run-b", "run-b", "run-a", "run-b", "run-a"],
        t=[2, 1, 0, 3, 1],
        a=[0.1, 0.2, 0.3, 0.4, 0.5],
        s1=[1.5, 3, 5, 7, 9],
        s2=np.array([2, 4, 6, 8, 10], np.int32),
        label=list("xyzwv"),
    )
    table = read_sensors(str(path), **OPTS)
    assert table.groups() == csv_table.groups() and table.channels == csv_table.channels
    np.testing.assert_array_equal(table.sensors, csv_table.sensors)
    np.testing.assert_array_equal(table.actions, csv_table.actions)
    np.testing.assert_array_equal(table.time, csv_table.time)
    np.testing.assert_array_equal(table.line, [2, 1, 4, 3, 5])  # 1-based Parquet rows
    assert "skipped non-numeric columns: label" in table.notes
    with pytest.raises(AmiError, match=r"d.parquet: column label: has type string"):
        read_sensors(str(path), sensor_cols=["label"], **OPTS)


def test_parquet_nulls_inf_and_timestamps(tmp_path):
    stamps = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:30"], "datetime64[ms]")
    path = parquet_file(tmp_path, unit=[7, 7], ts=stamps, v=[1.0, None], w=[1.0, np.inf])
    with pytest.raises(AmiError, match=r"d.parquet: row 2, column w: infinite value"):
        read_sensors(f"parquet:{path}", group_col="unit", time_col="ts")
    table = read_sensors(
        str(path), group_col="unit", time_col="ts", sensor_cols=["v"], missing="ffill"
    )
    assert table.groups() == [7]
    np.testing.assert_allclose(np.diff(table.time), [30.0])  # seconds
    np.testing.assert_array_equal(table.sensors[:, 0], [1.0, 1.0])
    with pytest.raises(AmiError, match=r"d.parquet: row 2, column v: missing value"):
        read_sensors(str(path), group_col="unit", time_col="ts", sensor_cols=["v"])


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    path = write(tmp_path, "not parquet", "x.parquet")
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(AmiError, match=r"pip install 'amiwm\[parquet\]'"):
        read_sensors(str(path))


def test_corrupt_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    path = write(tmp_path, "not parquet at all", "x.parquet")
    with pytest.raises(AmiError, match="x.parquet: not a readable Parquet file"):
        read_sensors(str(path))
