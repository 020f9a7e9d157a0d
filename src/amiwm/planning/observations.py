"""What an agent may be given as one observation (or goal), and its latent.

A model trained without robot state takes an array: a frame (H, W, C) or a sensor vector /
window. A model trained with ``--proprio true`` takes a dict ``{"pixels": frame, "state":
vector}`` (the names of Gymnasium's pixel observation wrappers; ``"pixels"`` holds a sensor
window for a sensor model): the frame or window and the robot state (S,) in raw units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel

KEYS = ("pixels", "state")


def split_observation(model: WorldModel, observation: Any) -> tuple[Any, Any]:
    """(observation array, state or None) of one observation for `model`."""
    if isinstance(observation, Mapping):
        unknown = set(observation) - set(KEYS)
        if unknown or "pixels" not in observation:
            raise AmiError(
                f"an observation dict needs keys 'pixels' and 'state', got {sorted(observation)}"
            )
        if not model.config.proprio:
            # a model without state uses the frame; the state an environment reports is unused
            return observation["pixels"], None
        if observation.get("state") is None:
            raise AmiError("the observation dict has no 'state'; this model needs it (--proprio)")
        return observation["pixels"], observation["state"]
    if model.config.proprio:
        raise AmiError(
            "this model takes the robot state too (--proprio): pass each observation and goal "
            "as {'pixels': frame, 'state': vector}"
        )
    return observation, None


def encode_observation(model: WorldModel, observation: Any) -> torch.Tensor:
    """One observation (array, or dict for a proprio model) -> its latent (D,)."""
    obs, state = split_observation(model, observation)
    x = torch.as_tensor(obs)[None]
    if state is None:  # (duck-typed models without a state argument stay usable)
        return model.encode(x)[0]
    return model.encode(x, torch.as_tensor(state, dtype=torch.float32)[None])[0]
