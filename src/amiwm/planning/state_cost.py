"""Plan in the state a model reads: latent distance plus the distance of the state read-out.

A model trained with its robot state as a target (``train.state_weight``) keeps the linear
head that reads the state from a latent (``readout.safetensors``). At run time the agent still
sees frames only: the goal frame's latent and every imagined latent are read by the same head,
and the cost adds ``weight`` times the squared distance of the chosen entries' readings (an
angle as cos, sin; other entries in units of the data's std) to the latent distance. Both are
squared Euclidean, so the cost is the latent distance on latents extended by the scaled
readings, and every latent cost (final, summed, nearest member of a goal set) applies as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from amiwm.checkpoint import load_tensors, verify
from amiwm.errors import AmiError
from amiwm.models.readout import StateReadout
from amiwm.rundir import RunDir

READOUT_FILE = "readout.safetensors"


class StateCost:
    """``extend(z)``: latents (..., D) -> (..., D + K) with the K chosen read-out rows scaled by
    sqrt(weight), so a squared distance of extended latents is the latent distance plus
    ``weight`` times the read-out distance (the head's bias cancels in a difference)."""

    def __init__(self, readout: StateReadout, entries: Sequence[int], weight: float) -> None:
        if not math.isfinite(weight) or weight <= 0:
            raise AmiError(f"--state-cost must be a positive weight, got {weight}")
        self.entries = list(entries) or list(readout.entries)
        self.weight = float(weight)
        rows = readout.rows(self.entries)
        self.projection = readout.net.weight.detach()[rows] * math.sqrt(self.weight)  # (K, D)

    def extend(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, z @ self.projection.T.to(z)], -1)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, weight: float, entries: Sequence[int] = ()
    ) -> StateCost:
        """The state cost of a checkpoint trained with a state read-out; ``entries``: the state
        entries it measures (default: all the read-out reads)."""
        return cls(load_readout(path), entries, weight)

    @classmethod
    def optional(
        cls, path: str | Path, weight: float, entries: Sequence[int] = ()
    ) -> StateCost | None:
        """`from_checkpoint`, or None for weight 0 (the latent distance alone); entries
        without a weight are refused."""
        if weight == 0:
            if entries:
                raise AmiError("--state-cost-entries needs a --state-cost weight")
            return None
        return cls.from_checkpoint(path, weight, entries)


def extender(cost: StateCost | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """What a planner applies to goal and imagined latents: `cost.extend`, or the latents as
    they are without a state cost."""
    return cost.extend if cost is not None else lambda z: z


def load_readout(path: str | Path) -> StateReadout:
    """The trained state read-out of a checkpoint or run dir, checksums verified (one line if it
    has none)."""
    run = RunDir(path)
    verify(run.checkpoint)
    tc = run.config.train
    file = run.checkpoint / READOUT_FILE
    if tc.state_weight <= 0 or not file.is_file():
        raise AmiError(
            f"{path} has no state read-out (train with --set train.state_weight=1 on a store "
            "with states); --state-cost needs one"
        )
    readout = StateReadout(run.config.model, tc.state_angles, tc.state_entries)
    try:
        readout.load_state_dict(load_tensors(file))
    except RuntimeError:
        raise AmiError(f"{file} does not match the run's read-out configuration") from None
    return readout.eval()
