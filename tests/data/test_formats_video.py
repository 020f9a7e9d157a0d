"""PyAV video helpers and LeRobot v2.1/v3.0 readers, on tiny videos written on the fly."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("pyarrow")

from amiwm.data.formats.corpus import describe_corpus, open_corpus  # noqa: E402
from amiwm.data.formats.lerobot_write import LeRobotRecorder, write_video  # noqa: E402
from amiwm.data.formats.video import VideoReader, probe, read_frames  # noqa: E402
from amiwm.errors import AmiError  # noqa: E402

TOP, WRIST = "observation.images.top", "observation.images.wrist"


def ramp(t: int, h: int, w: int, base: int = 0) -> np.ndarray:
    """Frame k is a flat colour: red 20k, green ``base``, right half blue."""
    f = np.zeros((t, h, w, 3), np.uint8)
    f[..., 0] = (np.arange(t) * 20 % 240)[:, None, None]
    f[..., 1] = base
    f[:, :, w // 2 :, 2] = 200
    return f


def av1_encoder() -> bool:
    import av

    try:
        av.Codec("libsvtav1", "w")
        return True
    except Exception:
        return False


def test_probe_and_decode_h264(tmp_path):
    path = write_video(tmp_path / "a.mp4", ramp(12, 48, 64), fps=15)
    info = probe(path)
    assert (info.codec, info.width, info.height, info.frames) == ("h264", 64, 48, 12)
    assert info.fps == pytest.approx(15)
    frames = np.concatenate(list(read_frames(path, chunk=5)))
    assert frames.shape == (12, 48, 64, 3)
    assert np.abs(frames[:, 10, 5, 0].astype(int) - np.arange(12) * 20).max() <= 6


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".avi"])
def test_other_containers(tmp_path, suffix):
    codec = "h264" if suffix != ".webm" else ("av1" if av1_encoder() else None)
    if codec is None:
        pytest.skip("no AV1 encoder in this PyAV build")
    h, w = (64, 64) if codec == "av1" else (32, 48)
    path = write_video(tmp_path / f"a{suffix}", ramp(9, h, w), fps=10, codec=codec)
    assert probe(path).frames == 9
    assert sum(len(c) for c in read_frames(path)) == 9


def test_time_ranges_decode_forward_and_seek_back(tmp_path):
    path = write_video(tmp_path / "a.mp4", ramp(40, 32, 32), fps=10)
    with VideoReader(path) as r:
        a = np.concatenate(list(r.frames(0.0, 1.2)))
        b = np.concatenate(list(r.frames(1.2, 2.0)))
        c = np.concatenate(list(r.frames(0.5, 0.8)))  # backwards: a seek
    assert (len(a), len(b), len(c)) == (12, 8, 3)
    assert abs(int(b[0, 0, 0, 0]) - 12 * 20 % 240) <= 6
    assert abs(int(c[0, 0, 0, 0]) - 5 * 20) <= 6


def test_bad_videos_are_one_line_errors(tmp_path):
    good = write_video(tmp_path / "a.mp4", ramp(10, 32, 32)).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 50)
    (tmp_path / "codec.mp4").write_bytes(good.replace(b"avc1", b"zzzz"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name, msg in [
        ("cut.mp4", "truncated"),
        ("junk.mp4", "cannot open"),
        ("codec.mp4", "unknown video codec"),
        ("empty.mp4", "empty video"),
    ]:
        with pytest.raises(AmiError, match=msg) as err:
            probe(tmp_path / name)
        assert "\n" not in str(err.value)


def record(root: Path, version: str, codec="h264", lengths=(5, 7, 6), size=(32, 48), per_file=0):
    rng = np.random.default_rng(0)
    rec = LeRobotRecorder(
        root, 10, {TOP: size, WRIST: (32, 32)}, 2, 3, version, codec, episodes_per_file=per_file
    )
    truth = []
    for e, t in enumerate(lengths):
        actions = np.arange(t * 2, dtype=np.float32).reshape(t, 2) + 100 * e
        state = rng.normal(size=(t, 3)).astype(np.float32)
        rec.add_episode({TOP: ramp(t, *size, base=40 * e), WRIST: ramp(t, 32, 32)}, actions, state)
        truth.append((actions, state))
    rec.close()
    return truth


@pytest.mark.parametrize("version,per_file", [("v2.1", 0), ("v3.0", 0), ("v3.0", 2)])
def test_lerobot_reads_episodes(tmp_path, version, per_file):
    truth = record(tmp_path, version, per_file=per_file)
    if per_file:  # episodes 0-1 share file-000, episode 2 is alone in file-001
        assert len(list((tmp_path / "videos" / TOP).rglob("file-*.mp4"))) == 2
    corpus = open_corpus(f"lerobot:{tmp_path}")
    assert (corpus.layout, corpus.version, corpus.num_episodes) == ("lerobot", version, 3)
    assert (corpus.action_dim, corpus.state_dim, corpus.num_frames) == (2, 3, 18)
    assert corpus.camera == TOP and "pick another with --camera" in corpus.notes[0]
    for (actions, state), ep in zip(truth, corpus.read(), strict=True):
        frames = np.concatenate(list(ep.frames()))
        assert frames.shape == (len(actions), 32, 48, 3)
        green = 40 * int(ep.name.split()[1])
        assert np.abs(frames[:, 4, 4, 1].astype(int) - green).max() <= 6
        assert np.abs(frames[:, 4, 4, 0].astype(int) - np.arange(len(actions)) * 20).max() <= 6
        np.testing.assert_array_equal(ep.actions, actions)
        np.testing.assert_allclose(ep.state, state)


def test_lerobot_v3_av1_and_camera_choice(tmp_path):
    if not av1_encoder():
        pytest.skip("no AV1 encoder in this PyAV build")
    record(tmp_path, "v3.0", "av1", size=(64, 64))
    corpus = open_corpus(str(tmp_path), camera="wrist")
    assert corpus.camera == WRIST
    assert {c.key: c.codec for c in corpus.cameras} == {TOP: "av1", WRIST: "av1"}
    sizes = [sum(len(c) for c in ep.frames()) for ep in corpus.read()]
    assert sizes == [5, 7, 6]
    with pytest.raises(AmiError, match="no camera 'side'"):
        open_corpus(str(tmp_path), camera="side")


def test_lerobot_unknown_version_and_missing_files(tmp_path):
    record(tmp_path, "v2.1")
    info = tmp_path / "meta" / "info.json"
    text = info.read_text()
    info.write_text(text.replace('"v2.1"', '"v9.9"'))
    with pytest.raises(AmiError, match="codebase_version 'v9.9'"):
        open_corpus(str(tmp_path))
    info.write_text(text)
    next((tmp_path / "videos").rglob(f"{TOP}/episode_000001.mp4")).unlink()
    d = describe_corpus(str(tmp_path))
    assert d["problems"] and "missing" in d["problems"][0]


def test_lerobot_image_features_in_parquet(tmp_path):
    """Cameras of dtype "image": PNG bytes inside the episode parquet (LeRobot without videos)."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    def png(value):
        buf = io.BytesIO()
        Image.fromarray(np.full((12, 16, 3), value, np.uint8)).save(buf, format="PNG")
        return {"bytes": buf.getvalue(), "path": None}

    (tmp_path / "meta").mkdir()
    (tmp_path / "data" / "chunk-000").mkdir(parents=True)
    features = {
        "observation.image": {"dtype": "image", "shape": [12, 16, 3], "names": None},
        "action": {"dtype": "float32", "shape": [1], "names": None},
    }
    info = {"codebase_version": "v2.1", "fps": 5, "chunks_size": 1000, "features": features}
    (tmp_path / "meta" / "info.json").write_text(json.dumps(info))
    (tmp_path / "meta" / "episodes.jsonl").write_text('{"episode_index": 0, "length": 3}\n')
    table = pa.table({"observation.image": [png(v) for v in (10, 20, 30)], "action": [[0.0]] * 3})
    pq.write_table(table, tmp_path / "data" / "chunk-000" / "episode_000000.parquet")
    corpus = open_corpus(str(tmp_path))
    assert corpus.cameras[0].codec == "image" and corpus.num_frames == 3
    ep = next(iter(corpus.read()))
    frames = np.concatenate(list(ep.frames()))
    assert frames.shape == (3, 12, 16, 3) and frames[:, 0, 0, 0].tolist() == [10, 20, 30]
