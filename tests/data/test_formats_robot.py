"""Importing robot corpora into episode stores: content, frameskip, bad input, atomicity, cache."""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("pyarrow")

from amiwm.cli import main  # noqa: E402
from amiwm.data.formats.lerobot_write import LeRobotRecorder, write_video  # noqa: E402
from amiwm.data.formats.robot import cached_import, combine_actions, import_corpus  # noqa: E402
from amiwm.data.formats.video import read_frames  # noqa: E402
from amiwm.data.store import EpisodeStore  # noqa: E402
from amiwm.errors import AmiError  # noqa: E402
from amiwm.frames import fit_frames  # noqa: E402

CAM = "observation.images.top"


def frames(t, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    f = np.zeros((t, h, w, 3), np.uint8)
    f[..., 0] = (np.arange(t) * 20 % 240)[:, None, None]
    f[:, : h // 2, :, 1] = 180
    f[..., 2] = rng.integers(0, 30, (h, w))
    return f


def lerobot(root, lengths=(6, 8), version="v2.1", state=True):
    rec = LeRobotRecorder(root, 10, {CAM: (48, 64)}, 2, 3 if state else None, version)
    for e, t in enumerate(lengths):
        a = np.arange(2 * t, dtype=np.float32).reshape(t, 2) + 100 * e
        s = np.full((t, 3), e, np.float32) if state else None
        rec.add_episode({CAM: frames(t, seed=e)}, a, s)
    return rec.close()


def videos(root, lengths=(5, 7), size=(32, 32)):
    root.mkdir(parents=True, exist_ok=True)
    for e, t in enumerate(lengths):
        write_video(root / f"ep{e}.mp4", frames(t, *size))
        np.save(root / f"ep{e}.npy", np.ones((t, 2), np.float32) * e)
    return root


def test_import_lerobot_frames_actions_state(tmp_path):
    src = lerobot(tmp_path / "ds")
    out = import_corpus(str(src), tmp_path / "s.h5", frame_size=32, resize="pad", progress=False)
    with EpisodeStore(out) as s:
        assert s.obs_shape == (32, 32, 3) and s.episode_lengths.tolist() == [6, 8]
        assert s.attrs["camera_shape"] == [48, 64, 3] and s.attrs["resize"] == "pad"
        assert s.attrs["layout"] == "lerobot" and s.attrs["camera"] == CAM
        ep = s.episode(1)
        np.testing.assert_array_equal(ep["actions"][:-1], np.arange(14).reshape(7, 2) + 100)
        assert (ep["actions"][-1] == 0).all() and (ep["states"] == 1).all()
        video = next((src / "videos").rglob("episode_000001.mp4"))
        decoded = np.concatenate(list(read_frames(video)))
        np.testing.assert_array_equal(ep["observations"], fit_frames(decoded, (32, 32), "pad"))


def test_frameskip_combines_actions(tmp_path):
    a = np.arange(14, dtype=np.float32).reshape(7, 2)
    np.testing.assert_array_equal(combine_actions(a, 3, "concat"), a[:6].reshape(2, 6))
    np.testing.assert_array_equal(combine_actions(a, 3, "sum"), [a[:3].sum(0), a[3:6].sum(0)])
    np.testing.assert_array_equal(combine_actions(a, 3, "first"), a[[0, 3]])
    src = lerobot(tmp_path / "ds", lengths=(7,))
    out = import_corpus(str(src), tmp_path / "s.h5", frameskip=3, frame_size=16, progress=False)
    with EpisodeStore(out) as s:
        ep = s.episode(0)
        assert s.action_dim == 6 and len(ep["observations"]) == 3  # frames 0, 3, 6
        np.testing.assert_array_equal(ep["actions"][:2], a[:6].reshape(2, 6))
        assert s.attrs["action_combine"] == "concat" and s.attrs["fps"] == pytest.approx(10 / 3)


def _break(kind, root):
    """Build a corpus with one defect; return (spec, expected message part)."""
    if kind == "truncated":
        videos(root)
        b = (root / "ep1.mp4").read_bytes()
        (root / "ep1.mp4").write_bytes(b[: len(b) // 2])
        return str(root), "ep1.mp4"
    if kind == "undecodable":
        videos(root)
        (root / "ep0.mp4").write_bytes(b"\x00garbage" * 100)
        return str(root), "cannot open the video"
    if kind == "unknown codec":
        videos(root)
        b = (root / "ep0.mp4").read_bytes()
        (root / "ep0.mp4").write_bytes(b.replace(b"avc1", b"zzzz"))
        return str(root), "unknown video codec"
    if kind == "missing log":
        videos(root)
        (root / "ep1.npy").unlink()
        return str(root), "no action log"
    if kind == "lengths":
        videos(root)
        np.save(root / "ep1.npy", np.zeros((9, 2), np.float32))
        return str(root), "ep1.mp4: 7 frames but 9 actions"
    if kind == "nan":
        videos(root)
        a = np.zeros((7, 2), np.float32)
        a[3, 1] = np.nan
        np.save(root / "ep1.npy", a)
        return str(root), "ep1.mp4: action at frame 3 is NaN"
    if kind == "mixed resolution":
        videos(root, lengths=(5,))
        write_video(root / "ep1.mp4", frames(4, 48, 32))
        np.save(root / "ep1.npy", np.zeros((4, 2), np.float32))
        return str(root), "ep1.mp4 is 32x48 h264 but ep0.mp4 is 32x32"
    if kind == "mixed images":
        from PIL import Image

        (root / "a").mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "a" / "0.png")
        Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(root / "a" / "1.png")
        np.save(root / "a.npy", np.zeros((2, 1), np.float32))
        return str(root), "one camera needs one resolution"
    if kind == "empty":
        root.mkdir(parents=True)
        return str(root), "empty folder"
    if kind == "version":
        lerobot(root)
        info = root / "meta" / "info.json"
        info.write_text(info.read_text().replace('"v2.1"', '"v1.6"'))
        return f"lerobot:{root}", "codebase_version 'v1.6'"
    raise AssertionError(kind)


BAD = [
    "truncated",
    "undecodable",
    "unknown codec",
    "missing log",
    "lengths",
    "nan",
    "mixed resolution",
    "mixed images",
    "empty",
    "version",
]


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_one_line_nonzero_nothing_written(tmp_path, monkeypatch, capsys, kind):
    cache = tmp_path / "cache"
    monkeypatch.setenv("AMIWM_CACHE", str(cache))
    spec, message = _break(kind, tmp_path / "corpus")
    rc = main(["train", "--dataset", spec, "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.count("\n") == 0 and message in err, err
    assert not (tmp_path / "run").exists()
    assert not cache.exists() or not any(cache.iterdir())


def test_failed_import_leaves_an_existing_store_untouched(tmp_path):
    src = videos(tmp_path / "c")
    out = import_corpus(str(src), tmp_path / "s.h5", frame_size=16, progress=False)
    before = out.read_bytes()
    np.save(src / "ep1.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(AmiError, match="7 frames but 3 actions"):
        import_corpus(str(src), out, frame_size=16, progress=False, overwrite=True)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cache_is_keyed_by_content_not_path(tmp_path, monkeypatch):
    monkeypatch.setenv("AMIWM_CACHE", str(tmp_path / "cache"))
    src = lerobot(tmp_path / "a")
    first, reused = cached_import(str(src), frame_size=16, progress=False)
    assert not reused
    shutil.copytree(src, tmp_path / "b")  # same content elsewhere: same import
    again, reused = cached_import(str(tmp_path / "b"), frame_size=16, progress=False)
    assert reused and again == first
    other, reused = cached_import(str(src), frame_size=32, progress=False)  # other options
    assert not reused and other != first
    meta = tmp_path / "b" / "meta" / "episodes.jsonl"  # changed content: a new import
    meta.write_text(meta.read_text().replace('"tasks": [""]', '"tasks": ["push"]'))
    changed, reused = cached_import(str(tmp_path / "b"), frame_size=16, progress=False)
    assert not reused and changed != first


def test_inspect_a_corpus(tmp_path, capsys):
    src = lerobot(tmp_path / "ds", version="v3.0")
    assert main(["data", "inspect", str(src)]) == 0
    text = capsys.readouterr().out
    assert "lerobot v3.0" in text and "64x48" in text and "h264" in text
    assert "dim 2" in text and "dim 3" in text and "problems  none found" in text
    (tmp_path / "v").mkdir()
    write_video(tmp_path / "v" / "a.mp4", frames(3))
    assert main(["data", "inspect", f"videos:{tmp_path / 'v'}"]) == 1
    assert "no action log" in capsys.readouterr().out


def test_train_reuses_the_import_and_the_model_takes_camera_frames(tmp_path, monkeypatch):
    import torch

    from amiwm.models.world_model import WorldModel

    monkeypatch.setenv("AMIWM_CACHE", str(tmp_path / "cache"))
    src = lerobot(tmp_path / "ds", lengths=(8, 8, 8))
    common = ["--steps", "2", "--batch-size", "4", "--frame-size", "32", "--quiet"]
    assert main(["train", "--dataset", str(src), "--out", str(tmp_path / "r1"), *common]) == 0
    assert main(["train", "--dataset", str(src), "--out", str(tmp_path / "r2"), *common]) == 0
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert (tmp_path / "r1" / "data.h5").samefile(tmp_path / "r2" / "data.h5")
    cfg = json.loads((tmp_path / "r1" / "config.json").read_text())
    assert cfg["model"]["camera_shape"] == [48, 64, 3] and cfg["model"]["resize"] == "crop"
    model = WorldModel.from_pretrained(tmp_path / "r1")
    video = next((src / "videos").rglob("episode_000002.mp4"))
    camera = np.concatenate(list(read_frames(video)))  # 48 x 64, as the camera delivers them
    with EpisodeStore(tmp_path / "r1" / "data.h5") as s:
        stored = s.episode(2)["observations"]
    with torch.no_grad():
        assert torch.equal(model.encode(camera), model.encode(stored))
        gray = camera[..., 0]  # grayscale camera frames work too
        assert model.encode(gray).shape == (8, model.config.latent_dim)
    model.config.resize = ""  # a model without a camera policy (old checkpoints) refuses them
    with pytest.raises(AmiError, match="expects"):
        model.encode(camera)
