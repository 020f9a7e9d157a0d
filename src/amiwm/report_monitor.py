"""A self-contained HTML page of a monitor run, for a plant operator: per group the sensor
traces (standardised), the anomaly score against the threshold, the alarms and their suspect
variables. All data is inlined as JSON and drawn by inline JavaScript on <canvas>; the page
fetches nothing (its Content-Security-Policy forbids it) and opens from disk. While the run
goes on the page is rewritten every `refresh_s` seconds (by a background thread, so an idle
stream's page is current too) and reloads itself at that pace
(keeping the selected group and channels in the URL's #fragment); a finished or stopped page
does not reload."""

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
from typing import Any

import numpy as np

from amiwm.data.formats.tep import describe
from amiwm.errors import AmiError
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

    def add(self, t: float, score: float, x: np.ndarray, alarm: bool, top: list[int]) -> None:
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
                {"start": t, "end": t, "rows": 0, "peak": score, "at": t, "top": top}
            )
            self.open = True
        a = self.alarms[-1]
        a["end"], a["rows"] = t, a["rows"] + 1
        if score > a["peak"]:
            a.update(peak=score, at=t, top=top)

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
            g.add(float(r.time), float(r.score), r.sensors, bool(r.alarm), top)

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


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%TITLE%</title>
<style>%STYLE%</style></head>
<body>
<h1>%TITLE%</h1>
<p id="status"></p>
<p id="error" hidden></p>
<p id="summary"></p>
<p><label>Group <select id="group"></select></label> <span id="note"></span></p>
<h2>Sensors <small>(standardised)</small></h2>
<div id="channels"></div>
<canvas id="sensors"></canvas>
<h2>Anomaly score <small>(red dashed: threshold; shaded: in alarm)</small></h2>
<canvas id="score"></canvas>
<h2>Alarms <small>(click a row to show its suspects)</small></h2>
<div class="scroll"><table id="alarms"><thead><tr><th>#</th><th>start</th><th>end</th>
<th>rows</th><th>peak score</th><th>peak at</th><th>suspect variables (top 3 at the peak)</th></tr>
</thead><tbody></tbody></table></div>
<script id="data" type="application/json">%DATA%</script>
<script>%SCRIPT%</script>
</body></html>
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:1em 2em;color:#222}
h1{font-size:1.3em} h2{font-size:1.05em;margin:1em 0 .3em} small{font-weight:normal;color:#666}
canvas{width:100%;display:block;border:1px solid #ddd}
#error{color:#fff;background:#b00;padding:.4em}
#status.running{color:#0a5} #status.stopped{color:#b60}
#channels label{display:inline-block;margin:0 .8em .2em 0;font-size:.9em;white-space:nowrap}
.scroll{max-height:22em;overflow:auto}
table{border-collapse:collapse;font-size:.9em}
td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
tbody tr{cursor:pointer} tbody tr:hover{background:#f4f4f4}
"""

SCRIPT = r"""
"use strict";
window.onerror = (msg, src, line) => {
  const e = document.getElementById("error");
  e.textContent = "drawing failed: " + msg + " (line " + line + ")";
  e.hidden = false;
};
const D = JSON.parse(document.getElementById("data").textContent);
// a running page reloads itself (keeping the selection in the #fragment); a finished one not
if (D.status === "running") setTimeout(() => location.reload(), 1000 * D.refresh_s);
const COLORS = ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
  "#17becf", "#393b79", "#637939"];
const SCORE = "#1f5fbf", ALARM = "#d62728";
const fmt = (v) => (v === null || v === undefined ? "-" : String(Number(v.toPrecision(6))));
const tick = (v) => String(Number(v.toPrecision(3)));
const alarms = (n) => n + (n === 1 ? " alarm" : " alarms");
const el = (tag, text) => {
  const e = document.createElement(tag); e.textContent = text; return e;
};
const state = { group: -1, channels: null };

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  const g = parseInt(h.get("g"), 10);
  if (g >= 0 && g < D.groups.length) state.group = g;
  if (h.has("c")) state.channels = h.get("c").split(",").filter((s) => s !== "")
    .map(Number).filter((c) => c >= 0 && c < D.channels.length);
}
function writeHash() {
  location.replace("#g=" + state.group + "&c=" + state.channels.join(","));
}

function niceTicks(a, b, n) {  // about n round values (1, 2 or 5 times a power of ten) in [a, b]
  const raw = (b - a) / n, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
  const step = (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p, out = [];
  for (let k = Math.ceil(a / step); k * step <= b; k++) out.push(k * step);
  return out;
}
function logTicks(a, b) {  // log10 of 1, 2, 5 times powers of ten in [a, b] (log10 units)
  let out = [];
  for (let e = Math.floor(a); e <= Math.ceil(b); e++) {
    for (const m of [1, 2, 5]) { const v = e + Math.log10(m); if (v >= a && v <= b) out.push(v); }
  }
  if (out.length > 8) out = out.filter((v) => Math.abs(v - Math.round(v)) < 1e-9);
  return out.length >= 2 ? out : niceTicks(a, b, 4);
}

function chart(canvas, height, t, series, o) {
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || 800;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(height * dpr);
  canvas.style.height = height + "px";
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const L = 64, R = 12, T = 14, B = 26, W = w - L - R, H = height - T - B;
  const f = o.log ? (v) => (v > 0 ? Math.log10(v) : null) : (v) => v;
  let t0 = Infinity, t1 = -Infinity, lo = Infinity, hi = -Infinity;
  for (const v of t) { if (v !== null) { t0 = Math.min(t0, v); t1 = Math.max(t1, v); } }
  const ys = series.map((s) => s.y.map((v) => (v === null ? null : f(v))));
  const extra = o.threshold === null || o.threshold === undefined ? [] : [f(o.threshold)];
  for (const y of ys.concat([extra])) {
    for (const v of y) {
      if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
  }
  if (!isFinite(lo)) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const pad = 0.05 * (hi - lo); lo -= pad; hi += pad;
  if (!isFinite(t0)) { t0 = 0; t1 = 1; }
  const X = (v) => L + (t1 > t0 ? (v - t0) / (t1 - t0) : 0.5) * W;
  const Y = (v) => T + (1 - (v - lo) / (hi - lo)) * H;
  g.fillStyle = "#fff"; g.fillRect(0, 0, w, height);
  g.fillStyle = "rgba(214,39,40,0.15)";
  for (const a of o.alarms) {
    const x0 = X(a.start); g.fillRect(x0, T, Math.max(X(a.end) - x0, 1.5), H);
  }
  g.strokeStyle = "#999"; g.lineWidth = 1; g.strokeRect(L, T, W, H);
  g.fillStyle = "#444"; g.font = "11px sans-serif"; g.textAlign = "right";
  for (const v of (o.log ? logTicks(lo, hi) : niceTicks(lo, hi, 5))) {
    const y = Y(v);
    g.fillText(tick(o.log ? Math.pow(10, v) : v), L - 4, y + 4);
    g.fillRect(L - 3, y, 3, 1);
  }
  g.textAlign = "center";
  for (const v of niceTicks(t0, t1, 6)) {
    g.fillText(tick(v), X(v), T + H + 16); g.fillRect(X(v), T + H, 1, 3);
  }
  series.forEach((s, k) => {
    g.strokeStyle = s.color; g.lineWidth = s.width || 1.2; g.beginPath();
    let on = false;
    ys[k].forEach((v, i) => {
      if (v === null || t[i] === null || !isFinite(v)) { on = false; return; }
      if (on) g.lineTo(X(t[i]), Y(v)); else g.moveTo(X(t[i]), Y(v));
      on = true;
    });
    g.stroke();
  });
  if (extra.length && extra[0] !== null) {
    g.strokeStyle = ALARM; g.lineWidth = 1.5; g.setLineDash([6, 4]); g.beginPath();
    g.moveTo(L, Y(extra[0])); g.lineTo(L + W, Y(extra[0])); g.stroke(); g.setLineDash([]);
  }
  g.fillStyle = ALARM;
  for (const a of o.alarms) {
    const x = X(a.start); g.beginPath(); g.moveTo(x - 5, 2); g.lineTo(x + 5, 2); g.lineTo(x, T);
    g.fill();
  }
}

function draw() {
  const G = D.groups[state.group];
  const sens = document.getElementById("sensors"), score = document.getElementById("score");
  const tbody = document.querySelector("#alarms tbody");
  tbody.replaceChildren();
  if (!G) { document.getElementById("note").textContent = "no rows yet"; return; }
  document.getElementById("note").textContent = G.rows + " rows, " + alarms(G.alarms.length) +
    (G.step > 1 ? "; drawn from the min and max of every " + G.step + " rows (at most " +
     D.max_points + " points per series); alarms and the table are exact" : "");
  document.querySelectorAll("#channels input").forEach((b) => {
    b.checked = state.channels.includes(Number(b.value));
  });
  const traces = state.channels.map((c) => ({ y: G.x[c], color: COLORS[c % COLORS.length] }));
  chart(sens, 220, G.t, traces, { log: false, alarms: G.alarms });
  const pos = G.score.every((v) => v === null || v > 0) &&
    (D.threshold === null || D.threshold > 0);
  chart(score, 200, G.t, [{ y: G.score, color: SCORE, width: 1.6 }],
    { log: pos, threshold: D.threshold, alarms: G.alarms });
  G.alarms.forEach((a, i) => {
    const tr = document.createElement("tr");
    const end = !a.open ? fmt(a.end)
      : D.status === "running" ? "ongoing" : fmt(a.end) + " (end of data)";
    [String(i + 1), fmt(a.start), end, String(a.rows), fmt(a.peak), fmt(a.at),
      a.top.map((c) => D.labels[c]).join(", ")].forEach((s) => tr.appendChild(el("td", s)));
    tr.addEventListener("click", () => {
      if (a.top.length) { state.channels = a.top.slice(); writeHash(); draw(); }
    });
    tbody.appendChild(tr);
  });
}

function init() {
  const st = document.getElementById("status");
  st.className = D.status;
  const age = Date.now() / 1000 - D.updated_unix;
  st.textContent = D.status === "running"
    ? "running: updated " + D.updated + "; this page reloads every " + D.refresh_s + " s" +
      (age > 3 * D.refresh_s + 60
        ? " (no update for " + Math.round(age) + " s: is the monitor still running?)" : "")
    : D.status === "finished" ? "finished: " + D.updated
    : "stopped before the end of the data: " + D.updated;
  const inAlarm = D.groups.filter((g) => g.alarms.length).length;
  document.getElementById("summary").textContent = D.rows + " rows (" + D.bad + " bad), " +
    D.groups.length + " groups, " + inAlarm + " in alarm; threshold " + fmt(D.threshold) +
    (D.basis ? " (" + D.basis + ")" : "") + "; sensors standardised with " + D.standardised;
  const sel = document.getElementById("group");
  D.groups.forEach((G, i) => {
    const o = el("option", G.name + " (" + alarms(G.alarms.length) + ")");
    o.value = i; sel.appendChild(o);
  });
  const box = document.getElementById("channels");
  D.labels.forEach((name, c) => {
    const lab = document.createElement("label"), b = document.createElement("input");
    b.type = "checkbox"; b.value = c; lab.style.color = COLORS[c % COLORS.length];
    b.addEventListener("change", () => {
      const on = box.querySelectorAll("input:checked");
      state.channels = Array.from(on).map((x) => Number(x.value));
      writeHash(); draw();
    });
    lab.appendChild(b); lab.appendChild(document.createTextNode(" " + name)); box.appendChild(lab);
  });
  readHash();
  if (state.group < 0) state.group = Math.max(0, D.groups.findIndex((g) => g.alarms.length));
  if (state.channels === null) {
    state.channels = D.groups.length ? D.groups[state.group].suspects.slice() : [];
  }
  sel.value = state.group;
  sel.addEventListener("change", () => {
    state.group = Number(sel.value); state.channels = D.groups[state.group].suspects.slice();
    writeHash(); draw();
  });
  draw();
  window.addEventListener("resize", draw);
}
init();
"""
