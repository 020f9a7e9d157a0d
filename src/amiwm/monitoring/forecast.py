"""What-if forecasts: the readings H steps ahead of the latest window, under an action plan.

The world model rolls its latent state forward under the actions (``rollout_latents``); a
linear read-out per horizon, fitted here on frozen latents of normal data (by default the
checkpoint's training episodes), turns each step's latent into readings
(``amiwm.models.forecast``). The read-out is fitted on demand, in seconds, for the horizon
asked: it depends on the horizon and on which normal data the user trusts, and a checkpoint
directory stays as training wrote it (its manifest checksums its files).

Actions: ``transitions`` turns a table's per-row actions into the store's convention (the
action between row t and t + 1): a row's own action (C-MAPSS settings, CSV actions) leads to
the next row; with TEP the manipulated variables recorded with row t + 1 are what acted on it
(``next_row``, as the monitor reads them).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.errors import AmiError
from amiwm.models.forecast import ForecastReadout, forecast, latent_features, rows_needed
from amiwm.models.world_model import WorldModel
from amiwm.rundir import RunDir

Run = tuple[np.ndarray, np.ndarray | None]  # rows (T, D), transition actions (T - 1, A) | None


def transitions(row_actions: np.ndarray | None, next_row: bool) -> np.ndarray | None:
    """Per-row actions (T, A) -> the actions between consecutive rows (T - 1, A)."""
    if row_actions is None:
        return None
    return row_actions[1:] if next_row else row_actions[:-1]


def store_runs(path: Path, episodes: Sequence[int]) -> list[Run]:
    """(rows, transition actions) of episodes of a sensor store (its last action is padding)."""
    from amiwm.data.store import EpisodeStore

    with EpisodeStore(path) as store:
        eps = [store.episode(int(e)) for e in episodes]
    return [(ep["observations"], ep["actions"][:-1] if "actions" in ep else None) for ep in eps]


ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def ridge_cv(
    x: np.ndarray, y: np.ndarray, alphas: Sequence[float] = ALPHAS, folds: int = 5
) -> np.ndarray:
    """Ridge weights (F + 1, K) with bias (as ``evaluation.ridge_fit``) under the penalty of
    `alphas` that predicts contiguous held-out folds of the rows best (rows in time order: a
    fold is a stretch the fit never saw). Gram matrices are formed once per fold."""
    n = len(x)
    xb = np.hstack([x, np.ones((n, 1))]).astype(np.float64)
    y = y.astype(np.float64)
    gram, cross = xb.T @ xb, xb.T @ y
    eye = np.eye(xb.shape[1])
    eye[-1, -1] = 0.0

    def solve(g: np.ndarray, c: np.ndarray, alpha: float, rows: int) -> np.ndarray:
        return np.linalg.solve(g + alpha * rows * eye, c)

    if n < 2 * folds or len(alphas) == 1:
        return solve(gram, cross, alphas[0], n)
    edges = np.linspace(0, n, folds + 1).astype(int)
    err = np.zeros(len(alphas))
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        xt, yt = xb[lo:hi], y[lo:hi]
        g, c = gram - xt.T @ xt, cross - xt.T @ yt
        for i, alpha in enumerate(alphas):
            err[i] += ((yt - xt @ solve(g, c, alpha, n - (hi - lo))) ** 2).sum()
    return solve(gram, cross, alphas[int(np.argmin(err))], n)


def fit_readout(
    model: WorldModel,
    runs: Sequence[Run],
    horizon: int,
    alphas: Sequence[float] = ALPHAS,
    batch: int = 2048,
) -> ForecastReadout:
    """Ridge read-out for steps 1..horizon from every start of `runs` (normal operation) that
    has a full window before it and `horizon` rows after it; each horizon's penalty is chosen
    among `alphas` on contiguous held-out folds of those starts."""
    if horizon < 1:
        raise AmiError(f"--horizon must be >= 1, got {horizon}")
    need, h = rows_needed(model), model.config.history
    feats, targets = [], []
    mean = model.obs_mean.cpu().numpy().astype(np.float64)
    std = model.obs_std.cpu().numpy().astype(np.float64)
    for x, a in runs:
        x = np.asarray(x, np.float32)
        starts = np.arange(need - 1, len(x) - horizon)  # index of a window's last row
        for lo in range(0, len(starts), batch):
            s = starts[lo : lo + batch]
            win = x[s[:, None] + np.arange(-need + 1, 1)]
            acts = None if a is None else a[s[:, None] + np.arange(-h + 1, horizon)]
            feats.append(latent_features(model, win, acts, horizon))
            targets.append((x[s[:, None] + np.arange(1, horizon + 1)] - mean) / std)
    n = sum(len(f) for f in feats)
    if n < 10:
        raise AmiError(
            f"fitting a {horizon}-step read-out needs runs of at least {need + horizon} rows "
            f"and 10 starts in all; the normal data gave {n}"
        )
    f, y = np.concatenate(feats), np.concatenate(targets)
    mu, sd = f.mean(0), f.std(0) + 1e-6
    fn = (f - mu) / sd
    w = np.stack([ridge_cv(fn[:, k], y[:, k], alphas) for k in range(horizon)])
    fb = np.concatenate([fn, np.ones((*fn.shape[:2], 1))], axis=2)
    res = (y - np.einsum("nhf,hfd->nhd", fb, w)).std(0)
    return ForecastReadout(w, mu, sd, res)


def read_plan(path: str | Path, names: Sequence[str], horizon: int) -> np.ndarray:
    """An action plan CSV: a header naming exactly the model's actions (any order), then one
    row per step (the first `horizon` are used). Returns (horizon, A) in the model's order."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise AmiError(f"cannot read the action plan {path}: {exc.strerror}") from None
    if not names:
        raise AmiError(f"--actions {path}: this model takes no actions; leave --actions out")
    if not rows:
        raise AmiError(f"{path}: empty action plan; expected a header {','.join(names)}")
    head = [c.strip() for c in rows[0]]
    if sorted(head) != sorted(names):
        raise AmiError(
            f"{path}: plan columns {','.join(head)} are not the model's actions "
            f"{','.join(names)} (a header naming each once, any order)"
        )
    order = [head.index(n) for n in names]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if len(body) < horizon:
        raise AmiError(
            f"{path}: the plan has {len(body)} steps, --horizon {horizon} needs them all"
        )
    out = np.empty((horizon, len(names)), np.float32)
    for i, r in enumerate(body[:horizon]):
        try:
            if len(r) != len(head):
                raise ValueError
            vals = [float(r[j]) for j in order]
        except ValueError:
            raise AmiError(f"{path}: step {i + 1}: expected {len(head)} numbers") from None
        if not all(math.isfinite(v) for v in vals):
            raise AmiError(f"{path}: step {i + 1}: NaN or Inf in the plan")
        out[i] = vals
    return out


