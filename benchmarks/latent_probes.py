"""What a reacher / Push-T model's latent keeps, against the frames themselves.

    python benchmarks/latent_probes.py --run runs/reacher-demo/model [--env reacher]

Prints: linear probes from latents (fit on up to 100 training episodes, R^2 on the held-out
ones) to the reacher's joint angles (cos, sin) and its target ball (x, y); the cost landscape
of `protocol_eval.landscape` (latent distance against the true distance to a goal 1..5 blocks
ahead); and the same ranking with plain pixel distance on the same held-out frames.

The resolution comparison in the README ran this on two models trained side by side:
    ami-cli collect --env reacher --env-kwargs '{"size": S}' --frame-size S --episodes 150 \\
        --steps 40 --action-block 5 --policy random --out rS.h5        # S = 64 and 128
    ami-cli train --dataset rS.h5 --steps 100000 --max-minutes 11 --out mS
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
from protocol_eval import landscape, true_distance  # noqa: E402

from amiwm.data.store import EpisodeStore  # noqa: E402
from amiwm.evaluation import encode_episodes, linear_probe_r2  # noqa: E402
from amiwm.models.world_model import WorldModel  # noqa: E402
from amiwm.rundir import RunDir  # noqa: E402


def pixel_landscape(store: Path, episodes: list[int], env: str) -> dict[str, float]:
    """`landscape` with raw pixel distance in place of latent distance."""
    rhos, near = [], []
    with EpisodeStore(store) as s:
        for e in episodes:
            ep = s.episode(e)
            x = ep["observations"].reshape(len(ep["observations"]), -1).astype(np.float32)
            st = ep["states"]
            for g in range(5, len(x), 5):
                d = np.linalg.norm(x[g - 5 : g] - x[g], axis=-1)
                t = true_distance(env, st[g - 5 : g], st[g])
                if np.ptp(t) > 0:
                    rhos.append(spearmanr(d, t).statistic)
                order = np.argsort(np.linalg.norm(x - x[g], axis=-1))
                near.append(float(true_distance(env, st[order[order != g][0]], st[g]) <= 1.0))
    return {
        "spearman_pixels_vs_true_distance": float(np.nanmean(rhos)),
        "nearest_pixel_frame_within_tolerance": float(np.mean(near)),
    }


def knn_r2(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, k: int = 5
) -> float:
    """Held-out R^2 of a k-nearest-neighbour read-out (mean target of the k nearest training
    rows): what a distance in this space keeps, without the linear probe's shape assumption."""
    x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    sq = (x_train**2).sum(1)
    pred = np.empty((len(x_test), y_train.shape[1]))
    for i in range(0, len(x_test), 256):
        d = sq[None] - 2 * x_test[i : i + 256] @ x_train.T
        near = np.argpartition(d, k, axis=1)[:, :k]
        pred[i : i + 256] = y_train[near].mean(1)
    return float(1 - ((y_test - pred) ** 2).sum() / ((y_test - y_test.mean(0)) ** 2).sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="a trained model (run dir)")
    p.add_argument("--env", default="reacher", help="reacher | pusht (the success tolerance)")
    p.add_argument("--episodes", type=int, default=15, help="held-out episodes for landscapes")
    a = p.parse_args()
    torch.set_num_threads(1)
    model, run = WorldModel.from_pretrained(a.run), RunDir(a.run)
    train, held = run.split
    print(landscape(model, run.training_data, held[: a.episodes], a.env))
    print(pixel_landscape(run.training_data, held[: a.episodes], a.env))
    if a.env == "reacher":
        zt, st = encode_episodes(model, run.training_data, train[:100])
        zh, sh = encode_episodes(model, run.training_data, held)

        def joints(s: np.ndarray) -> np.ndarray:
            return np.concatenate([np.cos(s[:, :2]), np.sin(s[:, :2])], 1)

        print("probe joints (cos, sin) R^2", linear_probe_r2(zt, joints(st), zh, joints(sh)))
        print("probe target ball (x, y) R^2", linear_probe_r2(zt, st[:, 4:6], zh, sh[:, 4:6]))
        print("5-NN joints (cos, sin) R^2, latents", knn_r2(zt, joints(st), zh, joints(sh)))
        with EpisodeStore(run.training_data) as s:
            px = [
                np.concatenate([s.episode(e)["observations"] for e in eps])
                for eps in (train[:100], held)
            ]
        px = [x.reshape(len(x), -1) for x in px]
        print("5-NN joints (cos, sin) R^2, pixels", knn_r2(px[0], joints(st), px[1], joints(sh)))


if __name__ == "__main__":
    main()
