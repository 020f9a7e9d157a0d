"""The state read-out: a linear head from the latent to a recorded robot state.

Trained as a target (``train.state_weight``, amiwm.training.loss) and saved beside the model
(``readout.safetensors``); a planner can then measure distances in the state it reads
(amiwm.planning.state_cost)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from amiwm.config import ModelConfig
from amiwm.errors import AmiError


class StateReadout(nn.Module):
    """Latent -> the recorded state's ``entries`` (all when empty), linearly: those in
    ``angles`` as (cos, sin), so an angle that wraps has one target; the others normalised by
    the data's statistics. Output rows: the other entries in order, then the cosines, then the
    sines of the angles.

    The state is a target, never an input: the model still encodes frames alone, so it plans
    toward a goal frame with no state, but its latent has to carry the state where a linear
    map reads it (a reacher's joint angles, which a 64 px frame shows only to a pixel)."""

    def __init__(
        self, cfg: ModelConfig, angles: Sequence[int], entries: Sequence[int] = ()
    ) -> None:
        super().__init__()
        self.angles = list(angles)
        self.entries = list(entries) or list(range(cfg.state_dim))
        self.rest = [i for i in self.entries if i not in self.angles]
        self.register_buffer("mean", torch.tensor(cfg.state_mean)[self.rest], persistent=False)
        self.register_buffer("std", torch.tensor(cfg.state_std)[self.rest], persistent=False)
        self.net = nn.Linear(cfg.latent_dim, len(self.rest) + 2 * len(self.angles))

    def target(self, states: torch.Tensor) -> torch.Tensor:
        """Raw states (..., S) -> the read-out's target (..., len(rest) + 2 * len(angles))."""
        s = states.float()
        a = s[..., self.angles]
        return torch.cat([(s[..., self.rest] - self.mean) / self.std, a.cos(), a.sin()], -1)

    def rows(self, entries: Sequence[int]) -> list[int]:
        """The output rows that read the state ``entries`` (an angle: its cos and sin rows)."""
        out, k = [], len(self.rest)
        for i in entries:
            if i in self.angles:
                j = self.angles.index(i)
                out += [k + j, k + len(self.angles) + j]
            elif i in self.rest:
                out.append(self.rest.index(i))
            else:
                raise AmiError(
                    f"state entry {i} is not read out; the read-out reads {self.entries}"
                )
        return out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
