"""What the world model's latent adds to TEP fault detection: the dynamic read-out on three
feature sets, at equal realised false alarms.

    python benchmarks/tep.py --tep ../shared/data/tep --out runs/tep   # trains runs/tep/amiwm
    python benchmarks/tep_readout.py --tep ../shared/data/tep --run runs/tep/amiwm

The monitor's read-out (monitoring/dynamic.py: ridge, out-of-fold Mahalanobis distance, EWMA 0.2,
plus the stuck-actuator term) is fitted on d00.dat on
- `latent`: what `ami-cli monitor` uses, the predictor's forecast latent, the two latents
  before the row and the two latest actions;
- `latent+lags`: the same and the two readings before the row (normalised);
- `lags`: the two readings before the row and the two latest actions only (no world model: an
  ARX inside the monitor).
Split, warm-up and evaluation as in benchmarks/tep.py; "FDR@h" is the mean FDR over the 18
faults at the threshold the held-out normal half itself exceeds at the rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tep import evaluate, load  # noqa: E402
from tep_baselines import ewma  # noqa: E402

from amiwm.models.world_model import WorldModel  # noqa: E402
from amiwm.monitoring.dynamic import fit_dynamic  # noqa: E402
from amiwm.monitoring.monitor import STUCK_GAIN, Monitor, stuck_term  # noqa: E402

SETS = ("latent", "latent+lags", "lags")


def features(mon: Monitor, x: np.ndarray, u: np.ndarray, which: str) -> tuple:
    """(features, normalised readings) of the scored rows of one run."""
    f, xn = mon.dynamic_features(x, u.astype(np.float32))
    h = mon.history
    cfg = mon.model.config
    xa = (x - np.asarray(cfg.obs_mean)) / np.asarray(cfg.obs_std)
    lags = np.hstack([xa[h - 1 : -1], xa[h - 2 : -2]])
    actions = f[:, -2 * u.shape[1] :]
    return {"latent": f, "latent+lags": np.hstack([f, lags]), "lags": np.hstack([actions, lags])}[
        which
    ], xn


def setup(doc: str) -> tuple[Monitor, dict]:
    """Parse --tep/--run, load the split and the run's monitor (read-out fitted on d00): the
    monitor and every run by name (fit, calib, far, then the faults)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--tep", type=Path, default=Path("../shared/data/tep"))
    ap.add_argument("--run", type=Path, default=Path("runs/tep/amiwm"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    normal, faults = load(args.tep)
    model = WorldModel.from_pretrained(args.run)
    mon = Monitor(model, smoothing=0.2, next_actions=True, dynamic=True)
    mon.readout = mon.fit_readout([normal["fit"]])
    return mon, {"fit": normal["fit"], "calib": normal["calib"], "far": normal["far"], **faults}


def main() -> None:
    mon, runs = setup(__doc__)
    h = mon.history
    print("features      FDR 5% / 1%     FAR 5% / 1%     FDR@h 5% / 1%   delay (5%)")
    for which in SETS:
        data = {k: features(mon, *v, which) for k, v in runs.items()}
        readout = fit_dynamic(*data["fit"], lags=2)
        scores = {}
        for k, (f, xn) in data.items():
            s = np.full(len(runs[k][0]), np.nan)
            s[h:] = readout.distance(f, xn)[0]
            stuck = stuck_term(runs[k][1], mon.readout.action_spread, h + 1)[0]
            scores[k] = ewma(s, 0.2) + STUCK_GAIN * stuck
        ev = evaluate(scores, h)
        a, b = ev[0.05], ev[0.01]
        print(
            f"{which:<12}  {a['mean_fdr']:.3f} / {b['mean_fdr']:.3f}   {a['far']:.3f} / "
            f"{b['far']:.3f}   {a['mean_fdr_matched']:.3f} / {b['mean_fdr_matched']:.3f}   "
            f"{a['mean_delay']:.1f}"
        )


if __name__ == "__main__":
    main()
