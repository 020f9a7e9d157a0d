"""Fixtures shared by every test package: tiny episode stores, a tiny TEP-layout plant run,
the CLI run in-process."""

import contextlib
import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from amiwm.cli import main
from amiwm.data.store import EpisodeWriter


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`ami-cli ARGS` run in `cwd` within this process (a subprocess would spend seconds
    importing torch): its exit code, stdout and stderr, as `subprocess.run` reports them."""
    out, err, here, threads = io.StringIO(), io.StringIO(), os.getcwd(), torch.get_num_threads()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse's --help / usage errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["ami-cli", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def cli():
    return run_cli


def make_store(
    path: Path,
    episodes: int = 6,
    length: int = 12,
    size: int = 32,
    actions: bool = True,
    nan_row: int | None = None,
    states: bool = True,
) -> Path:
    """A tiny frames store: a bright square that moves by the action each step (with its
    position as the state, unless `states` is false); each episode's last action is padding
    (zero)."""
    rng = np.random.default_rng(0)
    margin, clip, half = size // 4, size // 8, max(1, size // 16)
    with EpisodeWriter(
        path,
        obs_shape=(size, size, 3),
        obs_dtype=np.uint8,
        action_dim=2 if actions else None,
        state_dim=2 if states else None,
        attrs={"env_id": "synthetic"},
    ) as w:
        for _ in range(episodes):
            pos = rng.uniform(margin, size - margin, 2)
            obs, act, st = [], [], []
            for _t in range(length):
                frame = np.zeros((size, size, 3), np.uint8)
                x, y = pos.astype(int)
                frame[y - half : y + half, x - half : x + half, 0] = 255
                a = rng.uniform(-1, 1, 2).astype(np.float32)
                obs.append(frame)
                act.append(a)
                st.append(pos.astype(np.float32).copy())
                pos = np.clip(pos + a, clip, size - clip)
            act[-1] = np.zeros(2, np.float32)
            a_arr = np.stack(act)
            if nan_row is not None:
                a_arr[nan_row] = np.nan
                nan_row = None
            st_arr = np.stack(st) if states else None
            w.add_episode(np.stack(obs), a_arr if actions else None, st_arr)
    return path


@pytest.fixture
def store(tmp_path) -> Path:
    return make_store(tmp_path / "tiny.h5")


@pytest.fixture(scope="session")
def store_factory():
    return make_store


def tep_plant(n: int, seed: int, bias_from: int | None = None) -> np.ndarray:
    """(n, 52) rows: a controlled 5-state linear plant, 41 noisy readings, 11 controls (the TEP
    layout); XMEAS9 reads high from `bias_from` on."""
    rng, fixed = np.random.default_rng(seed), np.random.default_rng(123)
    mix, gain = fixed.normal(size=(5, 41)), fixed.normal(size=(5, 11)) * 0.1
    ctrl = fixed.normal(size=(11, 5)) * 0.1
    s, out = np.zeros(5), []
    for t in range(n):
        u = -s @ ctrl.T + 0.3 * rng.normal(size=11)
        s = 0.8 * s + u @ gain.T + 0.1 * rng.normal(size=5)
        x = s @ mix + 0.1 * rng.normal(size=41)
        if bias_from is not None and t >= bias_from:
            x[8] += 1.5
        out.append(np.concatenate([x, u]))
    return np.array(out)


def _write_dat(path: Path, x: np.ndarray) -> None:
    path.write_text("\n".join(" ".join(f"{v:.6e}" for v in row) for row in x) + "\n")


@pytest.fixture(scope="session")
def tep_run(tmp_path_factory) -> dict[str, Path]:
    """A Braatz-layout folder (transposed d00.dat, d00_te.dat, fault d04.dat: XMEAS9 biased
    from sample 100) and a tiny model trained on its normal runs: {"dir", "run"}."""
    from amiwm.cli import main

    d = tmp_path_factory.mktemp("tep")
    _write_dat(d / "d00.dat", tep_plant(300, 0).T)  # transposed, like the Braatz d00.dat
    _write_dat(d / "d00_te.dat", tep_plant(300, 1))
    _write_dat(d / "d04.dat", tep_plant(200, 2, bias_from=100))
    run = d / "run"
    args = ["train", "--dataset", f"tep:{d}", "--context", "1", "--latent-dim", "8"]
    assert main([*args, "--steps", "60", "--out", str(run), "--quiet"]) == 0
    return {"dir": d, "run": run}
