"""A goal whose robot state is given only in part: the entries left free (a reacher's joint
velocities, when only its pose matters) may take any value.

Such a goal is a set of states: the goal's own, then `samples - 1` copies whose free entries are
spread over the training data's mean +- 2 std of each (a scrambled Sobol sequence, fixed seed).
Encoded with the goal's frame they give a set of goal latents; the costs
(amiwm.planning.costs) score an imagined latent by its nearest member.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from amiwm.errors import AmiError

SAMPLES = 64  # members of a goal set (reacher, seed-7 pairs: 4 -> 60%, 16 -> 90%, 64 -> 99%)


class FreeGoal:
    """The free entries of a proprio model's goal state and the values they take."""

    def __init__(self, cfg: Any, free: Sequence[int], samples: int = SAMPLES) -> None:
        self.free = tuple(int(i) for i in free)
        if not cfg.proprio:
            raise AmiError("free goal state entries need a model trained with the robot state "
                           "(--proprio true)")  # fmt: skip
        bad = [i for i in self.free if not 0 <= i < cfg.state_dim]
        if not self.free or bad or len(set(self.free)) != len(self.free):
            raise AmiError(
                f"free goal state entries must be distinct indices in 0..{cfg.state_dim - 1}, "
                f"got {list(self.free)}"
            )
        if samples < 2:
            raise AmiError(f"a goal set needs >= 2 members, got {samples}")
        self.state_dim = cfg.state_dim
        mean = torch.tensor([cfg.state_mean[i] if cfg.state_mean else 0.0 for i in self.free])
        std = torch.tensor([cfg.state_std[i] if cfg.state_std else 1.0 for i in self.free])
        u = torch.quasirandom.SobolEngine(len(self.free), scramble=True, seed=0).draw(samples - 1)
        self.values = mean + (4 * u - 2) * std  # (samples - 1, F)

    def states(self, state: Any) -> torch.Tensor:
        """The goal's state (S,) -> the set's states (samples, S), the goal's own first."""
        s = torch.as_tensor(np.asarray(state, dtype=np.float32)).reshape(-1)
        if s.shape[0] != self.state_dim:
            raise AmiError(f"the goal's state has {s.shape[0]} values, the model takes "
                           f"{self.state_dim}")  # fmt: skip
        states = s.repeat(len(self.values) + 1, 1)
        states[1:, list(self.free)] = self.values
        return states
