"""Does the robot state help where one frame is ambiguous? (--proprio true vs false)

A bright square moves by its velocity plus the action each step; the velocity drifts and is
not visible in a single frame, but it is part of the robot state (position, velocity), as a
joint velocity is on a real robot. Both variants train on the same store for the same steps;
linear probes from latents to position and velocity are fitted on the training store and
scored (R^2) on a second store that training never saw.

    OMP_NUM_THREADS=1 python benchmarks/proprio.py --steps 300 --out runs/proprio
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from amiwm.config import RunConfig
from amiwm.data.store import EpisodeStore, EpisodeWriter
from amiwm.evaluation import encode_episodes, linear_probe_r2, r2_score, ridge_fit, ridge_predict
from amiwm.models.world_model import WorldModel
from amiwm.training.trainer import train

K = 3  # steps ahead for the imagined-position probe


def hidden_velocity_store(path: Path, episodes: int, length: int, seed: int, size: int = 32):
    """Frames of a square at p; state (p, v); p' = clip(p + v + a), v' = clip(0.9 v + noise)."""
    rng = np.random.default_rng(seed)
    lo, hi, half = 4.0, size - 4.0, 2
    with EpisodeWriter(
        path, obs_shape=(size, size, 3), obs_dtype=np.uint8, action_dim=2, state_dim=4
    ) as w:
        for _ in range(episodes):
            p, v = rng.uniform(lo + 4, hi - 4, 2), rng.uniform(-1.5, 1.5, 2)
            obs, act, st = [], [], []
            for _t in range(length):
                frame = np.zeros((size, size, 3), np.uint8)
                x, y = np.round(p).astype(int)
                frame[y - half : y + half, x - half : x + half] = 255
                a = rng.uniform(-1, 1, 2)
                obs.append(frame)
                act.append(a)
                st.append(np.concatenate([p, v]))
                p = np.clip(p + v + a, lo, hi)
                v = np.clip(0.9 * v + rng.normal(0, 0.4, 2), -1.5, 1.5)
            act[-1] = np.zeros(2)
            w.add_episode(np.stack(obs), np.asarray(act, np.float32), np.asarray(st, np.float32))
    return path


def run(train_store: Path, out: Path, proprio: bool, steps: int, seed: int) -> Path:
    cfg = RunConfig(dataset=str(train_store))
    m = cfg.model
    m.latent_dim, m.encoder_width, m.predictor_dim, m.history = 32, 16, 128, 3
    m.proprio = proprio
    t = cfg.train
    t.steps, t.batch_size, t.window, t.checkpoint_every, t.seed = steps, 32, 4, steps, seed
    t.lr, t.warmup_steps, t.val_fraction = 2e-3, 20, 0.0
    train(cfg, out, progress=False)
    return out


@torch.no_grad()
def probe(model: WorldModel, train_store: Path, test_store: Path, n_train: int, n_test: int):
    """Held-out R^2 of position and velocity from latents, and of the position K steps ahead
    read from the latent the model imagines from z_t and the K actions."""
    z_tr, s_tr = encode_episodes(model, train_store, range(n_train))
    z_te, s_te = encode_episodes(model, test_store, range(n_test))
    pos = linear_probe_r2(z_tr, s_tr[:, :2], z_te, s_te[:, :2])
    vel = linear_probe_r2(z_tr, s_tr[:, 2:], z_te, s_te[:, 2:])
    mu, sd = z_tr.mean(0), z_tr.std(0) + 1e-6
    w = ridge_fit((z_tr - mu) / sd, s_tr[:, :2])
    true, pred = [], []
    with EpisodeStore(test_store) as store:
        for e in range(n_test):
            ep = store.episode(e)
            n = len(ep["observations"]) - K
            state = ep["states"][:n] if model.config.proprio else None
            z = model.encode(ep["observations"][:n], state)
            acts = np.stack([ep["actions"][t : t + K] for t in range(n)])
            zk = model.rollout_latents(z[:, None], acts)[:, -1].numpy()
            pred.append(ridge_predict(w, (zk - mu) / sd))
            true.append(ep["states"][K : K + n, :2])
    ahead = r2_score(np.concatenate(true), np.concatenate(pred))
    return pos, vel, ahead


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--episodes", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/proprio"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    tr = hidden_velocity_store(args.out / "train.h5", args.episodes, 20, seed=0)
    te = hidden_velocity_store(args.out / "test.h5", 30, 20, seed=1)
    print(f"machine: {platform.processor() or platform.machine()}, torch threads 1")
    print(f"{'variant':<12} {'seed':>4} {'pos R2':>7} {'vel R2':>7} {'pos+3 R2':>8} {'s':>5}")
    for seed in range(args.seeds):
        for proprio in (False, True):
            name = "proprio" if proprio else "frames"
            t0 = time.perf_counter()
            path = run(tr, args.out / f"{name}-{seed}", proprio, args.steps, seed)
            secs = time.perf_counter() - t0
            pos, vel, ahead = probe(WorldModel.from_pretrained(path), tr, te, args.episodes, 30)
            print(f"{name:<12} {seed:>4} {pos:>7.3f} {vel:>7.3f} {ahead:>8.3f} {secs:>5.0f}")


if __name__ == "__main__":
    main()
