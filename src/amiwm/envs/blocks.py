"""Action blocks: one model step = ``k`` env steps (LeWorldModel's "frameskip 5" on Push-T and
Reacher). A block is the ``k`` env actions concatenated, so a model with horizon 5 looks 25 env
steps ahead at the cost of 5 predictor steps.

``collect(..., action_block=k)`` records a frame every ``k`` env steps with the ``k`` actions
between (the policy still acts at every env step); :class:`ActionBlocks` lets an agent that
plans in blocks act in the env.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from amiwm.errors import AmiError


def block_space(space: gym.spaces.Box, k: int) -> gym.spaces.Box:
    """The action space of a block of ``k`` actions of ``space`` (bounds tiled)."""
    return gym.spaces.Box(np.tile(space.low, k), np.tile(space.high, k), dtype=space.dtype)


def check_block(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise AmiError(f"--action-block must be an integer >= 1, got {k!r}")
    return k


def skip_frame(env: gym.Env, skip: bool) -> None:
    """Ask an env with a boolean ``skip_frame`` attribute (reacher, pusht) not to render its next
    steps' frames (it returns the last one, and renders a step where it ends the episode itself;
    a wrapper that cuts the episode inside a block would get the last rendered frame); other
    envs are left as they are."""
    inner = env.unwrapped
    if isinstance(getattr(inner, "skip_frame", None), bool):
        inner.skip_frame = skip


def check_execute(execute: int | None, k: int) -> int:
    """Env steps run of each planned block of ``k``: ``execute`` (1..k), or all ``k``."""
    if execute is None:
        return k
    if isinstance(execute, bool) or not isinstance(execute, int) or not 1 <= execute <= k:
        raise AmiError(
            f"--block-steps must be an integer from 1 to the action block's {k} env steps, "
            f"got {execute!r}"
        )
    return execute


class ActionBlocks(gym.Wrapper):
    """Each step takes a block of ``k`` env actions and runs its first ``execute`` (all ``k``
    by default; fewer for an agent that replans inside a block), stopping early when the
    episode ends. Reward: the sum; ``info``: the last step's, with ``is_success`` true when any
    of the steps succeeded and ``env_steps`` the steps taken. An env with a boolean
    ``skip_frame`` attribute (reacher, pusht) is asked not to render the frames inside a block."""

    def __init__(self, env: gym.Env, k: int, execute: int | None = None) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise AmiError(f"action blocks need a 1-D Box action space, got {space}")
        self.k = check_block(k)
        self.execute = check_execute(execute, self.k)
        self.inner_dim = int(space.shape[0])
        self.action_space = block_space(space, self.k)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        a = np.asarray(action, dtype=np.float32)
        if a.size != self.k * self.inner_dim:
            raise AmiError(
                f"an action block has {self.k} x {self.inner_dim} = {self.k * self.inner_dim} "
                f"values, got {a.size}"
            )
        total, success, n = 0.0, False, 0
        obs, terminated, truncated, info = None, False, False, {}
        try:
            for sub in a.reshape(self.k, self.inner_dim)[: self.execute]:
                skip_frame(self.env, n < self.execute - 1)  # only the last frame is kept
                obs, reward, terminated, truncated, info = self.env.step(sub)
                total += float(reward)
                success = success or bool(info.get("is_success", False))
                n += 1
                if terminated or truncated:
                    break
        finally:
            skip_frame(self.env, False)
        info = dict(info)
        if "is_success" in info:
            info["is_success"] = success
        info["env_steps"] = n
        return obs, total, terminated, truncated, info
