"""How finely can a reacher frame be read: the joint angles from pixels, with the labels.

    MUJOCO_GL=egl python benchmarks/pose_readout.py --store DIR/reacher.h5 --size 64 --minutes 12
    MUJOCO_GL=egl python benchmarks/pose_readout.py --store DIR/reacher.h5 --size 128 --minutes 12
    python benchmarks/pose_readout.py --store DIR/reacher.h5 --checkpoint DIR/model

The success test wants both joints within 0.05 rad. With `--size`, a network of the recipe's
encoder shape (`ConvEncoder`, width 32) is trained *supervised* on the recorded joint angles
(cos, sin) of frames rendered at that size from the store's states (the first 90% of episodes;
scored on frames of the last 10%) for a wall-clock budget: what that encoder could read at that
resolution within a CPU clock if it were told what to read. With `--checkpoint`, a world model's
frozen latents of the same frames are probed (ridge and an MLP) instead. Prints the median and
90th-percentile angle error per joint and the share of held-out frames with both within 0.05 rad.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from amiwm.config import ModelConfig
from amiwm.models.encoders import ConvEncoder
from amiwm.models.world_model import WorldModel

TOL = 0.05


def sample_rows(store: Path, n_train: int, n_test: int, seed: int = 0):
    """Row indices of frames from the first 90% / last 10% of the store's episodes."""
    with h5py.File(store) as f:
        starts, lens = f["episode_starts"][:], f["episode_lengths"][:]
    rng = np.random.default_rng(seed)
    cut = int(0.9 * len(starts))

    def rows(eps: range, n: int) -> np.ndarray:
        idx = np.concatenate([np.arange(starts[e], starts[e] + lens[e]) for e in eps])
        return np.sort(rng.choice(idx, min(n, len(idx)), replace=False))

    return rows(range(cut), n_train), rows(range(cut, len(starts)), n_test)


def frames(store: Path, rows: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames (N, size, size, 3), joint angles (N, 2)): stored frames at the store's size,
    else rendered from the stored states."""
    with h5py.File(store) as f:
        states = f["states"][rows]
        if f["observations"].shape[1] == size:
            return f["observations"][rows], states[:, :2]
    from amiwm.envs.reacher import ReacherEnv

    env = ReacherEnv(size=size)
    x = np.stack([env.reset(options={"state": s})[0] for s in states])
    return x, states[:, :2]


def as_target(angles: np.ndarray) -> np.ndarray:
    return np.concatenate([np.cos(angles), np.sin(angles)], 1).astype(np.float32)


def score(pred: np.ndarray, angles: np.ndarray) -> dict[str, float]:
    est = np.arctan2(pred[:, 2:], pred[:, :2])
    err = np.abs(np.mod(est - angles + np.pi, 2 * np.pi) - np.pi)
    return {
        "median_shoulder": float(np.median(err[:, 0])),
        "median_wrist": float(np.median(err[:, 1])),
        "p90_shoulder": float(np.percentile(err[:, 0], 90)),
        "p90_wrist": float(np.percentile(err[:, 1], 90)),
        "both_within_tol": float((err < TOL).all(1).mean()),
    }


def batched(fn, x: np.ndarray, size: int = 500) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([fn(torch.from_numpy(x[i : i + size])) for i in range(0, len(x), size)])


def supervised(xtr, atr, xte, ate, minutes: float, every: int) -> None:
    torch.manual_seed(0)
    size = xtr.shape[1]
    net = ConvEncoder(ModelConfig(obs_shape=[size, size, 3], latent_dim=4, encoder_width=32))
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x, y = torch.from_numpy(xtr), torch.from_numpy(as_target(atr))
    t0, step = time.time(), 0
    while time.time() - t0 < minutes * 60:
        net.train()
        i = torch.randint(0, len(x), (64,))
        loss = (net(x[i]) - y[i]).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % every == 0:
            net.eval()
            r = score(batched(net, xte).numpy(), ate)
            print({"size": size, "step": step, "seconds": round(time.time() - t0), **r}, flush=True)


def probe(model: WorldModel, xtr, atr, xte, ate) -> None:
    ztr, zte = batched(model.encode, xtr).numpy(), batched(model.encode, xte).numpy()
    a = np.c_[ztr, np.ones(len(ztr))]
    w = np.linalg.solve(a.T @ a + 1e-2 * np.eye(a.shape[1]), a.T @ as_target(atr))
    print({"probe": "ridge", **score(np.c_[zte, np.ones(len(zte))] @ w, ate)}, flush=True)
    torch.manual_seed(0)
    mu, sd = ztr.mean(0), ztr.std(0) + 1e-6
    zt, y = torch.from_numpy((ztr - mu) / sd), torch.from_numpy(as_target(atr))
    d = zt.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Linear(d, 256), torch.nn.GELU(), torch.nn.Linear(256, 256), torch.nn.GELU(),
        torch.nn.Linear(256, 4),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(6000):
        i = torch.randint(0, len(zt), (256,))
        loss = (net(zt[i]) - y[i]).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred = batched(net, ((zte - mu) / sd).astype(np.float32)).numpy()
    print({"probe": "mlp", **score(pred, ate)}, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True, help="a reacher store with /states")
    p.add_argument("--size", type=int, default=64, help="frame size for the supervised CNN")
    p.add_argument("--minutes", type=float, default=12.0)
    p.add_argument("--checkpoint", type=Path, help="probe this model's latents instead")
    p.add_argument("--train-frames", type=int, default=20000)
    p.add_argument("--test-frames", type=int, default=4000)
    p.add_argument("--every", type=int, default=250, help="score every N steps")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    tr, te = sample_rows(args.store, args.train_frames, args.test_frames)
    model = WorldModel.from_pretrained(args.checkpoint).eval() if args.checkpoint else None
    size = model.config.obs_shape[0] if model is not None else args.size
    xtr, atr = frames(args.store, tr, size)
    xte, ate = frames(args.store, te, size)
    if model is not None:
        probe(model, xtr, atr, xte, ate)
    else:
        supervised(xtr, atr, xte, ate, args.minutes, args.every)


if __name__ == "__main__":
    main()
