"""Training streams windows from the HDF5 store: memory does not grow with the dataset.

Two identical small trainings in child processes, one on a store of 600 frames and one on a
store of 400 MB of incompressible frames: the peak resident memory may differ by much less
than the larger store's size (it grows by about 400 MB when the store is loaded: checked by
hand with a WindowDataset patched to keep the observations in memory).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from amiwm.config import RunConfig
from amiwm.data.store import EpisodeWriter

SIZE, LENGTH = 64, 200


def noise_store(path: Path, episodes: int) -> Path:
    rng = np.random.default_rng(0)
    with EpisodeWriter(
        path, obs_shape=(SIZE, SIZE, 3), obs_dtype=np.uint8, action_dim=2, compression="none"
    ) as w:
        for _ in range(episodes):
            obs = rng.integers(0, 256, (LENGTH, SIZE, SIZE, 3), dtype=np.uint8)
            act = rng.uniform(-1, 1, (LENGTH, 2)).astype(np.float32)
            act[-1] = 0
            w.add_episode(observations=obs, actions=act)
    return path


def peak_rss_of_training(tmp: Path, store: Path) -> int:
    cfg = RunConfig(dataset=str(store))
    m, t = cfg.model, cfg.train
    m.latent_dim, m.encoder_width, m.predictor_dim, m.predictor_depth = 16, 8, 32, 1
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.log_every = 30, 32, 4, 15, 10
    path = tmp / f"{store.stem}.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    script = (
        "import resource, sys\n"
        "from amiwm.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(rc)\n"
    )
    cmd = [sys.executable, "-c", script, "train", "--config", str(path), "--out",
           str(tmp / store.stem), "--device", "cpu", "--quiet"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    peak = [line for line in r.stdout.splitlines() if line.startswith("PEAK")]
    return int(peak[0].split()[1]) * 1024  # ru_maxrss is in KiB on Linux


def test_training_memory_does_not_grow_with_the_store(tmp_path):
    small = noise_store(tmp_path / "small.h5", episodes=3)
    big = noise_store(tmp_path / "big.h5", episodes=160)
    big_bytes = 160 * LENGTH * SIZE * SIZE * 3
    assert big.stat().st_size > 0.95 * big_bytes  # really 400 MB on disk: noise does not compress
    grow = peak_rss_of_training(tmp_path, big) - peak_rss_of_training(tmp_path, small)
    assert grow < 0.25 * big_bytes, f"peak RSS grew by {grow / 2**20:.0f} MiB"
