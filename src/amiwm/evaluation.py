"""Evidence that a world model is real: linear probes, rollout error, effective rank."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from amiwm.data.store import EpisodeStore
from amiwm.data.windows import WindowDataset, context_windows
from amiwm.models.regularizers import effective_rank
from amiwm.models.world_model import WorldModel


@torch.no_grad()
def encode_episodes(
    model: WorldModel, path: Path, episodes: Sequence[int], batch: int = 256, every: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Latents and true states (empty if the store has none) of every `every`-th step of
    `episodes`, in episode order."""
    zs, ss = [], []
    context = model.config.rows_per_obs
    with EpisodeStore(path) as store:
        for e in episodes:
            ep = store.episode(int(e))
            obs = ep["observations"]
            if context > 1:
                obs = context_windows(obs, context)
            obs = obs[::every]
            st = ep["states"][::every] if model.config.proprio else None
            for i in range(0, len(obs), batch):
                part = obs[i : i + batch]
                z = model.encode(part) if st is None else model.encode(part, st[i : i + batch])
                zs.append(z.float().numpy())
            if "states" in ep:
                ss.append(ep["states"][::every])
    states = np.concatenate(ss) if ss else np.zeros((0, 0))
    return np.concatenate(zs), states


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 1e-3) -> np.ndarray:
    """Weights (D + 1, K) of a ridge regression with bias (features standardised by the caller)."""
    xb = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    reg = alpha * len(x) * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    return np.linalg.solve(xb.T @ xb + reg, xb.T @ y.astype(np.float64))


def ridge_predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))]) @ w


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination, averaged over output columns."""
    ss_res = ((y - pred) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    return float(np.mean(1.0 - ss_res / np.maximum(ss_tot, 1e-12)))


def linear_probe_r2(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray
) -> float:
    """Held-out R^2 of a linear (ridge) probe from frozen latents to a target."""
    mu, sd = z_train.mean(0), z_train.std(0) + 1e-6
    w = ridge_fit((z_train - mu) / sd, y_train)
    return r2_score(y_test, ridge_predict(w, (z_test - mu) / sd))


@torch.no_grad()
def rollout_errors(
    model: WorldModel,
    path: Path,
    episodes: Sequence[int],
    horizons: Sequence[int] = (1, 5, 10),
    context: int = 1,
    windows: int = 512,
    seed: int = 0,
) -> dict[int, dict[str, float]]:
    """Open-loop latent rollout error against the copy-the-last-latent baseline.

    Errors are mean squared errors divided by the mean per-dimension latent variance, so 1.0
    means "as far off as a random latent". Returns {h: {"model", "copy", "ratio"}}.
    """
    hmax = max(horizons)
    states = model.config.proprio
    rows = model.config.rows_per_obs
    data = WindowDataset(path, context + hmax, episodes, context=rows, with_states=states)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:windows].tolist()
    batch = data.get_batch(idx)
    z = (
        model.encode(batch["obs"], batch["states"]) if states else model.encode(batch["obs"])
    ).float()
    pred = model.rollout_latents(z[:, :context], batch["actions"])
    var = z.reshape(-1, z.shape[-1]).var(0).mean().item()
    out = {}
    for h in horizons:
        truth = z[:, context - 1 + h]
        m = (pred[:, h - 1] - truth).square().mean().item() / var
        c = (z[:, context - 1] - truth).square().mean().item() / var
        out[h] = {"model": m, "copy": c, "ratio": c / max(m, 1e-12)}
    return out


def latent_effective_rank(z: np.ndarray) -> float:
    return effective_rank(torch.as_tensor(z))


def model_evidence(
    model: WorldModel,
    path: Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    horizons: Sequence[int] = (1, 5, 10),
    probe_episodes: int = 100,
) -> dict:
    """Probe R^2 (latent -> state), effective rank and rollout error on held-out episodes.

    For a model that takes the state as an input (``proprio``) the state probe only shows the
    state survives encoding; it is no evidence of a state learned from frames."""
    from amiwm.data.windows import split_episodes

    with EpisodeStore(path) as store:
        n = store.num_episodes
    train_eps, val_eps = split_episodes(n, val_fraction, seed)
    z_tr, s_tr = encode_episodes(model, path, train_eps[:probe_episodes])
    z_te, s_te = encode_episodes(model, path, val_eps)
    return {
        "probe_r2_xy": linear_probe_r2(z_tr, s_tr, z_te, s_te) if len(s_te) else None,
        "effective_rank": latent_effective_rank(z_te),
        "rollout": rollout_errors(model, path, val_eps, horizons=horizons, seed=seed),
    }
