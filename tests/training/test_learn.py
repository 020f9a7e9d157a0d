"""`learn`: fine-tuning a world model from persistent memory (encoder frozen, rehearsal)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from amiwm.cli import main
from amiwm.config import RunConfig
from amiwm.data.store import EpisodeWriter
from amiwm.errors import AmiError
from amiwm.memory import MemoryStore, Records, checkpoint_fingerprint
from amiwm.memory.learn import (
    LearnConfig,
    compatible_fingerprints,
    learn,
    memorize,
    memory_windows,
)
from amiwm.models.world_model import WorldModel
from amiwm.training.trainer import train


def square_store(path: Path, speed: float, episodes: int = 8, length: int = 12) -> Path:
    """32x32 frames of a square that moves by `speed` * action each step; a blue band on the
    left shows a negative speed (a visible change, like a moved door)."""
    rng = np.random.default_rng(int(abs(speed) * 100) + 7)
    with EpisodeWriter(path, obs_shape=(32, 32, 3), obs_dtype=np.uint8, action_dim=2) as w:
        for _ in range(episodes):
            pos = rng.uniform(10, 22, 2)
            obs, act = [], []
            for _t in range(length):
                frame = np.zeros((32, 32, 3), np.uint8)
                x, y = pos.astype(int)
                frame[y - 2 : y + 2, x - 2 : x + 2, 0] = 255
                frame[:, :3, 2] = 255 if speed < 0 else 0
                a = rng.uniform(-1, 1, 2).astype(np.float32)
                obs.append(frame)
                act.append(a)
                pos = np.clip(pos + speed * a, 4, 28)
            act[-1] = np.zeros(2, np.float32)
            w.add_episode(np.stack(obs), np.stack(act))
    return path


def digests(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("learn")
    old = square_store(root / "old.h5", speed=2.0)
    cfg = RunConfig(dataset=str(old))
    m = cfg.model
    m.latent_dim, m.encoder_width, m.predictor_dim, m.predictor_depth = 8, 8, 16, 1
    m.predictor_heads = 2
    t = cfg.train
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.warmup_steps = 30, 8, 3, 30, 2
    t.lr = 3e-3
    train(cfg, root / "base", progress=False)
    new = square_store(root / "new.h5", speed=-3.0)  # reversed, faster: new dynamics
    model = WorldModel.from_pretrained(root / "base")
    fp = checkpoint_fingerprint(root / "base")
    n = memorize(model, new, root / "mem", fingerprint=fp, capacity=10_000)
    assert n == 8 * 11
    return {"root": root, "base": root / "base", "mem": root / "mem", "old": old}


def quick(steps: int = 300) -> LearnConfig:
    return LearnConfig(steps=steps, batch_size=16, lr=5e-3, replay_windows=64, holdout=0.25)


def test_learn_reduces_memory_error_and_leaves_input_alone(setup, tmp_path):
    base, mem = setup["base"], setup["mem"]
    before = digests(base)
    mem_before = digests(mem)
    out = tmp_path / "learned"
    r = learn(base, mem, out, quick(), progress=False)
    assert digests(base) == before and digests(mem) == mem_before
    assert r.records == 88 and r.episodes == 8 and r.window == 3
    assert r.windows == 6 * 10  # 2 of 8 episodes held out, 10 windows of 3 per episode
    assert r.after["memory"] < 0.5 * r.before["memory"]
    assert np.isfinite(r.after["held_out"])  # 6 training episodes are too few to generalise
    assert r.replay_windows == 64 and np.isfinite(r.after["replay"])
    assert "88 records in 8 episodes" in r.summary() and "encoder frozen" in r.summary()
    old, new = WorldModel.from_pretrained(base), WorldModel.from_pretrained(out)
    for k, v in old.encoder.state_dict().items():
        assert torch.equal(v, new.encoder.state_dict()[k]), k  # latents stay valid
    assert any(
        not torch.equal(v, new.predictor.state_dict()[k])
        for k, v in old.predictor.state_dict().items()
    )
    info = json.loads((out / "learn.json").read_text())
    assert info["encoder"] == "frozen" and info["held_out_episodes"]
    assert (out / "metrics.jsonl").read_text().count("\n") == 30
    fps = compatible_fingerprints(out)
    assert fps[0] == checkpoint_fingerprint(out) and checkpoint_fingerprint(base) in fps
    # the memory stays usable by the learned model: learn again from it
    again = learn(out, mem, tmp_path / "again", quick(5), progress=False)
    assert again.records == 88
    assert not list(tmp_path.glob(".*learn-tmp*"))


def test_out_is_refused_when_not_empty_or_the_input(setup, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "x").write_text("keep")
    with pytest.raises(AmiError, match="not empty"):
        learn(setup["base"], setup["mem"], out, quick(1), progress=False)
    assert (out / "x").read_text() == "keep"
    with pytest.raises(AmiError, match="not empty|overwrite"):
        learn(setup["base"], setup["mem"], setup["base"], quick(1), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    learn(setup["base"], setup["mem"], empty, quick(1), progress=False)
    assert (empty / "checkpoint" / "manifest.json").is_file()


def test_bad_memory_and_foreign_model(setup, tmp_path):
    base = setup["base"]
    with pytest.raises(AmiError, match="memory store not found"):
        learn(base, tmp_path / "nope", tmp_path / "o1", quick(1), progress=False)
    (tmp_path / "junk").mkdir()
    with pytest.raises(AmiError, match="not an amiwm memory store"):
        learn(base, tmp_path / "junk", tmp_path / "o2", quick(1), progress=False)
    foreign = MemoryStore.create(tmp_path / "foreign", 8, 2, 100, fingerprint="sha256:other")
    foreign.extend(np.zeros((3, 8)), np.zeros((3, 2)), np.ones((3, 8)), [0, 0, 0], [0, 1, 2])
    foreign.close()
    with pytest.raises(AmiError, match="written by model sha256:other"):
        learn(base, tmp_path / "foreign", tmp_path / "o3", quick(1), progress=False)
    MemoryStore.create(tmp_path / "wide", 5, 2, 100).close()
    with pytest.raises(AmiError, match="5-dim latents"):
        learn(base, tmp_path / "wide", tmp_path / "o4", quick(1), progress=False)
    MemoryStore.create(tmp_path / "empty", 8, 2, 100).close()
    with pytest.raises(AmiError, match="holds no records"):
        learn(base, tmp_path / "empty", tmp_path / "o5", quick(1), progress=False)
    with pytest.raises(AmiError, match="replay-fraction 0"):
        learn(
            base, setup["mem"], tmp_path / "o6", quick(1), replay=tmp_path / "x.h5", progress=False
        )
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))


def test_cli(setup, tmp_path, capsys):
    args = ["learn", "--checkpoint", str(setup["base"]), "--memory", str(setup["mem"])]
    out = tmp_path / "cli"
    flags = ["--steps", "3", "--replay-fraction", "0", "--quiet"]
    assert main([*args, "--out", str(out), *flags]) == 0
    text = capsys.readouterr().out
    assert text.startswith("learned from 88 records in 8 episodes") and "->" in text
    assert "rehearsal" not in text
    assert main([*args, "--out", str(out), *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --out") and "\n" not in err
    assert main([*args, "--out", str(tmp_path / "o"), "--replay-fraction", "1.5"]) == 1
    assert "replay-fraction" in capsys.readouterr().err


def test_memory_windows_follow_episodes_and_times():
    n, d = 9, 2
    episode = np.array([0, 0, 0, 0, 1, 1, 1, 0, 2])
    time = np.array([3, 1, 2, 0, 0, 1, 3, 5, 0])  # gaps: ep 0 has 0..3, 5; ep 1 has 0, 1, 3
    z = np.arange(n * d, dtype=np.float32).reshape(n, d)
    recs = Records(
        id=np.arange(n),
        latent=z,
        action=np.arange(n, dtype=np.float32)[:, None],
        next_latent=z + 100,
        episode=episode,
        time=time,
        frame_ref=np.full(n, -1),
        wall=np.zeros(n),
    )
    zw, aw, ew = memory_windows(recs, 3)
    # runs of 2 consecutive records: ep 0 times (0,1), (1,2), (2,3); ep 1 times (0,1)
    assert ew.tolist() == [0, 0, 0, 1]
    assert aw[:, :, 0].tolist() == [[3, 1], [1, 2], [2, 0], [4, 5]]
    assert np.array_equal(zw[0], np.stack([z[3], z[1], z[1] + 100]))
    assert memory_windows(recs, 2)[0].shape == (n, 2, d)
    assert len(memory_windows(recs, 5)[0]) == 1  # only ep 0 times 0..3


def test_a_proprio_model_remembers_and_rehearses_with_its_states(tmp_path):
    """memorize and the rehearsal encode frames with their robot states (a proprio model's
    latents depend on both): the stored latents equal model.encode(frames, states)."""
    from amiwm.config import ModelConfig
    from amiwm.data.store import EpisodeStore
    from amiwm.memory.learn import encode_windows

    rng = np.random.default_rng(0)
    path = tmp_path / "s.h5"
    with EpisodeWriter(
        path, obs_shape=(16, 16, 3), obs_dtype=np.uint8, action_dim=2, state_dim=3
    ) as w:
        for _ in range(3):
            w.add_episode(
                rng.integers(0, 255, (6, 16, 16, 3), dtype=np.uint8),
                rng.uniform(-1, 1, (6, 2)).astype(np.float32),
                rng.normal(size=(6, 3)).astype(np.float32),
            )
    torch.manual_seed(0)
    cfg = ModelConfig(obs_shape=[16, 16, 3], latent_dim=8, encoder_width=8, history=1,
                      action_low=[-1.0, -1.0], action_high=[1.0, 1.0], proprio=True,
                      state_dim=3)  # fmt: skip
    model = WorldModel(cfg).eval()
    assert memorize(model, path, tmp_path / "mem", fingerprint="x", capacity=100) == 15
    with EpisodeStore(path) as s:
        ep = s.episode(0)
    want = model.encode(ep["observations"], ep["states"]).detach().numpy()
    with MemoryStore(tmp_path / "mem", readonly=True) as mem:
        rec = mem.records(np.arange(5))
    np.testing.assert_allclose(rec.latent, want[:5], atol=1e-5)
    z, _ = encode_windows(model, path, 6, 1, [0], seed=0)
    np.testing.assert_allclose(z[0], want, atol=1e-5)
