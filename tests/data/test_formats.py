"""C-MAPSS reading, the RUL / cut protocol, table operations and the episode-store round trip."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from amiwm.data.formats import (
    CMAPSS_COLUMNS,
    SensorTable,
    cut_units,
    drop_constant,
    read_rul,
    read_sensors,
    row_rul,
)
from amiwm.data.spec import DatasetSpec
from amiwm.data.store import EpisodeStore, partial_path
from amiwm.errors import AmiError

FD001 = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmapss" / "train_FD001.txt"
)
FD001_CONSTANT = ["s1", "s5", "s6", "s10", "s16", "s18", "s19"]


@pytest.fixture(scope="module")
def fd001() -> SensorTable:
    if not FD001.exists():
        pytest.skip(f"C-MAPSS data not found at {FD001}")
    return read_sensors(f"cmapss:{FD001}")


def write_cmapss(path: Path, lengths: list[int], seed: int = 0) -> Path:
    """A small C-MAPSS-format file: units 1..U, cycles 1..n, sensors drifting with wear."""
    rng = np.random.default_rng(seed)
    lines = []
    for unit, n in enumerate(lengths, 1):
        for cycle in range(1, n + 1):
            settings = rng.normal(0, 0.002, 2).tolist() + [100.0]
            sensors = [518.67] + (600 + cycle * 0.1 + rng.normal(0, 0.5, 20)).tolist()
            fields = [unit, cycle, *settings, *sensors]
            lines.append(" ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in fields))
    path.write_text("\n".join(lines) + " \n\n")
    return path


def test_fd001_counts_units_and_order(fd001):
    assert len(fd001) == 20631
    assert fd001.groups() == list(range(1, 101))
    assert fd001.channels == [f"s{i}" for i in range(1, 22)]
    assert fd001.action_names == ["setting1", "setting2", "setting3"]
    assert fd001.sensors.shape == (20631, 21) and fd001.sensors.dtype == np.float32
    assert fd001.actions.shape == (20631, 3)
    np.testing.assert_array_equal(fd001.line, np.arange(1, 20632))  # file is unit/cycle sorted
    for rows in fd001.group_rows()[:5]:
        np.testing.assert_array_equal(fd001.time[rows], np.arange(1, len(rows) + 1))
    assert fd001.notes == []
    # first line of the file: 1 1 -0.0007 -0.0004 100.0 518.67 641.82 ...
    np.testing.assert_allclose(fd001.actions[0], [-0.0007, -0.0004, 100.0], rtol=1e-6)
    np.testing.assert_allclose(fd001.sensors[0, :2], [518.67, 641.82], rtol=1e-6)
    assert DatasetSpec.parse(str(FD001)) == DatasetSpec("cmapss", str(FD001))  # 26 numbers a line


def test_fd001_constant_channels(fd001):
    table, dropped = drop_constant(fd001)
    assert dropped == FD001_CONSTANT
    assert table.channels == [c for c in fd001.channels if c not in FD001_CONSTANT]
    assert table.sensors.shape == (20631, 14)
    assert "s1, s5, s6" in table.notes[-1]
    assert drop_constant(table)[1] == []  # nothing left to drop
    assert drop_constant(fd001, step_tol=0.0)[1] == ["s1", "s5", "s10", "s16", "s18", "s19"]


def test_fd001_cut_protocol(fd001):
    cut, rul = cut_units(fd001, seed=3, min_cycles=30)
    full = dict(zip(fd001.groups(), fd001.group_rows(), strict=True))
    assert cut.groups() == fd001.groups() and rul.shape == (100,)
    for unit, rows, r in zip(cut.groups(), cut.group_rows(), rul, strict=True):
        orig = full[unit]
        assert 30 <= len(rows) < len(orig)
        np.testing.assert_array_equal(cut.time[rows], fd001.time[orig[: len(rows)]])
        assert r == fd001.time[orig[-1]] - cut.time[rows[-1]] >= 1
    again, rul2 = cut_units(fd001, seed=3, min_cycles=30)
    np.testing.assert_array_equal(rul, rul2)
    assert not np.array_equal(rul, cut_units(fd001, seed=4)[1])
    assert rul.std() > 10  # cuts spread over the life, not all at one place


def test_small_cmapss_sample_columns_and_detection(tmp_path):
    path = write_cmapss(tmp_path / "train_x.txt", [5, 3])
    table = read_sensors(str(path))  # detected by 26 numeric columns
    assert table.groups() == [1, 2] and len(table) == 8
    picked = read_sensors(f"cmapss:{path}", sensor_cols=["s3", "s2"], action_cols=[])
    assert picked.channels == ["s3", "s2"] and picked.actions is None
    np.testing.assert_array_equal(picked.sensors[:, 0], table.sensors[:, 2])
    with pytest.raises(AmiError, match=r"train_x.txt: column s22: no such column"):
        read_sensors(f"cmapss:{path}", sensor_cols=["s22"])
    other = tmp_path / "notes.txt"
    other.write_text("hello world\n")
    with pytest.raises(AmiError, match="cannot tell its format"):
        read_sensors(str(other))
    assert CMAPSS_COLUMNS[:5] == ["unit", "cycle", "setting1", "setting2", "setting3"]


def test_cmapss_from_stdin(tmp_path, monkeypatch):
    text = write_cmapss(tmp_path / "a.txt", [4]).read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    table = read_sensors("cmapss:-")
    assert table.source == "<stdin>" and len(table) == 4
    with pytest.raises(AmiError, match="stdin needs a format"):
        read_sensors("-")


def test_read_rul_and_test_file_pairing(tmp_path):
    test = read_sensors(f"cmapss:{write_cmapss(tmp_path / 'test_x.txt', [6, 9, 4])}")
    rul_file = tmp_path / "RUL_x.txt"
    rul_file.write_text("112\n98 \n69\n\n\n")
    rul = read_rul(rul_file, units=len(test.groups()))
    assert rul.dtype == np.int64 and rul.tolist() == [112, 98, 69]
    with pytest.raises(AmiError, match=r"RUL_x.txt: has 3 RUL values but the test data has 4"):
        read_rul(rul_file, units=4)
    cases = {
        "12\n\n7\n": r"row 2, column 1: blank line",
        "12\n-1\n": r"row 2, column 1: negative RUL -1",
        "12\n7.5\n": r"row 2, column 1: not an integer: '7.5'",
        "12 4\n": r"row 1, column 1: 2 fields",
        "\n\n": "empty RUL file",
    }
    for text, message in cases.items():
        rul_file.write_text(text)
        with pytest.raises(AmiError, match=message):
            read_rul(rul_file)
    with pytest.raises(AmiError, match="no such RUL file"):
        read_rul(tmp_path / "nope.txt")


def test_row_rul_select_and_without_channels(tmp_path):
    table = read_sensors(f"cmapss:{write_cmapss(tmp_path / 'a.txt', [5, 3, 4])}")
    np.testing.assert_array_equal(row_rul(table)[:5], [4, 3, 2, 1, 0])
    sub = table.select([3, 1])
    assert sub.groups() == [3, 1] and len(sub) == 9
    np.testing.assert_array_equal(sub.time, [1, 2, 3, 4, 1, 2, 3, 4, 5])
    with pytest.raises(AmiError, match="no group 7"):
        table.select([7])
    slim = table.without_channels(["s1", "s2"])
    assert slim.channels[0] == "s3" and slim.sensors.shape == (12, 19)
    with pytest.raises(AmiError, match="no channel 'zz'"):
        table.without_channels(["zz"])
    with pytest.raises(AmiError, match="no unit has more than min_cycles=10"):
        cut_units(table, seed=0, min_cycles=10)
    cut, rul = cut_units(table, seed=0, min_cycles=3)
    assert cut.groups() == [1, 3] and len(rul) == 2  # unit 2 (3 rows) is left out
    assert any("left out 1 units" in n for n in cut.notes)


def test_to_store_round_trip(tmp_path):
    table = read_sensors(f"cmapss:{write_cmapss(tmp_path / 'a.txt', [5, 3])}")
    path = table.to_store(tmp_path / "s.h5", attrs={"dataset": "x"})
    with EpisodeStore(path) as store:
        assert store.modality == "sensors" and store.num_episodes == 2
        assert store.obs_shape == (21,) and store.action_dim == 3
        ep = store.episode(1)
        rows = table.group_rows()[1]
        np.testing.assert_array_equal(ep["observations"], table.sensors[rows])
        np.testing.assert_array_equal(ep["actions"][:-1], table.actions[rows[:-1]])
        assert not ep["actions"][-1].any()  # padding row
        attrs = store.attrs
    assert attrs["channels"] == table.channels and attrs["action_names"] == table.action_names
    assert attrs["groups"] == [1, 2] and attrs["dataset"] == "x"
    assert attrs["action_alignment"] == "same_row" and attrs["source"].endswith("a.txt")
    nxt = table.to_store(tmp_path / "n.h5", next_actions=True)
    with EpisodeStore(nxt) as store:
        np.testing.assert_array_equal(store.episode(0)["actions"][:-1], table.actions[1:5])
    with pytest.raises(AmiError, match="already exists"):
        table.to_store(path)


def test_to_store_is_atomic_on_bad_table(tmp_path):
    table = SensorTable(
        source="mem",
        group=np.array([1, 1, 2]),
        time=np.array([0.0, 0.0, 1.0]),
        sensors=np.ones((3, 2), np.float32),
        channels=["a", "b"],
        actions=None,
        action_names=[],
        line=np.array([2, 3, 4]),
    )
    target = tmp_path / "bad.h5"
    with pytest.raises(
        AmiError, match=r"mem: row 3: duplicate time 0 in group 1 \(also at row 2\)"
    ):
        table.to_store(target)
    assert not target.exists() and not partial_path(target).exists()
    with pytest.raises(AmiError, match="do not match channels"):
        SensorTable("mem", table.group, table.time, table.sensors, ["a"], None, [], table.line)