class Forecaster:
    """A checkpoint with a fitted read-out: ``Forecaster(ckpt, horizon).forecast(window,
    actions)`` (the Python API; ``model.forecast(window, actions, readout)`` is the same with a
    read-out in hand). `fit`: normal-operation data (a spec, as for ``read_sensors``) to fit
    the read-out on instead of the checkpoint's training episodes (up to `most` of them)."""

    def __init__(
        self,
        checkpoint: str | Path,
        horizon: int,
        fit: str | None = None,
        most: int = 200,
        **columns: Any,
    ) -> None:
        from amiwm.data.formats.tep import KINDS as TEP_KINDS
        from amiwm.monitoring.watch import trained_columns

        if horizon < 1:
            raise AmiError(f"--horizon must be >= 1, got {horizon}")
        self.model = WorldModel.from_pretrained(checkpoint)
        if self.model.config.modality != "sensors":
            raise AmiError("forecasts need a sensor model (trained on cmapss:, csv:, tep: ...)")
        run = RunDir(checkpoint)
        spec = run.spec
        self.next_row = spec is not None and spec.kind in TEP_KINDS
        self.columns = trained_columns(checkpoint, self.model, **columns)
        self.run, self.fit_spec, self.most = run, fit, most
        self.basis = fit or "the checkpoint's training episodes"
        self.fit_horizon = horizon
        self._readout: ForecastReadout | None = None

    @property
    def readout(self) -> ForecastReadout:
        """The read-out, fitted on first use (on `fit` or the training episodes)."""
        if self._readout is None:
            if self.fit_spec is not None:
                runs = self.table_runs(self.read(self.fit_spec))
            else:
                run = self.run
                path = run.require_training_data(
                    "to fit the read-out on", "--fit FILE (normal data)"
                )
                train, _ = run.split
                step = max(1, len(train) // self.most)
                runs = store_runs(path, train[::step][: self.most])
            self._readout = fit_readout(self.model, runs, self.fit_horizon)
        return self._readout

    @property
    def horizon(self) -> int:
        return self.fit_horizon

    @property
    def action_names(self) -> list[str]:
        cfg = self.model.config
        if not (cfg.action_conditioning and cfg.action_dim > 0):
            return []
        return cfg.action_labels

    def read(self, spec: str) -> Any:
        from amiwm.data.formats import read_sensors

        return read_sensors(spec, **self.columns)

    def table_runs(self, table: Any) -> list[Run]:
        acts = table.actions if self.action_names else None
        return [
            (table.sensors[r], transitions(None if acts is None else acts[r], self.next_row))
            for r in table.group_rows()
        ]

    def forecast(
        self, window: np.ndarray, actions: np.ndarray | None = None, horizon: int | None = None
    ) -> np.ndarray:
        """See ``amiwm.models.forecast.forecast``: raw rows and actions in, raw readings out."""
        return forecast(self.model, window, actions, self.readout, horizon)

    def forecast_table(
        self, table: Any, plan: np.ndarray | None = None, horizon: int | None = None
    ) -> list[tuple[Any, np.ndarray]]:
        """(group, (horizon, D) readings) from the latest window of each group of a table,
        under `plan` (horizon, A) or, without one, the last recorded action held."""
        horizon = self.horizon if horizon is None else horizon
        need, h = rows_needed(self.model), self.model.config.history
        if horizon < 1:
            raise AmiError(f"--horizon must be >= 1, got {horizon}")
        if plan is not None and len(plan) < horizon:
            raise AmiError(f"the plan has {len(plan)} steps, a horizon of {horizon} needs them all")
        groups = list(zip(table.groups(), table.group_rows(), strict=True))
        for g, r in groups:
            if len(r) < need:
                raise AmiError(
                    f"group {g!r} has {len(r)} rows; a forecast reads the latest {need} "
                    f"(context {self.model.config.rows_per_obs} + history {h} - 1)"
                )
        out = []
        for g, r in groups:
            x = table.sensors[r[-need:]]
            acts = None
            if self.action_names:
                rows = table.actions[r[-need:]]
                past = transitions(rows, self.next_row)[len(rows) - h :]  # last h - 1
                future = plan if plan is not None else np.repeat(rows[-1:], horizon, axis=0)
                acts = np.concatenate([past, future[:horizon]])
            out.append((g, self.forecast(x, acts, horizon)))
        return out
