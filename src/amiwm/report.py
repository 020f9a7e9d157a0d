"""The demo's report folder: plots (matplotlib, Agg) and an index.html that shows them together."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path) -> Path:
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    _plt().close(fig)
    return out


def plot_training(metrics: Path, out: Path) -> Path:
    plt = _plt()
    rows = [json.loads(r) for r in metrics.read_text().splitlines() if r.strip()]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    steps = [r["step"] for r in rows]
    for key in ("pred", "rollout"):
        ax[0].plot(steps, [r[key] for r in rows], label=f"train {key}")
    val = [(r["step"], r["val_pred"]) for r in rows if "val_pred" in r]
    if val:
        ax[0].plot(*zip(*val, strict=True), "o-", label="held-out pred")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("step")
    ax[0].set_title("latent prediction loss")
    ax[0].legend()
    ax[1].plot(steps, [r["reg"] for r in rows], label="regularizer")
    ax[1].plot(steps, [r["latent_std"] for r in rows], label="latent std")
    ax[1].set_xlabel("step")
    ax[1].set_title("anti-collapse")
    ax[1].legend()
    return _save(fig, out)


def plot_rollout(rollout: dict[int, dict[str, float]], out: Path) -> Path:
    plt = _plt()
    h = sorted(rollout)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(h, [rollout[k]["model"] for k in h], "o-", label="world model rollout")
    ax.plot(h, [rollout[k]["copy"] for k in h], "s--", label="copy last latent")
    ax.set_xlabel("steps ahead")
    ax.set_ylabel("error / latent variance")
    ax.set_title("open-loop latent rollout error")
    ax.legend()
    return _save(fig, out)


def plot_success(
    results: dict[str, dict[str, Any]],
    out: Path,
    title: str = "two-rooms, start and goal in opposite rooms",
) -> Path:
    plt = _plt()
    names = list(results)
    rates = [results[n]["success_rate"] for n in names]
    lo = [r - results[n]["success_ci95"][0] for n, r in zip(names, rates, strict=True)]
    hi = [results[n]["success_ci95"][1] - r for n, r in zip(names, rates, strict=True)]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    colors = ["tab:green"] + ["tab:gray"] * (len(names) - 1)
    ax.bar([n.replace("_", " ") for n in names], rates, yerr=[lo, hi], capsize=6, color=colors)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (95% CI)")
    ax.set_title(title)
    return _save(fig, out)


def plot_plan_time(ms: list[float], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(ms, bins=40, color="tab:blue")
    if ms:
        ax.axvline(
            float(np.median(ms)), color="k", linestyle="--", label=f"median {np.median(ms):.1f} ms"
        )
        ax.legend()
    ax.set_xlabel("milliseconds per replanning step")
    ax.set_title("planning time")
    return _save(fig, out)


def write_report(out: Path, summary: dict[str, Any], metrics: Path) -> Path:
    """Plots + index.html in `out`."""
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figs = []
    if metrics.exists():
        figs.append(("Training", plot_training(metrics, plots / "training.png")))
    ev = summary["evidence"]
    figs.append(("Rollout error", plot_rollout(ev["rollout"], plots / "rollout.png")))
    plan = summary["planning"]
    results = {k: v for k, v in plan.items() if isinstance(v, dict)}
    env = summary.get("env", "two-rooms")
    protocol = summary.get("protocol")
    if protocol is not None:
        p = protocol["protocol"]
        task = (
            f"{env}: goal {p['goal_offset']} env steps ahead in held-out episodes, "
            f"budget {p['budget']}, {p['pairs']} pairs"
        )
    else:
        task = "two-rooms, start and goal in opposite rooms"
    figs.append(("Success", plot_success(results, plots / "success.png", task.split(":")[0])))
    figs.append(("Planning time", plot_plan_time(plan["plan_ms"], plots / "plan_time.png")))
    main = results.get("cem+graph", next(iter(results.values())))
    rows = [
        (
            "linear probe R<sup>2</sup>, latent &rarr; state",
            "-" if ev["probe_r2_xy"] is None else f"{ev['probe_r2_xy']:.3f}",
        ),
        ("effective rank of latents", f"{ev['effective_rank']:.1f}"),
        (
            "rollout error at 5 steps (model / copy)",
            f"{ev['rollout'][5]['model']:.3f} / {ev['rollout'][5]['copy']:.3f}",
        ),
        (
            f"success ({html.escape(task)})",
            f"{main['success_rate']:.0%} ({main['successes']}/{main['episodes']}; 95% CI "
            f"{main['success_ci95'][0]:.0%}-{main['success_ci95'][1]:.0%})",
        ),
        (
            "planning, median / p95 ms",
            f"{main['plan_ms_median']:.1f} / {main['plan_ms_p95']:.1f}"
            if main["plan_ms_median"] is not None
            else "-",
        ),
        ("total demo time", f"{summary['timings']['total_s'] / 60:.1f} min"),
    ]
    table = "\n".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    imgs = "\n".join(
        f'<figure><img src="plots/{p.name}" alt="{html.escape(t)}"><figcaption>{html.escape(t)}'
        "</figcaption></figure>"
        for t, p in figs
    )
    if protocol is None:
        intro = (
            "Collected with the drifting random walk, trained on CPU, planned in latent space "
            "with CEM toward subgoals found on a graph of remembered latents."
        )
        legend = (
            "green: path taken; yellow: the plan as imagined by the model (read out by a linear "
            "probe); magenta: current subgoal; white cross: goal."
        )
    else:
        block = protocol["protocol"].get("action_block", 1)
        intro = (
            f"Collected with the {html.escape(str(summary.get('policy', 'recipe')))} policy in "
            f"blocks of {block} env steps per model step, trained on CPU, planned in latent "
            "space with CEM straight to the goal frame (LeWorldModel's evaluation protocol); "
            "floors measured on the same pairs."
        )
        planner = summary.get("planner")
        if planner is not None:
            intro += (
                f" The planner imagines {planner['horizon']} model step(s) per candidate and "
                f"scores them by the {html.escape(str(planner['cost']))} latent distance to "
                "the goal"
            )
            if planner.get("state_cost"):
                entries = ", ".join(str(i) for i in planner.get("state_cost_entries", []))
                intro += (
                    f" plus {float(planner['state_cost']):g} times the distance of the state "
                    f"entries {html.escape(entries)} that the model's read-out reads (the "
                    "state was a training target; the agent sees frames only)"
                )
            intro += "."
        legend = "left: what the agent sees at each decision; right: the goal frame."
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>amiwm demo report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
figure{{display:inline-block;margin:.5em}} img{{max-width:520px}}
td{{padding:.2em 1em;border-bottom:1px solid #ddd}}</style></head>
<body><h1>amiwm demo: a JEPA world model on {html.escape(env)}</h1>
<p>{intro}</p>
<table>{table}</table>
<h2>A planned episode</h2>
<p>{legend}</p>
<img src="episode.gif" alt="planned episode" width="256">
<h2>Plots</h2>
{imgs}
</body></html>
"""
    (out / "index.html").write_text(page)
    return out / "index.html"


