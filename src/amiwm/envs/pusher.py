"""A scripted Push-T data policy (``--policy push``): a mixture of purposeful pushes and random
targets near the block, so the data shows the block moving in every direction and the agent
reaching around it. Needs ``info['agent_pos']`` and ``info['block_pose']`` (amiwm/PushT-v0)
and relative actions (the agent's target moves by ``action * action_scale`` px)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from amiwm.errors import AmiError


class PushPolicy:
    """Segments of 10-40 env steps; each either pushes the block toward a random destination
    (get behind it as seen from the destination, go around it if needed, push through its
    centre of mass) with probability ``push``, or walks to a random point within 80 px of the
    block. Small Gaussian noise on every action."""

    def __init__(self, env: gym.Env, seed: int, push: float = 0.6, noise: float = 0.05) -> None:
        base = env.unwrapped
        if not hasattr(base, "action_scale") or not hasattr(base, "state_names"):
            raise AmiError("policy 'push' works with amiwm/PushT-v0 (alias pusht) only")
        self.scale = float(base.action_scale)
        inner = getattr(base, "_env", None)
        block = getattr(inner, "block", None)
        self.cog = np.asarray(getattr(block, "center_of_gravity", (0.0, 0.0)), float)
        self.space = env.action_space
        self.push, self.noise = float(push), float(noise)
        self.rng = np.random.default_rng(seed)
        self.left, self.mode, self.target = 0, "near", np.zeros(2)

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        self.left = 0

    def _centre(self, pose: np.ndarray) -> np.ndarray:
        c, s = np.cos(pose[2]), np.sin(pose[2])
        return pose[:2] + np.array([[c, -s], [s, c]]) @ self.cog

    def _new_segment(self, block: np.ndarray) -> None:
        self.left = int(self.rng.integers(10, 41))
        if self.rng.random() < self.push:
            self.mode, self.target = "push", self.rng.uniform(100, 412, 2)
        else:
            angle, radius = self.rng.uniform(0, 2 * np.pi), self.rng.uniform(0, 80)
            self.mode = "near"
            self.target = block + radius * np.array([np.cos(angle), np.sin(angle)])

    def _waypoint(self, agent: np.ndarray, block: np.ndarray, reach: float = 60.0) -> np.ndarray:
        if self.mode == "near":
            return self.target
        to_dest = self.target - block
        dist = float(np.linalg.norm(to_dest))
        if dist < 10.0:
            self.left = 0  # arrived: next segment
            return agent
        u = to_dest / dist
        behind = block - u * reach
        if np.linalg.norm(agent - behind) <= 15.0:
            return block + u * 30.0  # behind it: push through the centre
        if np.dot(agent - block, u) > -0.5 * reach:  # on the wrong side: go around
            side = np.array([-u[1], u[0]])
            side *= np.sign(np.dot(agent - block, side)) or 1.0
            return block + side * reach * 1.2 - u * reach
        return behind

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        agent = np.asarray(info["agent_pos"], float)
        block = self._centre(np.asarray(info["block_pose"], float))
        if self.left <= 0:
            self._new_segment(block)
        self.left -= 1
        move = (self._waypoint(agent, block) - agent) / self.scale
        move = np.clip(move, -0.4, 0.4) + self.rng.normal(0.0, self.noise, 2)
        return np.clip(move, self.space.low, self.space.high).astype(np.float32)
