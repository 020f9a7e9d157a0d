"""Streaming surprise: how far each new sensor row departs from the world model's prediction."""

from __future__ import annotations

import itertools
import math
import queue
import threading
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

from amiwm.data.formats import BadRow
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.monitoring.drift import DriftState, drift_reference, drift_statistic
from amiwm.monitoring.dynamic import DynamicReadout, features, fit_dynamic
from amiwm.rundir import RunDir

Run = tuple[np.ndarray, np.ndarray | None]  # healthy rows (T, D) and actions (T, A) or None
STUCK = 100.0  # an action window this many times stiller than healthy counts as stuck
STUCK_GAIN = 100.0  # stuck term -> score units (the healthy score's mean is about 1)


@dataclass
class _Tail:
    """What a group needs to carry over between chunks."""

    rows: np.ndarray  # last (context - 1) rows
    latents: np.ndarray  # last `history` latents
    actions: np.ndarray  # last `history` actions
    seen: int = 0  # rows so far
    score: float = float("nan")  # smoothed surprise after the last row
    contrib: np.ndarray | None = None  # smoothed per-channel contributions after the last row
    drift: DriftState = field(default_factory=DriftState)  # per-channel residual drift


@dataclass
class MonitorResult:
    """Per input row: surprise (NaN while warming up), readout residual (NaN without a
    readout), smoothed score, alarm flag, the channel the latent state explains worst, and
    `top` (N, 3): the channels with the largest smoothed contributions, largest first (-1
    while there are none; with a dynamic read-out `suspect` is its first). An index at or past
    the sensor count names an action: channels + j is action j, held still (a stuck actuator
    leads `top` and is the suspect while its window stays still)."""

    surprise: np.ndarray
    residual: np.ndarray
    score: np.ndarray
    alarm: np.ndarray
    suspect: np.ndarray
    top: np.ndarray | None = None


@dataclass
class Readout:
    """Linear map from a row's latent to the row's own (normalised) readings, fitted on healthy
    data. Its residual is what the world-model state does not explain: a biased or drifting
    sensor that the latent, which keeps only the predictable state, averages away.
    `surprise_ref` / `residual_ref` are their healthy means, so the score adds like to like.

    With sensor windows it also carries a flat-line check: `spread` is each channel's median
    standard deviation over a healthy window; a channel whose window spread falls far below it
    (a stuck sensor only loses its noise, which neither latent nor read-out sees) scores
    log(spread / window std), at most log(1000) (exactly stuck); `flat_ref` is its healthy
    mean.

    With actions it carries a stuck-actuator check: `action_spread` is each action channel's
    median standard deviation over healthy windows of `history + 1` rows, kept only for channels
    that never hold still in healthy data (NaN for the others, such as piecewise-constant
    setpoints); a window whose spread falls below 1/STUCK of it (a valve fixed in place) scores
    the flat-line term against spread / STUCK, times STUCK_GAIN."""

    weights: np.ndarray  # (latent_dim + 1, channels)
    scale: np.ndarray  # (channels,) healthy residual std
    surprise_ref: float = 1.0
    residual_ref: float = 1.0
    spread: np.ndarray | None = None  # (channels,) healthy median window std
    flat_ref: float = 1.0
    dynamic: DynamicReadout | None = None  # action-conditioned read-out (Monitor.dynamic)
    drift_scale: np.ndarray | None = None  # (channels,) healthy std of the drift EWMA
    drift_gain: float = 1.0  # drift statistic -> score units (healthy 99th percentiles match)
    action_spread: np.ndarray | None = None  # (actions,) healthy median window std, NaN: off


