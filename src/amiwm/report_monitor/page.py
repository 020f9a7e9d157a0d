"""A self-contained HTML page of a monitor run, for a plant operator: per group the sensor
traces (standardised), the anomaly score against the threshold, the alarms and their suspect
variables. All data is inlined as JSON and drawn by inline JavaScript on <canvas>; the page
fetches nothing (its Content-Security-Policy forbids it) and opens from disk. While the run
goes on the page is rewritten every `refresh_s` seconds (by a background thread, so an idle
stream's page is current too) and reloads itself at that pace (keeping the selected group and
channels in the URL's #fragment); a finished or stopped page does not reload."""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amiwm.data.formats.tep import describe
from amiwm.errors import AmiError
from amiwm.report_monitor.template import PAGE, SCRIPT, STYLE

if TYPE_CHECKING:
    from amiwm.monitoring.watch import Scored, Watch

MAX_POINTS = 5000  # per drawn series and group; longer runs are drawn from min/max buckets


def check_page_path(path: Path, overwrite: bool = False) -> None:
    """Refuse a page path in a missing folder, or an existing file without `overwrite`."""
    if not path.parent.is_dir():
        raise AmiError(f"--html {path}: folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise AmiError(f"--html {path} is a folder; give a file name such as run.html")
    if path.exists() and not overwrite:
        raise AmiError(f"{path} exists; pass --overwrite to replace it")


class _Group:
    """One group's rows (grown by doubling) and its alarm episodes, exact."""

    def __init__(self, name: str, channels: int) -> None:
        self.name, self.n = name, 0
        self.t = np.empty(256)
        self.score = np.empty(256, np.float32)
        self.x = np.empty((256, channels), np.float32)
        self.alarms: list[dict[str, Any]] = []
        self.open = False

    def add(
        self, t: float, score: float, x: np.ndarray, alarm: bool, top: list[int], names: list[str]
    ) -> None:
        """One row; `top`: the sensor indices named at it, `names`: every name (a stuck
        actuator's too, which has no trace)."""
        if self.n == len(self.t):
            self.t = np.concatenate([self.t, np.empty_like(self.t)])
            self.score = np.concatenate([self.score, np.empty_like(self.score)])
            self.x = np.concatenate([self.x, np.empty_like(self.x)])
        self.t[self.n], self.score[self.n], self.x[self.n] = t, score, x
        self.n += 1
        if not alarm:
            self.open = False
            return
        if not self.open:
            self.alarms.append(
                {
                    "start": t,
                    "end": t,
                    "rows": 0,
                    "peak": score,
                    "at": t,
                    "top": top,
                    "names": names,
                }
            )
            self.open = True
        a = self.alarms[-1]
        a["end"], a["rows"] = t, a["rows"] + 1
        if score > a["peak"]:
            a.update(peak=score, at=t, top=top, names=names)

    def suspects(self, most: int = 3) -> list[int]:
        """The channels named most (weighted by alarm rows), for the default trace selection."""
        votes: Counter = Counter()
        for a in self.alarms:
            for rank, c in enumerate(a["top"]):
                votes[c] += a["rows"] * (3 - rank)
        return [c for c, _ in votes.most_common(most)]


def minmax(t: np.ndarray, y: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Downsample rows `y` (N, S) at times `t` to at most `most` points per series: the min and
    max of each bucket of k rows, in the order they occur (spikes survive). Returns t, y, k."""
    n = len(t)
    if n <= most:
        return t, y, 1
    k = math.ceil(n / max(1, most // 2))
    m = math.ceil(n / k)
    pad = m * k - n
    yy = np.concatenate([y, np.full((pad, y.shape[1]), np.nan, y.dtype)]).reshape(m, k, -1)
    tt = np.concatenate([t, np.full(pad, t[-1])]).reshape(m, k)
    nan = np.isnan(yy)
    lo_i = np.argmin(np.where(nan, np.inf, yy), axis=1)[:, None]
    hi_i = np.argmax(np.where(nan, -np.inf, yy), axis=1)[:, None]
    lo = np.take_along_axis(yy, lo_i, 1)[:, 0]
    hi = np.take_along_axis(yy, hi_i, 1)[:, 0]
    first = (lo_i <= hi_i)[:, 0]
    out = np.stack([np.where(first, lo, hi), np.where(first, hi, lo)], 1).reshape(2 * m, -1)
    return np.stack([tt[:, 0], tt[:, -1]], 1).reshape(-1), out, k


def _nums(a: np.ndarray, digits: int = 4) -> list[float | None]:
    """JSON numbers with `digits` significant digits; NaN/Inf -> null."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in a.tolist()]


class MonitorPage:
    """Collects scored rows and writes the page (atomically: temp file + rename). `start`
    writes a running page and rewrites it every `refresh_s` seconds while rows come in; `add`
    every row; `finish` writes the final page (and stops the rewrites). Sensors are
    standardised with `mean`/`std` (the model's training statistics) when given, else over
    each group's own rows."""

    def __init__(
        self,
        path: Path,
        channels: list[str],
        threshold: float,
        *,
        title: str = "amiwm monitor",
        basis: str = "",
        mean: list[float] | None = None,
        std: list[float] | None = None,
        refresh_s: float = 5.0,
        max_points: int = MAX_POINTS,
        overwrite: bool = False,
    ) -> None:
        check_page_path(path, overwrite)
        if refresh_s <= 0:
            raise AmiError(f"--html-refresh must be > 0 seconds, got {refresh_s}")
        d = len(channels)
        ok = mean is not None and std is not None and len(mean) == len(std) == d
        self.mean = np.asarray(mean, np.float32) if ok else None
        self.std = np.maximum(np.asarray(std, np.float32), 1e-9) if ok else None
        self.path, self.channels, self.threshold = Path(path), list(channels), float(threshold)
        self.index = {c: i for i, c in enumerate(self.channels)}
        self.title, self.basis, self.refresh_s = title, basis, refresh_s
        self.max_points = max_points
        self.groups: dict[Any, _Group] = {}
        self.rows = self.bad = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.dirty = False

    @classmethod
    def for_watch(cls, path: Path, watch: Watch, **kw: Any) -> MonitorPage:
        """A page for a `Watch`: its channels, threshold and the model's training statistics."""
        cfg = watch.model.config
        return cls(
            path, watch.channels, watch.threshold, basis=watch.basis,
            mean=cfg.obs_mean, std=cfg.obs_std, **kw,
        )  # fmt: skip

    def add(self, r: Scored) -> None:
        names = r.top or ([r.suspect] if r.suspect else [])
        top = [self.index[c] for c in names if c in self.index]
        with self.lock:
            self.rows += 1
            self.dirty = True
            if r.bad is not None or r.sensors is None:
                self.bad += 1
                return
            g = self.groups.get(r.group)
            if g is None:
                g = self.groups[r.group] = _Group(str(r.group), len(self.channels))
            g.add(float(r.time), float(r.score), r.sensors, bool(r.alarm), top,
                  [describe(c) for c in names])  # fmt: skip

    def start(self) -> None:
        """Write the running page now, then again every `refresh_s` seconds with new rows."""
        self.write("running")

        def loop() -> None:
            while not self.stop.wait(self.refresh_s):
                if self.dirty:
                    self.write("running")

        self.thread = threading.Thread(target=loop, name="monitor-page", daemon=True)
        self.thread.start()

    def finish(self, stopped: bool = False) -> Path:
        """The final page: no reload; says finished (or stopped, for an interrupted run)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        return self.write("stopped" if stopped else "finished")

    def data(self, status: str) -> dict[str, Any]:
        groups = []
        for g in self.groups.values():
            x = g.x[: g.n]
            if self.mean is not None:
                z = (x - self.mean) / self.std
            else:
                z = (x - x.mean(0)) / (x.std(0) + 1e-9)
            series = np.column_stack([g.score[: g.n], z])
            t, y, k = minmax(g.t[: g.n], series, self.max_points)
            alarms = [{**a, "peak": _nums(np.array([a["peak"]]), 5)[0], "open": False}
                      for a in g.alarms]  # fmt: skip
            if g.open:
                alarms[-1]["open"] = True  # still in alarm at the last row
            groups.append(
                {
                    "name": g.name,
                    "rows": g.n,
                    "step": k,
                    "t": _nums(t, 12),
                    "score": _nums(y[:, 0], 5),
                    "x": [_nums(y[:, 1 + c], 3) for c in range(len(self.channels))],
                    "alarms": alarms,
                    "suspects": g.suspects() or list(range(min(3, len(self.channels)))),
                }
            )
        return {
            "title": self.title,
            "status": status,
            "updated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "updated_unix": time.time(),
            "refresh_s": self.refresh_s,
            "threshold": self.threshold if math.isfinite(self.threshold) else None,
            "basis": self.basis,
            "standardised": "training data" if self.mean is not None else "each group's rows",
            "max_points": self.max_points,
            "rows": self.rows,
            "bad": self.bad,
            "channels": self.channels,
            "labels": [describe(c) for c in self.channels],
            "groups": groups,
        }

    def render(self, status: str) -> str:
        with self.lock:
            snapshot, self.dirty = self.data(status), False
        data = json.dumps(snapshot, allow_nan=False, separators=(",", ":"))
        page = PAGE.replace("%TITLE%", html.escape(self.title))
        page = page.replace("%STYLE%", STYLE).replace("%SCRIPT%", SCRIPT)
        return page.replace("%DATA%", data.replace("</", "<\\/"))

    def write(self, status: str) -> Path:
        """Write the page atomically; `status`: running (reloads itself), finished or stopped."""
        text = self.render(status)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path
