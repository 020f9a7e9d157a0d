"""List-valued Parquet columns (as LeRobot writes action and observation.state)."""

from pathlib import Path

import numpy as np
import pytest

from amiwm.data.formats import read_sensors
from amiwm.errors import AmiError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

OPTS = {"group_col": "episode_index", "time_col": "frame_index"}


def lerobot_like(path: Path, rows: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    action = rng.normal(size=(rows, 2)).astype(np.float32)
    state = rng.normal(size=(rows, 3))
    table = pa.table(
        {
            "episode_index": np.repeat([0, 1], rows // 2),
            "frame_index": np.tile(np.arange(rows // 2), 2),
            "action": pa.array(list(action), pa.list_(pa.float32())),
            "observation.state": pa.array(list(state), pa.list_(pa.float64(), 3)),
        }
    )
    pq.write_table(table, path)
    return action, state


def test_list_columns_become_channels(tmp_path):
    path = tmp_path / "ep.parquet"
    action, state = lerobot_like(path)
    table = read_sensors(f"parquet:{path}", action_cols="action", **OPTS)
    assert table.action_names == ["action[0]", "action[1]"]
    assert table.channels == [f"observation.state[{i}]" for i in range(3)]
    np.testing.assert_allclose(table.actions, action, rtol=1e-6)
    np.testing.assert_allclose(table.sensors, state)
    one = read_sensors(
        f"parquet:{path}", action_cols=["action[1]"], sensor_cols="observation.state[2]", **OPTS
    )
    assert one.action_names == ["action[1]"] and one.channels == ["observation.state[2]"]
    np.testing.assert_allclose(one.sensors[:, 0], state[:, 2])


def test_list_column_of_mixed_lengths_is_refused(tmp_path):
    path = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"a": [[1.0, 2.0], [3.0, 4.0], [5.0]], "s": [1.0, 2.0, 3.0]}), path)
    with pytest.raises(AmiError, match=r"row 3, column a: a list of 1 values .* has 2"):
        read_sensors(f"parquet:{path}", action_cols="a")
    strings = tmp_path / "strings.parquet"
    pq.write_table(pa.table({"tags": [["x"], ["y"]], "s": [1.0, 2.0]}), strings)
    with pytest.raises(AmiError, match="column tags: has type list<"):
        read_sensors(f"parquet:{strings}", sensor_cols="tags")
