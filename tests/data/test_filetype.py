"""A readable file that is not HDF5 is named for what it is, not called corrupt."""

from pathlib import Path

import numpy as np
import pytest

from amiwm.data.store import EpisodeStore, EpisodeWriter
from amiwm.errors import AmiError


def test_text_and_parquet_are_not_called_corrupt(tmp_path: Path):
    text = tmp_path / "readings.csv"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(AmiError, match="is a text file, not an HDF5") as err:
        EpisodeStore(text)
    assert "corrupt" not in str(err.value) and f"csv:{text}" in str(err.value)
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0]}), table)
    with pytest.raises(AmiError, match=f"is a Parquet file.*parquet:{table}"):
        EpisodeStore(table)
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(AmiError, match="is empty"):
        EpisodeStore(empty)


def test_damaged_hdf5_is_still_called_corrupt(tmp_path: Path):
    good = tmp_path / "good.h5"
    with EpisodeWriter(good, obs_shape=(3,), obs_dtype=np.float32, action_dim=1) as w:
        w.add_episode(np.zeros((20, 3), np.float32), np.zeros((20, 1), np.float32))
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(AmiError, match="corrupt or truncated"):
        EpisodeStore(cut)
