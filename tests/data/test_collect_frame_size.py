"""collect refuses frame sizes that training would refuse later."""

import pytest

from amiwm.data.collect import collect
from amiwm.errors import AmiError


@pytest.mark.parametrize("size", [8, 40, 100])
def test_frame_size_must_be_a_multiple_of_16(tmp_path, size):
    with pytest.raises(AmiError, match=f"multiple of 16 pixels.*got {size}"):
        collect("two-rooms", 1, 3, tmp_path / "d.h5", frame_size=size, progress=False)
    assert not (tmp_path / "d.h5").exists()


def test_frame_size_48_is_collected(tmp_path):
    path = collect("two-rooms", 1, 3, tmp_path / "d.h5", frame_size=48, progress=False)
    assert path.exists()