@dataclass
class Monitor:
    """Per-group streaming surprise with an exponentially smoothed score and an alarm threshold.

    Row t of a group is encoded as the window of the `context` rows ending at t; its latent is
    predicted from the `history` latents before it and their actions (a row's action is the
    one applied between it and the next row). surprise_t is the squared prediction error per
    latent dimension; the score is its EWMA (weight `smoothing` on the new value); the alarm
    is score > threshold. The first `history` rows of a group only warm up (surprise NaN).

    `next_actions`: a row's action is the one applied while that row was read (a row's own
    controller outputs, as in TEP), so row t is predicted with the actions of rows up to t.
    `dynamic`: calibrating also fits the action-conditioned read-out (monitoring/dynamic.py),
    and the score is then its distance (plus the flat-line term) instead of surprise + residual.
    Without it the score is the larger of that smoothed sum and the drift statistic
    (monitoring/drift.py: a long EWMA of each channel's read-out residual against the group's
    own first rows), scaled so both have the same healthy 99th percentile.
    """

    model: WorldModel
    threshold: float = float("inf")
    smoothing: float = 0.2
    readout: Readout | None = None
    next_actions: bool = False
    dynamic: bool = False
    tails: dict[Hashable, _Tail] = field(default_factory=dict)
    _collect: list | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        cfg = self.model.config
        if cfg.modality != "sensors":
            raise AmiError("monitoring needs a sensor model (trained on cmapss:, csv: or sensors)")
        if not 0 < self.smoothing <= 1:
            raise AmiError(f"smoothing must be in (0, 1], got {self.smoothing}")
        self.model.eval()
        self.context = cfg.rows_per_obs
        self.history = cfg.history
        self.channels = int(cfg.obs_shape[-1])
        self.action_dim = max(cfg.action_dim, 1)

    def reset(self) -> None:
        self.tails.clear()

    @torch.inference_mode()
    def process(
        self, groups: Sequence[Hashable], sensors: np.ndarray, actions: np.ndarray | None = None
    ) -> MonitorResult:
        """Feed rows (in time order within each group); returns one result per row."""
        x = np.asarray(sensors, dtype=np.float32)
        n = len(groups)
        if x.shape != (n, self.channels):
            raise AmiError(f"sensor rows have shape {x.shape}, expected ({n}, {self.channels})")
        a = np.zeros((n, self.action_dim), np.float32) if actions is None else actions
        a = np.asarray(a, dtype=np.float32)
        if a.shape != (n, self.action_dim):
            raise AmiError(f"action rows have shape {a.shape}, expected ({n}, {self.action_dim})")
        if not (np.isfinite(x).all() and np.isfinite(a).all()):
            raise AmiError("sensor or action rows contain NaN or Inf")
        members: dict[Hashable, list[int]] = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        parts = [(g, np.asarray(idx), self._tail(g, x[idx[0]])) for g, idx in members.items()]
        obs = [self._windows(t, x[idx]) for _, idx, t in parts]
        windows = np.concatenate(obs)
        z_all = self.model.encode(windows).float().numpy()
        surprise = np.full(n, np.nan, np.float32)
        residual = np.full(n, np.nan, np.float32)
        flat = np.zeros(n, np.float32)
        suspect = np.full(n, -1, np.int64)
        score = np.full(n, np.nan, np.float32)
        contrib = np.full((n, self.channels), np.nan, np.float32)
        drift = np.full(n, np.nan, np.float32)
        drift_arg = np.full(n, -1, np.int64)
        stuck = np.zeros(n, np.float32)
        stuck_arg = np.full(n, -1, np.int64)
        spread = None if self.readout is None else self.readout.action_spread
        if self.readout is not None:
            order = np.concatenate([idx for _, idx, _ in parts])
            r = self._residuals(x[order], z_all)
            if self.readout.drift_scale is not None:
                offset = 0
                for _, idx, tail in parts:
                    d, j = drift_statistic(tail.drift, r[offset : offset + len(idx)],
                                           self.readout.drift_scale)  # fmt: skip
                    drift[idx], drift_arg[idx] = d * self.readout.drift_gain, j
                    offset += len(idx)
            residual[order] = (r**2).mean(1)
            suspect[order] = np.abs(r).argmax(1)
            contrib[order] = r**2
            if self.readout.spread is not None and self.context > 1:
                full = np.concatenate(  # windows made only of the group's own rows
                    [t.seen + np.arange(len(idx)) >= self.context - 1 for _, idx, t in parts]
                )
                f = flatness(windows, self.readout.spread)
                flat[order] = np.where(full, f.max(1), 0.0)
                suspect[order] = np.where(
                    flat[order] / self.readout.flat_ref
                    > residual[order] / self.readout.residual_ref,
                    f.argmax(1),
                    suspect[order],
                )
        ctx_z, ctx_a, targets, where, offset = [], [], [], [], 0
        for _, idx, tail in parts:
            z = z_all[offset : offset + len(idx)]
            offset += len(idx)
            zs = np.concatenate([tail.latents, z])
            acts = np.concatenate([tail.actions, a[idx]])
            if actions is not None and spread is not None:
                term, which = stuck_term(acts, spread, self.history + 1)
                stuck[idx], stuck_arg[idx] = term[-len(idx) :], which[-len(idx) :]
            first = len(tail.latents)  # position of this chunk's first row in zs
            ready = np.arange(max(0, self.history - first), len(idx))
            if ready.size:
                lo, hi = first + ready[0] - self.history, first + ready[-1]
                zw = sliding_window_view(zs[lo:hi], self.history, axis=0)
                shift = int(self.next_actions)  # with next_actions, up to the target's own
                aw = sliding_window_view(acts[lo + shift : hi + shift], self.history, axis=0)
                ctx_z.append(zw.transpose(0, 2, 1))
                ctx_a.append(aw.transpose(0, 2, 1))
                targets.append(z[ready])
                where.append(idx[ready])
            tail.latents = zs[-self.history :]
            tail.actions = acts[-self.history :]
            tail.seen += len(idx)
        dyn = None
        if where:
            cz, ca = np.concatenate(ctx_z), np.concatenate(ctx_a)
            pred = self.model.rollout_latents(torch.from_numpy(cz), torch.from_numpy(ca))[:, -1]
            pred = pred.float().numpy()
            rows = np.concatenate(where)
            surprise[rows] = ((pred - np.concatenate(targets)) ** 2).mean(-1)
            dynamic = None if self.readout is None else self.readout.dynamic
            if dynamic is not None or self._collect is not None:
                f = self._features(pred, cz, ca)
                if self._collect is not None:
                    self._collect.append((f, self._normalise(x[rows])))
                if dynamic is not None:
                    dyn = np.full(n, np.nan, np.float32)
                    dyn[rows], contrib[rows] = dynamic.distance(f, self._normalise(x[rows]))
                    contrib[np.isnan(dyn)] = np.nan
        raw = surprise
        if self.readout is not None:
            raw = surprise / self.readout.surprise_ref + residual / self.readout.residual_ref
            if dyn is not None:
                raw = dyn
            raw = raw + flat / self.readout.flat_ref + STUCK_GAIN * stuck
        top = np.full((n, 3), -1, np.int64)
        for _, idx, tail in parts:
            score[idx] = self._smooth(tail, raw[idx])
            top[idx] = self._top(tail, contrib[idx])
        if dyn is not None:
            suspect = top[:, 0].copy()
        held = stuck > 0  # a stuck actuator leads the names: index channels + action
        top[held] = np.stack([self.channels + stuck_arg[held], *top[held, :2].T], 1)
        suspect = np.where(held, self.channels + stuck_arg, suspect)
        over = drift > np.nan_to_num(score, nan=-np.inf)  # False where drift is NaN
        score = np.where(over, drift, score)
        suspect = np.where(over, drift_arg, suspect)
        alarm = np.nan_to_num(score, nan=-np.inf) > self.threshold
        return MonitorResult(surprise, residual, score, alarm, suspect, top)

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        cfg = self.model.config
        mean, std = np.asarray(cfg.obs_mean, np.float64), np.asarray(cfg.obs_std, np.float64)
        return (x.astype(np.float64) - mean) / std

    def _features(self, pred: np.ndarray, ctx_z: np.ndarray, ctx_a: np.ndarray) -> np.ndarray:
        cfg = self.model.config
        acts = None
        if cfg.action_conditioning and cfg.action_dim > 0:
            mean = np.asarray(cfg.action_mean, np.float32)
            std = np.asarray(cfg.action_std, np.float32)
            acts = (ctx_a - mean) / std
        return features(pred, ctx_z, acts, min(2, self.history))

    def _top(self, tail: _Tail, c: np.ndarray) -> np.ndarray:
        """Top-3 channels of the EWMA of per-channel contributions (rows without: -1)."""
        out = np.full((len(c), 3), -1, np.int64)
        ok = np.flatnonzero(~np.isnan(c[:, 0]))
        if not ok.size:
            return out
        w = self.smoothing
        prev = tail.contrib if tail.contrib is not None else c[ok[0]]
        y, _ = lfilter([w], [1.0, w - 1.0], c[ok].astype(np.float64), axis=0,
                       zi=((1.0 - w) * prev)[None].astype(np.float64))  # fmt: skip
        tail.contrib = y[-1]
        k = min(3, c.shape[1])
        out[ok, :k] = np.argsort(-y, axis=1)[:, :k]
        return out

    def _residuals(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        cfg = self.model.config
        xn = (x - np.asarray(cfg.obs_mean, np.float32)) / np.asarray(cfg.obs_std, np.float32)
        w = self.readout.weights
        return (xn - (z @ w[:-1] + w[-1])) / self.readout.scale

    def calibrate(self, fit: Sequence[Run], check: Sequence[Run], false_alarm_rate: float) -> float:
        """Fit the readout on healthy runs `fit`, then set the threshold that none of the
        healthy runs `check` exceeds on more than `false_alarm_rate` of its scored rows
        (`alarm_threshold`). Returns the threshold."""
        self.readout = self.fit_readout(fit)
        scores = [
            self.process([("check", i)] * len(x), x, a).score for i, (x, a) in enumerate(check)
        ]
        self.reset()
        self.threshold = alarm_threshold(scores, false_alarm_rate)
        return self.threshold

    @torch.inference_mode()
    def fit_readout(self, runs: Sequence[Run]) -> Readout:
        """Fit the readout on healthy runs [(rows (T, D), actions (T, A) or None), ...]."""
        from amiwm.data.windows import context_windows
        from amiwm.evaluation import ridge_fit

        saved, self.readout = self.readout, None
        zs, xs, ss = [], [], []
        self._collect = [] if self.dynamic else None
        try:
            for i, (x, a) in enumerate(runs):
                x = np.asarray(x, np.float32)
                obs = context_windows(x, self.context) if self.context > 1 else x
                zs.append(self.model.encode(obs).float().numpy())
                ss.append(self.process([("fit", i)] * len(x), x, a).surprise)
                xs.append(x)
            collected, self._collect = self._collect, None
        finally:
            self._collect = None
        self.reset()
        self.readout = saved
        z, x = np.concatenate(zs), np.concatenate(xs)
        cfg = self.model.config
        xn = (x - np.asarray(cfg.obs_mean)) / np.asarray(cfg.obs_std)
        w = ridge_fit(z, xn, 1e-3)
        r = xn - (z @ w[:-1] + w[-1])
        scale = r.std(0) + 1e-6
        res = ((r / scale) ** 2).mean(1)
        ref = float(np.nanmean(np.concatenate(ss)))
        readout = Readout(w.astype(np.float32), scale.astype(np.float32), ref, float(res.mean()))
        if self.context > 1:  # healthy window spreads, from windows of a run's own rows only
            wins = [context_windows(np.asarray(x, np.float32), self.context)[self.context - 1 :]
                    for x, _ in runs]  # fmt: skip
            wins = np.concatenate([w for w in wins if len(w)])
            readout.spread = np.median(wins.std(1), 0).astype(np.float32) + 1e-12
            readout.flat_ref = max(float(flatness(wins, readout.spread).max(1).mean()), 1e-3)
        readout.action_spread = action_spread([a for _, a in runs], self.history + 1)
        if not self.dynamic:  # per-run residuals, in the read-out's scaled units
            per_run = np.split(r / scale, np.cumsum([len(x) for x in xs])[:-1])
            readout.drift_scale, readout.drift_gain = drift_reference(
                per_run, self._healthy_scores(runs, readout)
            )
        if collected:
            feats = np.concatenate([f for f, _ in collected])
            readout.dynamic = fit_dynamic(
                feats, np.concatenate([t for _, t in collected]), min(2, self.history)
            )
        return readout

    def dynamic_features(self, x: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The dynamic read-out's features of one run's scored rows (after the warm-up) and
        those rows' normalised readings: what `fit_readout` fits on."""
        self._collect = []
        try:
            self.process(["features"] * len(x), np.asarray(x, np.float32), a)
            feats, xn = (np.concatenate(p) for p in zip(*self._collect, strict=True))
        finally:
            self._collect = None
            self.reset()
        return feats, xn

    def _healthy_scores(self, runs: Sequence[Run], readout: Readout) -> list[np.ndarray]:
        """Smoothed scores (without the drift term) of `runs` under `readout`."""
        saved, self.readout = self.readout, readout
        try:
            return [
                self.process([("ref", i)] * len(x), x, a).score for i, (x, a) in enumerate(runs)
            ]
        finally:
            self.reset()
            self.readout = saved

    def _tail(self, group: Hashable, first_row: np.ndarray) -> _Tail:
        tail = self.tails.get(group)
        if tail is None:  # a new group: its first row stands in for the rows before it
            tail = _Tail(
                rows=np.repeat(first_row[None], self.context - 1, axis=0),
                latents=np.zeros((0, self.model.config.latent_dim), np.float32),
                actions=np.zeros((0, self.action_dim), np.float32),
            )
            self.tails[group] = tail
        return tail

    def _windows(self, tail: _Tail, rows: np.ndarray) -> np.ndarray:
        full = np.concatenate([tail.rows, rows])
        if self.context > 1:
            tail.rows = full[-(self.context - 1) :]
            return sliding_window_view(full, self.context, axis=0).transpose(0, 2, 1)
        return rows

    def _smooth(self, tail: _Tail, s: np.ndarray) -> np.ndarray:
        out = np.full(len(s), np.nan, np.float32)
        ok = np.flatnonzero(~np.isnan(s))
        if not ok.size:
            return out
        prev = tail.score if not np.isnan(tail.score) else float(s[ok[0]])
        w = self.smoothing
        # surprise is NaN only while a group warms up, so the scored rows are a suffix
        y, _ = lfilter([w], [1.0, w - 1.0], s[ok].astype(np.float64), zi=[(1.0 - w) * prev])
        out[ok[0] :] = y
        tail.score = float(y[-1])
        return out


def flatness(windows: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """(N, context, D) windows -> (N, D): log(healthy spread / window std), 0 when not lower."""
    std = windows.std(1)
    return np.maximum(np.log(spread / np.maximum(std, spread / 1000)), 0.0).astype(np.float32)


def action_spread(actions: Sequence[np.ndarray | None], win: int) -> np.ndarray | None:
    """(A,) median std of healthy action windows of `win` rows; NaN for a channel that holds
    still (below 1/STUCK of its median) anywhere in healthy data. None without actions."""
    wins = [sliding_window_view(np.asarray(a, np.float64), win, axis=0).std(-1)
            for a in actions if a is not None and len(a) >= win]  # fmt: skip
    if not wins:
        return None
    std = np.concatenate(wins)
    spread = np.median(std, 0)
    still = (spread <= 0) | (std < spread / STUCK).any(0)
    return np.where(still, np.nan, spread).astype(np.float32)


def stuck_term(acts: np.ndarray, spread: np.ndarray, win: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,) stuck-actuator term of each row of `acts` (T, A) and (T,) the action it names (-1
    where the term is 0): the largest `flatness` of the `win` actions ending at the row against
    spread / STUCK, over the channels with a finite healthy `spread`; 0 until a window is full."""
    out, which = np.zeros(len(acts), np.float32), np.full(len(acts), -1, np.int64)
    on = np.flatnonzero(np.isfinite(spread))
    if len(acts) < win or not on.size:
        return out, which
    wins = sliding_window_view(np.asarray(acts, np.float64)[:, on], win, axis=0)
    f = flatness(wins.transpose(0, 2, 1), spread[on] / STUCK)
    out[win - 1 :] = f.max(1)
    which[win - 1 :] = np.where(f.max(1) > 0, on[f.argmax(1)], -1)
    return out, which


def alarm_threshold(
    scores: np.ndarray | Sequence[np.ndarray], false_alarm_rate: float, per_run: bool = True
) -> float:
    """The threshold that scores of normal operation exceed at `false_alarm_rate` of steps.

    `scores`: one array, or one per healthy run. With several runs (and `per_run`) it is the
    highest of the runs' own thresholds, so that no calibration run alarms on more than the rate
    of its rows: a threshold pooled over a few runs is exceeded more often by runs it has not
    seen, which vary between themselves as much as the few do (README, "Alarms"). Runs shorter
    than 1 / rate scored rows are joined with the runs after them until they are not.
    """
    if not 0 < false_alarm_rate < 1:
        raise AmiError(f"--false-alarm-rate must be in (0, 1), got {false_alarm_rate}")
    one = isinstance(scores, np.ndarray) or not len(scores) or np.ndim(scores[0]) == 0
    runs = [scores] if one else list(scores)
    runs = [s[np.isfinite(s)] for s in (np.asarray(r, np.float64).ravel() for r in runs)]
    pooled = np.concatenate(runs) if runs else np.zeros(0)
    if pooled.size < 20:
        got = pooled.size
        raise AmiError(f"calibration needs at least 20 scored rows of normal data, got {got}")
    q = 1.0 - false_alarm_rate
    if not per_run:
        return float(np.quantile(pooled, q))
    parts, part = [], np.zeros(0)
    for r in runs:
        part = np.concatenate([part, r])
        if len(part) >= 1.0 / false_alarm_rate:
            parts.append(part)
            part = np.zeros(0)
    if part.size:  # a short remainder joins the last part
        parts = [*parts[:-1], np.concatenate([parts[-1], part])] if parts else [part]
    return float(max(np.quantile(p, q) for p in parts))


def store_runs(path: Path, episodes: Sequence[int]) -> list[Run]:
    """(rows, actions) of `episodes` of a sensor store, each action on the row it came with
    (a "next_row" store keeps row t+1's action between rows t and t+1: shifted back here;
    the first row's action is not stored, and it repeats the second's)."""
    from amiwm.data.store import EpisodeStore

    with EpisodeStore(path) as store:
        eps = [store.episode(int(e)) for e in episodes]
        shift = store.attrs.get("action_alignment") == "next_row"
    runs = [(ep["observations"], ep.get("actions")) for ep in eps]
    if shift:
        runs = [(x, a if a is None else np.concatenate([a[:1], a[:-1]])) for x, a in runs]
    return runs


def chunks(rows: Iterator[Any], size: int, live: bool = False) -> Iterator[list[Any]]:
    """Group an iterator into lists of up to `size`. `live` (a pipe): never wait for a full
    chunk; take what has arrived, so a slow stream is answered row by row."""
    if not live:
        while batch := list(itertools.islice(rows, size)):
            yield batch
        return
    q: queue.Queue = queue.Queue(maxsize=4 * size)
    done = object()

    def pump() -> None:
        try:
            for row in rows:
                q.put(row)
        finally:
            q.put(done)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        first = q.get()
        if first is done:
            return
        batch = [first]
        while len(batch) < size:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            if item is done:
                yield batch
                return
            batch.append(item)
        yield batch


def score_stream(
    monitor: Monitor, rows: Iterator[Any], chunk: int = 512, live: bool = False
) -> Iterator[tuple[Any, float, float, bool]]:
    """(row, surprise, residual, score, alarm, suspect channel, top-3 channels) for every row
    of a stream, in order, `chunk` rows per model call; a BadRow passes through with NaNs and
    no alarm."""
    if chunk < 1:
        raise AmiError(f"--chunk must be >= 1, got {chunk}")
    for batch in chunks(rows, chunk, live):
        good = [r for r in batch if not isinstance(r, BadRow)]
        if good:
            acts = np.stack([r.actions for r in good]) if good[0].actions is not None else None
            res = monitor.process(
                [r.group for r in good], np.stack([r.sensors for r in good]), acts
            )
            scored = zip(
                res.surprise.tolist(),
                res.residual.tolist(),
                res.score.tolist(),
                res.alarm.tolist(),
                res.suspect.tolist(),
                [tuple(t) for t in res.top.tolist()],
                strict=True,
            )
        for r in batch:
            if isinstance(r, BadRow):
                yield r, math.nan, math.nan, math.nan, False, -1, (-1, -1, -1)
            else:
                yield (r, *next(scored))


def table_runs(table: Any) -> list[Run]:
    """(rows, actions) of every group of a SensorTable, in group order."""
    return [
        (table.sensors[r], None if table.actions is None else table.actions[r])
        for r in table.group_rows()
    ]


def training_runs(checkpoint: Path, most: int = 40) -> tuple[list[Run], list[Run]]:
    """Healthy runs from the data a checkpoint was trained on: up to `most` training episodes
    (to fit the readout) and the held-out validation episodes (to set the threshold)."""
    run = RunDir(checkpoint)
    path = run.require_training_data("to calibrate on", "--calibrate FILE (normal operation)")
    fit, val = run.split
    step = max(1, len(fit) // most)
    return store_runs(path, fit[::step][:most]), store_runs(path, val or fit)


def split_runs(runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """Alternate runs between readout fitting and threshold setting (one run: both)."""
    if len(runs) < 2:
        return runs, runs
    return runs[0::2], runs[1::2]
