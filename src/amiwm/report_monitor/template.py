"""The monitor page's HTML skeleton, style sheet and drawing script (inline: the page loads
nothing). `%TITLE%`, `%STYLE%`, `%SCRIPT%` and `%DATA%` (the run as JSON) are filled in by
`amiwm.report_monitor.page.MonitorPage.render`."""

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
      a.names.join(", ")].forEach((s) => tr.appendChild(el("td", s)));
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
