"""Does tracking slow normal drift hold TEP's false-alarm rate? The monitor's read-out residual
minus a slowly adapted mean.

    python benchmarks/tep.py --tep ../shared/data/tep --out runs/tep   # trains runs/tep/amiwm
    python benchmarks/tep_adaptive.py --tep ../shared/data/tep --run runs/tep/amiwm

Adaptive monitors follow normal operation that drifts beyond the training data: here each
row's residual (readings minus the dynamic read-out's prediction, as `ami-cli monitor`
computes it) has an exponentially weighted mean subtracted, updated at `rate` only while the
row's distance stays under `gate` (so an alarmed fault is not absorbed). Distance, EWMA 0.2,
stuck-actuator term, split, calibration and evaluation as in benchmarks/tep.py; rate 0 is the
monitor as shipped. "FDR@h": the 18-fault mean at the held-out half's own threshold.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from tep import evaluate  # noqa: E402
from tep_baselines import ewma  # noqa: E402
from tep_readout import features, setup  # noqa: E402

from amiwm.monitoring.dynamic import DynamicReadout, fit_dynamic  # noqa: E402
from amiwm.monitoring.monitor import STUCK_GAIN, stuck_term  # noqa: E402

SETTINGS = ((0.0, np.inf), (0.01, 2.0), (0.01, 4.0), (0.02, 2.0), (0.02, 4.0), (0.05, 2.0),
            (0.05, 4.0))  # fmt: skip


def adapted(r: np.ndarray, ro: DynamicReadout, rate: float, gate: float) -> np.ndarray:
    """Distances (N,) of residuals (N, D) once their gated running mean is subtracted."""
    mean, out = np.zeros(r.shape[1]), np.empty(len(r))
    for t, row in enumerate(r):
        e = row - mean
        out[t] = e @ ro.precision @ e / ro.ref
        if out[t] < gate:
            mean = (1 - rate) * mean + rate * row
    return out


def main() -> None:
    mon, runs = setup(__doc__)
    h = mon.history
    data = {k: features(mon, *v, "latent") for k, v in runs.items()}
    ro = fit_dynamic(*data["fit"], lags=2)
    print("rate  gate   FDR 5% / 1%     FAR 5% / 1%     FDR@h 5% / 1%   delay (5%)")
    for rate, gate in SETTINGS:
        scores = {}
        for k, (f, xn) in data.items():
            s = np.full(len(runs[k][0]), np.nan)
            s[h:] = adapted(xn - (f @ ro.weights[:-1] + ro.weights[-1]), ro, rate, gate)
            stuck = stuck_term(runs[k][1], mon.readout.action_spread, h + 1)[0]
            scores[k] = ewma(s, 0.2) + STUCK_GAIN * stuck
        a, b = (evaluate(scores, h)[q] for q in (0.05, 0.01))
        print(
            f"{rate:<5} {gate:<5}  {a['mean_fdr']:.3f} / {b['mean_fdr']:.3f}   {a['far']:.3f} / "
            f"{b['far']:.3f}   {a['mean_fdr_matched']:.3f} / {b['mean_fdr_matched']:.3f}   "
            f"{a['mean_delay']:.1f}"
        )


if __name__ == "__main__":
    main()
