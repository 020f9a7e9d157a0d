"""Does the model foresee what its actions do to the state? Read through its state read-out.

    python benchmarks/push_prediction.py --checkpoint RUN --entries 2,3 --tol 20   # pusht block
    python benchmarks/push_prediction.py --checkpoint RUN --entries 0,1 --tol 20   # pusht agent

For a model trained with its state as a target (``train.state_weight``), on the held-out
episodes of its store: from each start frame (every ``--stride`` steps) the model imagines the
recorded actions ``--horizon`` steps ahead, and the read-out reads the chosen (non-angle)
entries from the imagined latent. Three errors against the recorded state at the end, in the
state's units (Euclidean over the entries): the imagined latent's reading; the reading of the
real end frame's latent (what the read-out can see at all); and the start's true value (the
state does not move). Grouped by how far the entries really moved: a model that predicts a push
beats "does not move" on windows where the block moved, and approaches the end frame's reading.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from amiwm.data.store import EpisodeStore
from amiwm.models.world_model import WorldModel
from amiwm.planning.state_cost import load_readout
from amiwm.rundir import RunDir


def readings(readout, z: torch.Tensor, entries: list[int]) -> np.ndarray:
    """Latents (N, D) -> the read-out's values of `entries` in raw units (N, len(entries))."""
    out = readout(z)
    cols = []
    for i in entries:
        k = readout.rest.index(i)
        cols.append(out[:, k] * readout.std[k] + readout.mean[k])
    return torch.stack(cols, -1).numpy()


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--entries", required=True, help="non-angle state entries, e.g. 2,3")
    ap.add_argument("--tol", type=float, required=True, help="the success tolerance (units)")
    ap.add_argument("--horizon", type=int, default=5, help="model steps imagined")
    ap.add_argument("--stride", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    entries = [int(i) for i in args.entries.split(",")]
    model, readout, run = WorldModel.from_pretrained(args.checkpoint).eval(), None, None
    readout, run = load_readout(args.checkpoint), RunDir(args.checkpoint)
    if any(i not in readout.rest for i in entries):
        raise SystemExit(f"--entries must be non-angle entries the read-out reads: {readout.rest}")
    h = args.horizon
    moved, err = [], {"imagined": [], "end frame": [], "no motion": []}
    with EpisodeStore(run.training_data) as store:
        for e in run.split[1]:
            ep = store.episode(int(e))
            obs, act = torch.as_tensor(ep["observations"]), torch.as_tensor(ep["actions"]).float()
            st = np.asarray(ep["states"])[:, entries]
            starts = np.arange(0, len(obs) - h, args.stride)
            if not len(starts):
                continue
            z = model.encode(obs)
            acts = torch.stack([act[t : t + h] for t in starts])
            imagined = model.rollout_latents(z[starts][:, None], acts)[:, -1]
            true_end = st[starts + h]
            moved.append(np.linalg.norm(true_end - st[starts], axis=-1))
            for name, value in (("imagined", readings(readout, imagined, entries)),
                                ("end frame", readings(readout, z[starts + h], entries)),
                                ("no motion", st[starts])):  # fmt: skip
                err[name].append(np.linalg.norm(value - true_end, axis=-1))
    moved_all = np.concatenate(moved)
    errs = {k: np.concatenate(v) for k, v in err.items()}
    groups = {f"moved < {args.tol:g}": moved_all < args.tol,
              f"moved {args.tol:g}-{3 * args.tol:g}": (moved_all >= args.tol)
              & (moved_all < 3 * args.tol),
              f"moved >= {3 * args.tol:g}": moved_all >= 3 * args.tol}  # fmt: skip
    for name, mask in groups.items():
        row = {"windows": int(mask.sum()), "group": name, "entries": entries, "horizon": h}
        for k, v in errs.items():
            if mask.any():
                row[f"{k} median"] = round(float(np.median(v[mask])), 2)
                row[f"{k} within tol"] = round(float(np.mean(v[mask] < args.tol)), 3)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
