"""Sensor-stream benchmark: C-MAPSS RUL, fault alarms (real engines and the plant), throughput.

    python benchmarks/monitoring.py --cmapss ../shared/data/cmapss/train_FD001.txt

1. RUL: FD001's 100 training units in 5 folds; per fold a world model trains on 80 units and
   the probe of monitoring/rul.py on its frozen latents predicts the RUL of the other 20, cut
   at random cycles (the C-MAPSS test protocol): RMSE and PHM08 score over all 100 held-out units.
2. Alarms on engines: every held-out unit once healthy and once per sensor fault (bias, stuck,
   drift; random channel, start at 30-70% of life). Alarms on the plant: a model trained on
   healthy `amiwm/Plant-v0` runs, then 20 runs per fault kind with healthy twins (same seed and
   actions). Thresholds are calibrated on healthy held-out training runs for a 1% per-step
   false-alarm rate. A fault run and its twin are scored by the highest smoothed score in the
   50 steps after the fault starts: AUROC over those pairs; detection = an alarm in that window.
   Baselines: PCA residual (Q statistic) and per-channel max |z|, smoothed the same way.
3. Throughput: `ami-cli monitor` on 100k C-MAPSS rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.signal import lfilter
from scipy.stats import rankdata

from amiwm.config import RunConfig
from amiwm.data.collect import collect
from amiwm.data.formats import cut_units, drop_constant, read_sensors
from amiwm.data.store import EpisodeStore
from amiwm.data.windows import split_episodes
from amiwm.envs import make_env
from amiwm.envs.faults import PLANT_FAULTS, SENSOR_FAULTS, random_fault
from amiwm.envs.policies import make_policy
from amiwm.models.world_model import WorldModel
from amiwm.monitoring.monitor import Monitor, alarm_threshold
from amiwm.monitoring.rul import evaluate_rul, phm08_score
from amiwm.training.trainer import train

WINDOW = 50
RATE = 0.01
SMOOTH = 0.2


def ewma(s: np.ndarray) -> np.ndarray:
    return lfilter([SMOOTH], [1, SMOOTH - 1], s, zi=[(1 - SMOOTH) * s[0]])[0]


def auroc(pos: list[float], neg: list[float]) -> float:
    r = rankdata(np.concatenate([pos, neg]))
    n1, n0 = len(pos), len(neg)
    return float((r[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


class Baselines:
    """PCA residual and max |z| on rows normalised with healthy training statistics."""

    def __init__(self, rows: np.ndarray) -> None:
        self.mu, self.sd = rows.mean(0), rows.std(0) + 1e-9
        z = (rows - self.mu) / self.sd
        _, s, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
        k = int(np.searchsorted(np.cumsum(s**2) / np.sum(s**2), 0.9)) + 1
        self.p = vt[:k].T

    def scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        z = (x - self.mu) / self.sd
        q = ((z - z @ self.p @ self.p.T) ** 2).sum(1)
        return {"pca": ewma(q), "zscore": ewma(np.abs(z).max(1))}


def jepa_scores(model: WorldModel, x: np.ndarray, a: np.ndarray | None, readout) -> np.ndarray:
    s = Monitor(model, smoothing=SMOOTH, readout=readout).process([0] * len(x), x, a).score
    return np.nan_to_num(s, nan=0.0)


def score_runs(model, base, runs) -> dict[str, list[np.ndarray]]:
    """Scores of every detector: JEPA surprise alone, surprise + readout residual, baselines."""
    out: dict[str, list[np.ndarray]] = {"jepa surprise": [], "jepa": [], "pca": [], "zscore": []}
    for x, a in runs:
        out["jepa surprise"].append(jepa_scores(model, x, a, None))
        out["jepa"].append(jepa_scores(model, x, a, base.readout))
        for k, v in base.scores(x).items():
            out[k].append(v)
    return out


def alarm_metrics(normal, faulty, starts, thresholds) -> dict[str, dict[str, float]]:
    """Per detector: AUROC over (fault, twin) windows, detection rate, median delay, FAR."""
    out = {}
    for det in normal:
        pos = [f[s : s + WINDOW].max() for f, s in zip(faulty[det], starts, strict=True)]
        neg = [n[s : s + WINDOW].max() for n, s in zip(normal[det], starts, strict=True)]
        thr = thresholds[det]
        delays = []
        for f, s in zip(faulty[det], starts, strict=True):
            hit = np.flatnonzero(f[s : s + WINDOW] > thr)
            if hit.size:
                delays.append(int(hit[0]))
        far = float(np.mean(np.concatenate(normal[det]) > thr))
        out[det] = {
            "auroc": auroc(pos, neg),
            "detected": len(delays) / len(starts),
            "median_delay": float(np.median(delays)) if delays else None,
            "false_alarm_rate": far,
        }
    return out


def thresholds_from(model, base, runs) -> dict[str, float]:
    healthy = score_runs(model, base, runs)
    return {k: alarm_threshold(v, RATE) for k, v in healthy.items()}  # the monitor's rule


def fit_detectors(model: WorldModel, runs: list) -> Baselines:
    """Baselines fitted on healthy training runs, which also carry the JEPA readout."""
    base = Baselines(np.concatenate([x for x, _ in runs]))
    base.readout = Monitor(model).fit_readout(runs)
    return base


def train_model(dataset: Path, out: Path, steps: int, context: int, seed: int) -> WorldModel:
    cfg = RunConfig(dataset=str(dataset))
    cfg.model.context = context
    cfg.train.steps = steps
    cfg.train.seed = seed
    train(cfg, out, progress=False, resume=(out / "config.json").exists())  # resumes a cut run
    return WorldModel.from_pretrained(out)


def store_runs(path: Path, episodes) -> list[tuple[np.ndarray, np.ndarray]]:
    with EpisodeStore(path) as store:
        return [
            (ep["observations"], ep.get("actions"))
            for ep in (store.episode(int(e)) for e in episodes)
        ]


def split(path: Path, seed: int) -> tuple[list[int], list[int]]:
    with EpisodeStore(path) as store:
        return split_episodes(store.num_episodes, 0.1, seed)


def cmapss(args, out: Path) -> dict:
    table = read_sensors(f"cmapss:{args.cmapss}")
    units = np.array(table.groups())
    folds = np.random.default_rng(args.seed).permutation(len(units)) % args.folds
    offset = 1000 * args.seed  # seed 0: the published run; another seed: new folds, cuts, faults
    preds, trues = [], []
    engine: dict[str, dict[str, list]] = {k: {} for k in ("bias", "stuck", "drift")}
    for k in args.only or range(args.folds):
        tr, dropped = drop_constant(table.select(units[folds != k].tolist()))
        test = table.select(units[folds == k].tolist())
        store = out / f"fold{k}" / "train.h5"
        if not store.exists():
            store.parent.mkdir(parents=True, exist_ok=True)
            tr.to_store(store)
        t0 = time.time()
        model = train_model(store, out / f"fold{k}" / "run", args.steps, args.context, offset + k)
        cut, rul = cut_units(test, seed=offset + k)
        report = evaluate_rul(model, tr, cut, rul)
        preds += report["predictions"]
        trues += report["true_rul"]
        print(f"fold {k}: RUL RMSE {report['rmse']:.2f} ({time.time() - t0:.0f}s)", flush=True)
        if args.rul_only:
            continue
        # alarms on the held-out units, run to failure
        cols = [test.channels.index(c) for c in model.config.channels]
        acol = [test.action_names.index(c) for c in model.config.action_names]
        train_eps, val_eps = split(store, offset + k)
        base = fit_detectors(model, store_runs(store, train_eps))
        thr = thresholds_from(model, base, store_runs(store, val_eps))
        std = np.array(model.config.obs_std)
        rng = np.random.default_rng(offset + 100 + k)
        healthy = []
        for rows in test.group_rows():
            healthy.append((test.sensors[rows][:, cols], test.actions[rows][:, acol]))
        normal = score_runs(model, base, healthy)
        for kind in engine:
            faulty_runs, starts = [], []
            for x, a in healthy:
                f = random_fault(rng, len(x), std, kinds=[f"sensor_{kind}"], start_range=(0.3, 0.7))
                faulty_runs.append((f.inject(x), a))
                starts.append(f.start)
            faulty = score_runs(model, base, faulty_runs)
            for det in normal:
                d = engine[kind].setdefault(det, {"normal": [], "faulty": [], "starts": []})
                d["normal"] += normal[det]
                d["faulty"] += faulty[det]
                d["starts"] += starts
                d.setdefault("thr", []).append((len(healthy), thr[det]))
    rmse = float(np.sqrt(np.mean((np.array(preds) - np.array(trues)) ** 2)))
    result = {
        "rul": {
            "units": len(preds),
            "rmse": rmse,
            "phm08_score": phm08_score(np.array(preds), np.array(trues)),
        },
        "engine_alarms": {},
    }
    for kind, dets in engine.items():
        result["engine_alarms"][kind] = _pooled(dets)
    return result


def _pooled(dets: dict) -> dict:
    """Metrics over all folds: each fold's runs keep their own fold's threshold."""
    out = {}
    for det, d in dets.items():
        per_run_thr = np.concatenate([np.full(n, t) for n, t in d["thr"]])
        normal = {det: d["normal"]}
        faulty = {det: d["faulty"]}
        pos, neg, delays, alarms, steps = [], [], [], 0, 0
        for f, n, s, t in zip(d["faulty"], d["normal"], d["starts"], per_run_thr, strict=True):
            pos.append(f[s : s + WINDOW].max())
            neg.append(n[s : s + WINDOW].max())
            hit = np.flatnonzero(f[s : s + WINDOW] > t)
            if hit.size:
                delays.append(int(hit[0]))
            alarms += int((n > t).sum())
            steps += len(n)
        del normal, faulty
        out[det] = {
            "auroc": auroc(pos, neg),
            "detected": len(delays) / len(pos),
            "median_delay": float(np.median(delays)) if delays else None,
            "false_alarm_rate": alarms / steps,
        }
    return out


def plant(args, out: Path) -> dict:
    data = out / "plant" / "healthy.h5"
    if not data.exists():
        collect("plant", 120, 300, data, policy="setpoints", seed=0, progress=False)
    model = train_model(data, out / "plant" / "run", args.steps, 16, 0)
    train_eps, val_eps = split(data, 0)
    base = fit_detectors(model, store_runs(data, train_eps))
    thr = thresholds_from(model, base, store_runs(data, val_eps))
    env = make_env("plant", max_steps=300)
    noise = np.asarray(env.unwrapped.NOISE_STD)
    targets = {
        "actuator_degradation": ["coolant_flow", "feed_flow"],
        "process_fault": ["fouling", "catalyst"],
    }
    result = {}
    for kind in SENSOR_FAULTS + PLANT_FAULTS:
        normal_runs, faulty_runs, starts = [], [], []
        for i in range(args.plant_runs):
            seed = 10_000 + 100 * FAULT_INDEX[kind] + i
            f = random_fault(
                seed, 300, noise, kinds=[kind], targets=targets, start_range=(0.3, 0.7)
            )
            faulty_runs.append(_plant_run(env, seed, f.to_dict()))
            normal_runs.append(_plant_run(env, seed, None))
            starts.append(f.start)
        result[kind] = alarm_metrics(
            score_runs(model, base, normal_runs), score_runs(model, base, faulty_runs), starts, thr
        )
    return result


FAULT_INDEX = {k: i for i, k in enumerate(SENSOR_FAULTS + PLANT_FAULTS)}


def _plant_run(env, seed: int, fault: dict | None) -> tuple[np.ndarray, np.ndarray]:
    policy = make_policy("setpoints", env, seed)
    obs, info = env.reset(seed=seed, options={"fault": fault} if fault else None)
    policy.reset(obs, info)
    xs, acts = [obs], []
    for _ in range(299):
        a = policy(obs, info)
        obs, _, term, trunc, info = env.step(a)
        xs.append(obs)
        acts.append(a)
        if term or trunc:
            break
    acts.append(np.zeros_like(acts[-1]))
    return np.asarray(xs, np.float32), np.asarray(acts, np.float32)


def throughput(args, out: Path) -> dict:
    src = Path(args.cmapss).read_text().splitlines()
    lines = []
    for k in range(5):
        for line in src:
            parts = line.split()
            parts[0] = str(int(parts[0]) + 100 * k)
            lines.append(" ".join(parts))
    big = out / "stream.txt"
    big.write_text("\n".join(lines) + "\n")
    cmd = [sys.executable, "-m", "amiwm.cli", "monitor", "--checkpoint", str(out / "fold0" / "run")]
    cmd += ["--data", f"cmapss:{big}", "--threshold", "1", "--quiet", "--out", str(out / "s.csv")]
    cmd += ["--overwrite"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    imports = "import amiwm.cli.monitor, amiwm.models.world_model"
    subprocess.run([sys.executable, "-c", imports], check=True)
    startup = time.perf_counter() - t0
    return {
        "rows": len(lines),
        "seconds": total,
        "rows_per_s": len(lines) / total,
        "rows_per_s_after_startup": len(lines) / max(total - startup, 1e-9),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cmapss", default="../shared/data/cmapss/train_FD001.txt")
    p.add_argument("--out", type=Path, default=Path("runs/monitoring"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--context", type=int, default=30, help="C-MAPSS rows per observation")
    p.add_argument("--rul-only", action="store_true", help="skip the alarm and speed parts")
    p.add_argument("--speed-only", action="store_true", help="only the monitor throughput")
    p.add_argument("--plant-runs", type=int, default=20)
    p.add_argument("--only", type=int, nargs="+", help="iterate: only these folds (same split)")
    p.add_argument("--no-plant", action="store_true", help="iterate: skip the plant and speed")
    p.add_argument(
        "--seed", type=int, default=0, help="folds, cuts, faults, trainings (0: the README's)"
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads (1 if sharing cores)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.speed_only:  # needs the fold-0 model of an earlier full run in --out
        t = throughput(args, args.out)
        print(
            f"monitor: {t['rows']} rows in {t['seconds']:.1f}s = {t['rows_per_s']:.0f} rows/s "
            f"({t['rows_per_s_after_startup']:.0f} after start-up)"
        )
        return
    result = cmapss(args, args.out)
    if args.rul_only:
        print(json.dumps(result["rul"]))
        return
    result["plant_alarms"] = {} if args.no_plant else plant(args, args.out)
    if not args.no_plant:
        result["monitor_throughput"] = throughput(args, args.out)
    result["minutes"] = (time.time() - t0) / 60
    name = "summary.json" if args.only is None and not args.no_plant else "summary-partial.json"
    (args.out / name).write_text(json.dumps(result, indent=2))
    r = result["rul"]
    print(
        f"\nC-MAPSS FD001 RUL over {r['units']} held-out units: RMSE {r['rmse']:.2f}, "
        f"PHM08 score {r['phm08_score']:.0f}"
    )
    print("\n| data | fault | detector | AUROC | detected | median delay | false alarms |")
    print("|---|---|---|---|---|---|---|")
    for name, block in (("engines", result["engine_alarms"]), ("plant", result["plant_alarms"])):
        for kind, dets in block.items():
            for det, m in dets.items():
                delay = "-" if m["median_delay"] is None else f"{m['median_delay']:.0f}"
                print(
                    f"| {name} | {kind} | {det} | {m['auroc']:.3f} | {m['detected']:.0%} | "
                    f"{delay} | {m['false_alarm_rate']:.2%} |"
                )
    t = result.get("monitor_throughput")
    if t is None:
        return
    print(
        f"\nmonitor: {t['rows']} rows in {t['seconds']:.1f}s = {t['rows_per_s']:.0f} rows/s "
        f"({t['rows_per_s_after_startup']:.0f} after start-up)"
    )


if __name__ == "__main__":
    main()
