"""Folders of videos / image sequences with action logs, and foreign HDF5 / NPZ files."""

import json

import h5py
import numpy as np
import pytest

pytest.importorskip("av")

from amiwm.data.formats.corpus import detect, open_corpus  # noqa: E402
from amiwm.data.formats.folders import ArrayKeys  # noqa: E402
from amiwm.data.formats.lerobot_write import write_video  # noqa: E402
from amiwm.data.formats.logs import read_log  # noqa: E402
from amiwm.errors import AmiError  # noqa: E402


def frames(t, h=32, w=32, c=3):
    f = np.zeros((t, h, w, c), np.uint8)
    f[..., 0] = (np.arange(t) * 25 % 250)[:, None, None]
    return f


def test_action_logs_of_every_kind(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    (tmp_path / "x.csv").write_text(
        "frame,ax,ay,az\n" + "".join(f"{i},{r[0]},{r[1]},{r[2]}\n" for i, r in enumerate(a))
    )
    (tmp_path / "y.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in a))
    np.save(tmp_path / "z.npy", a)
    (tmp_path / "w.jsonl").write_text("".join(json.dumps({"action": r.tolist()}) + "\n" for r in a))
    for name in ("x.csv", "y.csv", "z.npy", "w.jsonl"):
        np.testing.assert_array_equal(read_log(tmp_path / name), a)
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"action": a.tolist(), "t": [0, 1, 2, 3]}), tmp_path / "v.parquet")
    np.testing.assert_array_equal(read_log(tmp_path / "v.parquet"), a)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(AmiError, match="line 3 has 1 cells"):
        read_log(tmp_path / "bad.csv")


def test_videos_folder_with_state(tmp_path):
    for i, t in enumerate((6, 9)):
        write_video(tmp_path / f"ep{i}.mp4", frames(t))
        np.save(tmp_path / f"ep{i}.npy", np.full((t, 2), i, np.float32))
        np.save(tmp_path / f"ep{i}.state.npy", np.arange(t, dtype=np.float32))
    assert detect(tmp_path) == "videos"
    c = open_corpus(str(tmp_path))
    assert (c.num_episodes, c.num_frames, c.action_dim, c.state_dim) == (2, 15, 2, 1)
    assert c.cameras[0].codec == "h264" and (c.cameras[0].height, c.cameras[0].width) == (32, 32)
    eps = list(c.read())
    assert [sum(len(f) for f in e.frames()) for e in eps] == [6, 9]
    assert (eps[1].actions == 1).all() and eps[1].state[:, 0].tolist() == list(range(9))


def test_missing_action_log_is_a_problem(tmp_path):
    write_video(tmp_path / "a.mp4", frames(4))
    assert "no action log" in open_corpus(str(tmp_path)).problems[0]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_image_sequences(tmp_path, mode):
    from PIL import Image

    for e in range(2):
        d = tmp_path / f"run{e}"
        d.mkdir()
        for k in range(11):  # natural order: 2 before 10
            arr = np.full((20, 30, len(mode)), 10 * k, np.uint8).squeeze()
            Image.fromarray(arr, mode).save(d / f"{k}.png")
        np.save(tmp_path / f"run{e}.npy", np.zeros((11, 1), np.float32))
    assert detect(tmp_path) == "images"
    c = open_corpus(str(tmp_path))
    assert c.cameras[0].channels == len(mode) and c.num_frames == 22
    f = np.concatenate(list(next(iter(c.read())).frames()))
    assert f.shape[:3] == (11, 20, 30)
    assert f.reshape(11, -1)[:, 0].tolist() == [10 * k for k in range(11)]


def test_hdf5_with_episode_groups_and_channels_first(tmp_path):
    with h5py.File(tmp_path / "demo.hdf5", "w") as f:
        for e, t in enumerate((5, 8)):
            g = f.create_group(f"data/demo_{e}")
            g["obs/agentview"] = np.zeros((t, 3, 16, 24), np.uint8) + e
            g["actions"] = np.ones((t, 7), np.float32)
            g["obs/joints"] = np.zeros((t, 9), np.float32)
    keys = ArrayKeys(frames="obs/agentview", state="obs/joints", episodes="data")
    c = open_corpus(f"hdf5:{tmp_path / 'demo.hdf5'}", keys=keys)
    assert (c.num_episodes, c.num_frames, c.action_dim, c.state_dim) == (2, 13, 7, 9)
    f = np.concatenate(list(list(c.read())[1].frames()))
    assert f.shape == (8, 16, 24, 3) and (f == 1).all()
    with pytest.raises(AmiError, match="--frames-key"):
        open_corpus(f"hdf5:{tmp_path / 'demo.hdf5'}", keys=ArrayKeys(episodes="data"))


def test_npz_folder(tmp_path):
    for e in range(3):
        np.savez(
            tmp_path / f"e{e}.npz", images=frames(4, 8, 8, 1)[..., 0], actions=np.zeros((4, 2))
        )
    c = open_corpus(str(tmp_path))
    assert c.layout == "npz" and c.num_episodes == 3 and c.state_dim is None
    f = np.concatenate(list(next(iter(c.read())).frames()))
    assert f.shape == (4, 8, 8, 1)


def test_detection_errors(tmp_path):
    with pytest.raises(AmiError, match="empty folder"):
        detect(tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(AmiError, match="no robot corpus"):
        detect(tmp_path)
    write_video(tmp_path / "a.mp4", frames(3))
    np.savez(tmp_path / "b.npz", images=frames(3), actions=np.zeros((3, 1)))
    with pytest.raises(AmiError, match="prefix"):
        detect(tmp_path)
    assert open_corpus(f"npz:{tmp_path}").layout == "npz"