def plot_monitor(
    out: Path, rows: list[tuple], channels: list[str], threshold: float, title: str
) -> Path:
    """Sensors (each standardised), surprise, smoothed score and alarms on one time axis."""
    plt = _plt()
    t = np.array([r[0] for r in rows])
    x = np.stack([r[1] for r in rows]).astype(np.float64)
    s = np.array([r[2] for r in rows])
    score = np.array([r[3] for r in rows])
    alarm = np.array([r[4] for r in rows], bool)
    fig, ax = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    z = (x - x.mean(0)) / (x.std(0) + 1e-9)
    for i in range(z.shape[1]):
        ax[0].plot(t, z[:, i], lw=0.8, label=channels[i] if i < len(channels) else None)
    ax[0].set_ylabel("sensor (standardised)")
    if z.shape[1] <= 12:
        ax[0].legend(fontsize=7, ncol=4, loc="upper left")
    ax[1].plot(t, s, lw=0.6, alpha=0.5, label="surprise")
    ax[1].plot(t, score, lw=1.2, label="score (smoothed)")
    if np.isfinite(threshold):
        ax[1].axhline(threshold, color="red", ls="--", lw=1, label="threshold")
    ax[1].set_yscale("log")
    ax[1].set_ylabel("latent prediction error")
    ax[1].set_xlabel("time")
    for a in ax:
        for lo, hi in _spans(t, alarm):
            a.axvspan(lo, hi, color="red", alpha=0.15, lw=0)
    ax[1].legend(fontsize=8, loc="upper left")
    ax[0].set_title(f"{title}: alarms shaded")
    return _save(fig, out)


def _spans(t: np.ndarray, on: np.ndarray) -> list[tuple[float, float]]:
    """Time spans where `on` holds."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
    return [(t[a], t[min(b, len(t) - 1)]) for a, b in zip(edges[::2], edges[1::2], strict=True)]
