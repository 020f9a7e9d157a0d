"""Recording outside Gymnasium envs: which part of a (dict) observation holds the frames, and
which observation keys or info entries make up the recorded state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from amiwm.errors import AmiError


def parse_env_kwargs(text: str | None) -> dict[str, Any]:
    """``--env-kwargs``: a JSON object of constructor arguments ('' or None: none)."""
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise AmiError(f"--env-kwargs is not valid JSON ({e.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise AmiError('--env-kwargs must be a JSON object like \'{"obs_type": "pixels"}\'')
    return value


def is_image_space(space: gym.Space) -> bool:
    """A uint8 Box of shape (H, W, 3) or (H, W, 4)."""
    shape = space.shape or ()
    return (
        isinstance(space, gym.spaces.Box)
        and space.dtype == np.uint8
        and len(shape) == 3
        and shape[2] in (3, 4)
    )


def image_key(env: str, space: gym.Space, obs_key: str | None) -> str | None:
    """The key of a Dict observation whose frames get recorded: ``obs_key`` when given, else
    the only image entry; None when there is none (the env's render() may still give frames)."""
    if not isinstance(space, gym.spaces.Dict):
        if obs_key is not None:
            raise AmiError(
                f"--obs-key {obs_key!r} given but environment {env!r} has observations {space}, "
                "not a dict; drop --obs-key"
            )
        return None
    keys = list(space.spaces)
    if obs_key is not None:
        if obs_key not in space.spaces:
            raise AmiError(f"environment {env!r} has no observation key {obs_key!r}; keys: {keys}")
        if not is_image_space(space.spaces[obs_key]):
            raise AmiError(
                f"observation {obs_key!r} of {env!r} is {space.spaces[obs_key]}, not an RGB "
                "uint8 (H, W, 3) image; choose another --obs-key"
            )
        return obs_key
    images = [k for k in keys if is_image_space(space.spaces[k])]
    if len(images) > 1:
        raise AmiError(
            f"environment {env!r} has several image observations {images}; pass --obs-key"
        )
    return images[0] if images else None


def _numeric(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise AmiError(f"state entry {name} is not numeric ({type(value).__name__})") from None
    if arr.size == 0:
        raise AmiError(f"state entry {name} is empty")
    return arr


class StateReader:
    """Reads the recorded state from (obs, info): named entries, each an observation key (dict
    observations) or else an info entry, flattened and concatenated in order."""

    def __init__(self, env: str, names: Sequence[str], obs: Any, info: dict[str, Any]) -> None:
        self.sources: list[str] = []
        for raw in names:
            name = raw.strip()
            if name.startswith(("obs.", "info.")):
                where, key = name.split(".", 1)
            elif isinstance(obs, dict) and name in obs:
                where, key = "obs", name
            elif name in info:
                where, key = "info", name
            else:
                have = sorted(obs) if isinstance(obs, dict) else []
                raise AmiError(
                    f"environment {env!r} has no state entry {name!r}: observation keys "
                    f"{have}, info entries {sorted(info)}; fix --state-keys"
                )
            self.sources.append(f"{where}.{key}")
        if not self.sources:
            raise AmiError("--state-keys is empty; name observation keys or info entries")
        self.dim = int(self.read(obs, info).size)

    def read(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        parts = []
        for src in self.sources:
            where, key = src.split(".", 1)
            holder = obs if where == "obs" else info
            if not isinstance(holder, dict) or key not in holder:
                raise AmiError(f"state entry {src} is missing at this step; fix --state-keys")
            parts.append(_numeric(src, holder[key]))
        state = np.concatenate(parts)
        if hasattr(self, "dim") and state.size != self.dim:
            raise AmiError(f"state {self.sources} changed size from {self.dim} to {state.size}")
        return state


def default_state_keys(obs: Any, info: dict[str, Any], frames_key: str | None) -> list[str]:
    """What is recorded as state without --state-keys: info['state'], else info['pos'], else the
    numeric entries of a dict observation other than its frames."""
    if "state" in info:
        return ["info.state"]
    if "pos" in info:
        return ["info.pos"]
    if isinstance(obs, dict):
        keys = []
        for k, v in obs.items():
            arr = np.asarray(v)
            if k != frames_key and arr.dtype.kind in "fiub" and arr.ndim <= 1:
                keys.append(f"obs.{k}")
        return keys
    return []
