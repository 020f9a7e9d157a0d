"""How much of a reacher block's motion can a model that does not see velocity predict?

    python benchmarks/reacher_velocity.py --store DIR/reacher.h5

From the recorded states of a store (`ami-cli collect --env reacher`, actions in blocks), the
change of the two joint angles over one stored block is regressed on the block's actions and
the angles at its start (cos, sin) — what one frame shows — and on the same plus the joint
velocities, which one frame does not show. Linear least squares and a small MLP, fitted on
the first half of the episodes and scored (R^2) on the second. 1 - R^2 without velocities is a
floor on the one-block error of any model whose state is a single frame.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from amiwm.data.store import EpisodeStore


def load(path: Path, episodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block-start states, block actions and wrapped joint-angle changes over each block."""
    with EpisodeStore(path) as store:
        if store.state_dim != 6:
            raise SystemExit(f"{path}: expected reacher states (6 numbers), got {store.state_dim}")
        eps = [store.episode(e) for e in range(min(episodes, store.num_episodes))]
    s = np.concatenate([ep["states"][:-1] for ep in eps])
    nxt = np.concatenate([ep["states"][1:] for ep in eps])
    a = np.concatenate([ep["actions"][:-1] for ep in eps])
    d = np.mod(nxt[:, :2] - s[:, :2] + np.pi, 2 * np.pi) - np.pi
    return s, a, d


def linear_r2(x: np.ndarray, y: np.ndarray) -> float:
    xb, n = np.hstack([x, np.ones((len(x), 1))]), len(x) // 2
    w = np.linalg.lstsq(xb[:n], y[:n], rcond=None)[0]
    return float(1 - (y[n:] - xb[n:] @ w).var(0).sum() / y[n:].var(0).sum())


def mlp_r2(x: np.ndarray, y: np.ndarray, steps: int = 3000) -> float:
    torch.manual_seed(0)
    xt, yt, n = (
        torch.tensor(x, dtype=torch.float32),
        torch.tensor(y, dtype=torch.float32),
        len(x) // 2,
    )
    xt = (xt - xt[:n].mean(0)) / (xt[:n].std(0) + 1e-6)
    hidden = 256
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], hidden), torch.nn.GELU(),
        torch.nn.Linear(hidden, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 2),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(steps):
        i = torch.randint(0, n, (256,))
        loss = ((net(xt[i]) - yt[i]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = yt[n:] - net(xt[n:])
    return float(1 - err.var(0).sum() / yt[n:].var(0).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--episodes", type=int, default=400)
    args = ap.parse_args()
    torch.set_num_threads(1)
    s, a, d = load(args.store, args.episodes)
    frame = np.hstack([a, np.cos(s[:, :2]), np.sin(s[:, :2])])
    with_vel = np.hstack([frame, s[:, 2:4]])
    print(
        f"{len(d)} blocks; R^2 of the joint-angle change over one block (second half of episodes)"
    )
    for name, x in (("actions + angles (one frame)", frame), ("... + joint velocities", with_vel)):
        print(f"  {name:<30} linear {linear_r2(x, d):.3f}   MLP {mlp_r2(x, d):.3f}")


if __name__ == "__main__":
    main()
