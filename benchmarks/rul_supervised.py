"""A supervised reference for the RUL protocol of benchmarks/monitoring.py.

    python benchmarks/rul_supervised.py --cmapss ../shared/data/cmapss/train_FD001.txt

The frozen-encoder probe is held to RMSE 12, a number models trained end to end on the labels
reach on FD001's official test set. This script measures what such a model reaches on our
protocol instead: the same 5 folds of 20 held-out training units, cut at the same random cycles
(`cut_units`, seed = fold), RUL capped at 125. The model is a small 1-D CNN over the last 30
cycles of the 14 sensors that are not constant (standardised on the training units), trained on
the windows of 64 of the 80 training units against their capped RUL (mean squared error, Adam,
up to `--epochs` passes) and stopped at the epoch with the lowest error on the other 16; the
prediction for a unit is the one for its window ending at the cut. It never sees a held-out
unit. Also a ridge regression on the same windows of all 80 units, flattened, as a linear
floor, and the CNN's expected RMSE over every cut of the held-out units (rows 30 to the one
before last, each unit weighing the same: `protocol_weights`), which one cut per unit only
samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from amiwm.data.formats import cut_units, drop_constant, read_sensors
from amiwm.evaluation import ridge_fit, ridge_predict
from amiwm.monitoring.rul import RUL_CAP, phm08_score, protocol_weights

WINDOW = 30


def windows(table, mu: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(N, WINDOW, D) standardised windows of every unit (a unit's first row repeats before
    its start), their capped RUL, and the index of each unit's last window."""
    xs, ys, last = [], [], []
    for rows in table.group_rows():
        v = table.sensors[rows].astype(np.float64)
        v = (v - mu) / sd
        v = np.vstack([np.repeat(v[:1], WINDOW - 1, 0), v])
        w = np.lib.stride_tricks.sliding_window_view(v, WINDOW, axis=0).transpose(0, 2, 1)
        t = table.time[rows]
        xs.append(w)
        ys.append(np.minimum(t[-1] - t, RUL_CAP))
        last.append(len(w) + (last[-1] if last else -1))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32), last


class CNN(nn.Module):
    def __init__(self, d: int, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(d, width, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(width, width, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2),
            nn.GELU(),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(width * ((WINDOW + 1) // 2), 64),
            nn.GELU(),
            nn.Linear(64, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2)).squeeze(-1)


def train_cnn(data: tuple, stop: tuple, epochs: int, seed: int) -> tuple[CNN, int]:
    """Trained on `data` (windows, RUL); the weights of the epoch with the lowest error on the
    units of `stop` (early stopping on training units only) and that epoch."""
    torch.manual_seed(seed)
    model = CNN(data[0].shape[2])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    xt, yt = torch.from_numpy(data[0]), torch.from_numpy(data[1]) / RUL_CAP
    xs, ys = torch.from_numpy(stop[0]), torch.from_numpy(stop[1]) / RUL_CAP
    gen = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch = float("inf"), None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(256):
            loss = ((model(xt[idx]) - yt[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            err = float(((model(xs) - ys) ** 2).mean())
        if err < best:
            best, best_epoch = err, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.eval(), best_epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmapss", default="../shared/data/cmapss/train_FD001.txt")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/rul_supervised.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    table = read_sensors(f"cmapss:{args.cmapss}")
    units = np.array(table.groups())
    folds = np.random.default_rng(0).permutation(len(units)) % args.folds  # as monitoring.py
    preds: dict[str, list] = {"cnn": [], "ridge": []}
    trues: list[float] = []
    per_fold = []
    every: list[float] = []  # per held-out unit: the CNN's mean squared error over every cut
    for k in range(args.folds):
        tr, dropped = drop_constant(table.select(units[folds != k].tolist()))
        test = table.select(units[folds == k].tolist()).without_channels(dropped)
        cut, rul = cut_units(test, seed=k)
        v = tr.sensors.astype(np.float64)
        mu, sd = v.mean(0), v.std(0) + 1e-9
        inner = np.random.default_rng(k).permutation(tr.groups())
        fit, stop = tr.select(inner[16:].tolist()), tr.select(inner[:16].tolist())
        x, y, _ = windows(tr, mu, sd)
        xc, _, last = windows(cut, mu, sd)
        true = np.minimum(rul, RUL_CAP)
        model, epoch = train_cnn(windows(fit, mu, sd)[:2], windows(stop, mu, sd)[:2],
                                 args.epochs, seed=k)  # fmt: skip
        with torch.no_grad():
            p_cnn = model(torch.from_numpy(xc[last])).numpy() * RUL_CAP
        w = ridge_fit(x.reshape(len(x), -1), y, 1e-2)
        p_ridge = ridge_predict(w, xc[last].reshape(len(last), -1))
        fold = {"epoch": epoch}
        xa, ya, ends = windows(test, mu, sd)  # every cut of the held-out units, whole
        with torch.no_grad():
            pa = np.clip(model(torch.from_numpy(xa)).numpy() * RUL_CAP, 0, RUL_CAP)
        starts = [0, *(e + 1 for e in ends[:-1])]
        for lo, hi in zip(starts, ends, strict=True):
            wt = protocol_weights(hi - lo + 1)
            every.append(float(wt @ (pa[lo : hi + 1] - ya[lo : hi + 1]) ** 2))
        for name, p in (("cnn", p_cnn), ("ridge", p_ridge)):
            p = np.clip(p, 0, RUL_CAP)
            preds[name] += p.tolist()
            fold[name] = float(np.sqrt(np.mean((p - true) ** 2)))
        trues += true.tolist()
        per_fold.append(fold)
        print(f"fold {k}: CNN {fold['cnn']:.2f} (epoch {epoch}), ridge {fold['ridge']:.2f} "
              f"({time.time() - t0:.0f} s)", flush=True)  # fmt: skip
    true = np.array(trues)
    result = {"folds": per_fold, "units": len(true)}
    for name, p in preds.items():
        p = np.array(p)
        result[name] = {
            "rmse": float(np.sqrt(np.mean((p - true) ** 2))),
            "phm08": phm08_score(p, true),
        }
        print(f"{name}: RMSE {result[name]['rmse']:.2f} over {len(true)} held-out units, "
              f"PHM08 {result[name]['phm08']:.0f}")  # fmt: skip
    result["cnn"]["every_cut_rmse"] = float(np.sqrt(np.mean(every)))
    print(f"cnn over every cut of the held-out units: RMSE {result['cnn']['every_cut_rmse']:.2f}")
    print(f"{time.time() - t0:.0f} s; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, {args.threads} torch thread(s)")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
