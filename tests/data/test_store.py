"""Episode store: round trip, atomic writes, validation of damaged files, finiteness checks."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from amiwm.data.store import EpisodeStore, EpisodeWriter, format_summary, partial_path
from amiwm.errors import AmiError

OBS = (6, 5, 3)


def episodes(lengths: list[int], seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for length in lengths:
        actions = rng.normal(size=(length, 2)).astype(np.float32)
        actions[-1] = 0.0
        out.append(
            {
                "observations": rng.integers(0, 256, (length, *OBS), dtype=np.uint8),
                "actions": actions,
                "states": rng.normal(size=(length, 3)).astype(np.float32),
            }
        )
    return out


def write(path: Path, eps: list[dict], **kw) -> Path:
    kw = {"obs_shape": OBS, "obs_dtype": np.uint8, "action_dim": 2, "state_dim": 3, **kw}
    with EpisodeWriter(path, **kw) as w:
        for ep in eps:
            w.add_episode(**ep)
    return path


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    msg = str(excinfo.value)
    assert msg and "\n" not in msg
    return msg


def test_round_trip(tmp_path: Path) -> None:
    eps = episodes([5, 1, 7])
    attrs = {"env_id": "x/Y-v0", "seed": 3, "frame_size": 6, "action_space": {"low": -1.0}}
    attrs["metadata_json"] = {"note": "hi", "n": [1, 2]}
    # actions may also be given without the padding row
    given = [dict(ep, actions=ep["actions"][:-1]) if i == 2 else ep for i, ep in enumerate(eps)]
    path = write(tmp_path / "s.h5", given, attrs=attrs)
    assert not partial_path(path).exists()
    with EpisodeStore(path) as s:
        assert (s.num_episodes, s.num_steps) == (3, 13)
        np.testing.assert_array_equal(s.episode_starts, [0, 5, 6])
        np.testing.assert_array_equal(s.episode_lengths, [5, 1, 7])
        assert s.obs_shape == OBS and s.obs_dtype == np.uint8 and s.modality == "frames"
        assert (s.has_actions, s.action_dim, s.state_dim) == (True, 2, 3)
        for i, ep in enumerate(eps):
            got = s.episode(i)
            assert set(got) == {"observations", "actions", "states"}
            for key, value in ep.items():
                np.testing.assert_array_equal(got[key], value)
                assert got[key].dtype == value.dtype
        np.testing.assert_array_equal(s.episode(-1)["states"], eps[2]["states"])
        rows = s.read(4, 8)
        np.testing.assert_array_equal(rows["observations"][1], eps[1]["observations"][0])
        a = s.attrs
        assert a["format_version"] == 1 and a["modality"] == "frames" and a["created"]
        assert {k: a[k] for k in attrs} == attrs
        s.check_finite()
        summary = s.summary()
        assert summary["episodes"] == 3 and summary["length"] == {
            "min": 1,
            "mean": 13 / 3,
            "max": 7,
        }
        real = np.concatenate([ep["actions"][:-1] for ep in eps])
        np.testing.assert_allclose(summary["action_stats"]["max"], real.max(0), rtol=1e-6)
        assert summary["compression"] == "lzf" and summary["chunk_shape"][1:] == list(OBS)
        text = format_summary(summary)
        assert "episodes" in text and "x/Y-v0" in text and str(path) in text
        with pytest.raises(AmiError, match="out of range"):
            s.episode(3)


def test_sensors_gzip_without_actions_or_states(tmp_path: Path) -> None:
    obs = [np.arange(12, dtype=np.float32).reshape(4, 3), np.ones((2, 3), np.float32)]
    path = tmp_path / "v.h5"
    writer = EpisodeWriter(
        path, obs_shape=(3,), obs_dtype=np.float32, action_dim=None, compression="gzip"
    )
    with writer as w:
        for o in obs:
            w.add_episode(o)
        with pytest.raises(AmiError, match="no actions"):
            w.add_episode(obs[0], actions=np.zeros((4, 2)))
    with EpisodeStore(path) as s:
        assert s.modality == "sensors" and s.obs_dtype == np.float32
        assert (s.has_actions, s.action_dim, s.state_dim) == (False, 0, 0)
        assert set(s.episode(0)) == {"observations"}
        np.testing.assert_array_equal(s.episode(1)["observations"], obs[1])
        assert s.summary()["compression"] == "gzip" and s.summary()["action_stats"] is None
        s.check_finite()


def test_writer_validates_input(tmp_path: Path) -> None:
    path = tmp_path / "w.h5"
    ep = episodes([3])[0]
    bad = [
        dict(ep, observations=ep["observations"][:, :4]),  # wrong frame shape
        dict(ep, observations=ep["observations"].astype(np.float32)),  # float frames
        dict(ep, actions=ep["actions"][:, :1]),  # wrong action dim
        dict(ep, states=None),  # store was created with states
    ]
    for kwargs in bad:
        writer = EpisodeWriter(path, obs_shape=OBS, obs_dtype=np.uint8, action_dim=2, state_dim=3)
        with pytest.raises(AmiError) as e, writer as w:
            w.add_episode(**kwargs)
        one_line_error(e)
        assert not path.exists() and not partial_path(path).exists()
    with (
        pytest.raises(AmiError, match="no episodes"),
        EpisodeWriter(path, obs_shape=OBS, obs_dtype=np.uint8, action_dim=2),
    ):
        pass
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AmiError, match="unsupported observations"):
        EpisodeWriter(path, obs_shape=(4,), obs_dtype=np.uint8, action_dim=None)
    with pytest.raises(AmiError, match="compression"):
        EpisodeWriter(path, obs_shape=OBS, obs_dtype=np.uint8, action_dim=None, compression="zstd")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path / "s.h5", episodes([4]))
    before = path.read_bytes()
    with pytest.raises(AmiError, match="already exists") as e:
        write(path, episodes([2], seed=1))
    one_line_error(e)
    assert path.read_bytes() == before
    write(path, episodes([2], seed=1), overwrite=True)
    with EpisodeStore(path) as s:
        assert s.num_steps == 2


def test_atomic_writer_keeps_existing_file_on_error(tmp_path: Path) -> None:
    path = write(tmp_path / "s.h5", episodes([4]))
    before = path.read_bytes()
    with (
        pytest.raises(RuntimeError, match="boom"),
        EpisodeWriter(
            path, obs_shape=OBS, obs_dtype=np.uint8, action_dim=2, state_dim=3, overwrite=True
        ) as w,
    ):
        for ep in episodes([3, 5], seed=2):
            w.add_episode(**ep)
        assert partial_path(path).exists()
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]
    with (
        pytest.raises(KeyboardInterrupt),
        EpisodeWriter(tmp_path / "new.h5", obs_shape=OBS, obs_dtype=np.uint8, action_dim=None),
    ):
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_missing_random_and_truncated_files(tmp_path: Path) -> None:
    with pytest.raises(AmiError, match="dataset not found") as e:
        EpisodeStore(tmp_path / "nope.h5")
    one_line_error(e)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(AmiError, match="not a readable HDF5 file") as e:
        EpisodeStore(junk)
    assert str(junk) in one_line_error(e)
    good = write(tmp_path / "good.h5", episodes([20, 20]))
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 100):
        trunc = tmp_path / f"trunc{cut}.h5"
        trunc.write_bytes(data[:cut])
        with pytest.raises(AmiError, match="corrupt or truncated") as e, EpisodeStore(trunc) as s:
            s.read(0, s.num_steps)
        one_line_error(e)


def test_invalid_store_contents(tmp_path: Path) -> None:
    empty = tmp_path / "empty.h5"
    h5py.File(empty, "w").close()
    with pytest.raises(AmiError, match="missing dataset /observations") as e:
        EpisodeStore(empty)
    one_line_error(e)
    cases = {
        "version": lambda f: f.attrs.__setitem__("format_version", 2),
        "lengths": lambda f: f["episode_lengths"].__setitem__(0, 3),
        "actions": lambda f: (f.__delitem__("actions"), f.create_dataset("actions", (5, 2), "f4")),
        "modality": lambda f: f.attrs.__setitem__("modality", "audio"),
    }
    messages = {
        "version": "unsupported format_version 2",
        "lengths": "episode 1 has start",
        "actions": "/actions has shape",
        "modality": "modality",
    }
    for name, damage in cases.items():
        path = write(tmp_path / f"{name}.h5", episodes([4, 3]))
        with h5py.File(path, "a") as f:
            damage(f)
        with pytest.raises(AmiError, match=messages[name]) as e:
            EpisodeStore(path)
        one_line_error(e)


@pytest.mark.parametrize("dataset", ["actions", "states"])
def test_check_finite_names_first_bad_row(tmp_path: Path, dataset: str) -> None:
    eps = episodes([4, 6])
    eps[1][dataset][2, 1] = np.nan
    eps[1][dataset][4, 0] = np.inf
    path = write(tmp_path / "nan.h5", eps)
    with EpisodeStore(path) as s, pytest.raises(AmiError) as e:
        s.check_finite()
    msg = one_line_error(e)
    assert f"/{dataset} row 6 (episode 1, step 2)" in msg and str(path) in msg


def test_check_finite_sensor_observations(tmp_path: Path) -> None:
    path = tmp_path / "v.h5"
    obs = np.zeros((5, 2), np.float32)
    obs[3, 1] = -np.inf
    with EpisodeWriter(path, obs_shape=(2,), obs_dtype=np.float32, action_dim=None) as w:
        w.add_episode(obs)
    with EpisodeStore(path) as s, pytest.raises(AmiError, match=r"/observations row 3"):
        s.check_finite()


def test_store_pickles_and_reopens(tmp_path: Path) -> None:
    eps = episodes([3, 4])
    s = EpisodeStore(write(tmp_path / "s.h5", eps))
    s.episode(0)
    clone = pickle.loads(pickle.dumps(s))
    s.close()
    np.testing.assert_array_equal(clone.episode(1)["observations"], eps[1]["observations"])
    clone.close()
