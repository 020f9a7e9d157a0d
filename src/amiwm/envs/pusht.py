"""Push-T from pixels (gym-pusht, extra ``pusht``) with relative, bounded actions at 10 Hz.

Observation: gym-pusht's own pixel observation (the scene with the green goal T), resized to
(size, size, 3) uint8 (64 px by default). Not ``env.render()``: that draws the commanded target
as a cross, so the action would leak into the frame. Action: a displacement in [-1, 1]^2 of the
agent's target, ``target = agent_xy + action * action_scale`` (100 px of the 512 px arena, as in
stable-worldmodel's Push-T), clipped to the arena; gym-pusht's PD controller then drives the
agent there for 0.1 s (10 Hz).

``info['state']`` restores an exact situation: agent (x, y), block (x, y), block angle, agent
velocity (2), block velocity (2), block angular velocity (10 numbers). ``reset(options={'state':
s})`` starts from a stored state; with ``options['goal_state']`` the episode succeeds
(``info['is_success']``, terminated) when agent and block positions are within
``position_tolerance`` px (20, the norm over both) and the block angle within
``angle_tolerance`` rad (pi / 9) of the goal, as stable-worldmodel evaluates Push-T.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from amiwm.envs.extras import require
from amiwm.envs.reacher import angle_error
from amiwm.envs.restore import apply_reset_options, checked_action
from amiwm.errors import AmiError

STATE_NAMES = (
    "agent_x",
    "agent_y",
    "block_x",
    "block_y",
    "block_angle",
    "agent_vx",
    "agent_vy",
    "block_vx",
    "block_vy",
    "block_omega",
)
ARENA = 512.0


class PushTEnv(gym.Env):
    """Push a T-shaped block onto a goal pose with a round agent; pixel observations."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    state_names = STATE_NAMES

    def __init__(
        self,
        size: int = 64,
        max_steps: int = 300,
        action_scale: float = 100.0,
        position_tolerance: float = 20.0,
        angle_tolerance: float = math.pi / 9,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise AmiError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        if size < 8 or max_steps < 1 or action_scale <= 0:
            raise AmiError("pusht needs size >= 8, max_steps >= 1 and action_scale > 0")
        if position_tolerance <= 0 or angle_tolerance <= 0:
            raise AmiError("pusht tolerances must be > 0")
        require("pusht", "pygame", "pymunk", "gym_pusht")
        from gym_pusht.envs import PushTEnv as _Inner

        self._env = _Inner(
            obs_type="pixels",
            render_mode="rgb_array",
            observation_width=size,
            observation_height=size,
        )
        self.size, self.max_steps, self.action_scale = size, max_steps, float(action_scale)
        self.position_tolerance, self.angle_tolerance = position_tolerance, angle_tolerance
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._goal: np.ndarray | None = None
        self._steps = 0
        self._frame: np.ndarray | None = None
        # set by ActionBlocks for the steps inside a block whose frames it drops: such a step
        # returns the last frame unless it ends the episode (drawing is nearly all of a step)
        self.skip_frame = False

    def get_state(self) -> np.ndarray:
        """Positions, block angle and velocities: everything that restores the scene."""
        agent, block = self._env.agent, self._env.block
        return np.array(
            [
                *agent.position,
                *block.position,
                block.angle,
                *agent.velocity,
                *block.velocity,
                block.angular_velocity,
            ],
            dtype=np.float64,
        )

    def set_state(self, state: Any) -> None:
        """Put agent and block where ``state`` (from ``info['state']``) says, velocities too."""
        s = np.asarray(state, dtype=np.float64).reshape(-1)
        if s.shape != (10,) or not np.isfinite(s).all():
            raise ValueError(f"pusht state must be 10 finite numbers {STATE_NAMES}, got {s}")
        agent, block = self._env.agent, self._env.block
        agent.position, agent.velocity = (s[0], s[1]), (s[5], s[6])
        block.angle = s[4]  # angle first: gym-pusht's block rotates about its centre of gravity
        block.position, block.velocity, block.angular_velocity = (s[2], s[3]), (s[7], s[8]), s[9]
        for shape in (*agent.shapes, *block.shapes):
            shape.cache_bb()  # drawn and collided where they now are, without a physics step

    def is_success(self, state: np.ndarray, goal: np.ndarray) -> bool:
        """Agent and block positions within ``position_tolerance`` px (one norm over both) and
        block angle within ``angle_tolerance`` rad of the goal."""
        pos = float(np.linalg.norm(np.asarray(state[:4]) - np.asarray(goal[:4])))
        angle = float(angle_error(state[4], goal[4]))
        return pos < self.position_tolerance and angle < self.angle_tolerance

    def _info(self) -> dict[str, Any]:
        s = self.get_state()
        info: dict[str, Any] = {"state": s, "agent_pos": s[:2].copy(), "block_pose": s[2:5].copy()}
        if self._goal is not None:
            info["is_success"] = self.is_success(s, self._goal)
        return info

    def _observe(self, pixels: np.ndarray | None = None) -> np.ndarray:
        self._frame = np.ascontiguousarray(self._env.get_obs() if pixels is None else pixels)
        return self._frame

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """gym-pusht's random agent and block placement, or ``options['state']``."""
        super().reset(seed=seed)
        self._env.obs_type = "state"  # the frame is drawn once, below, where the state is set
        try:
            self._env.reset(seed=int(self.np_random.integers(2**31)))
        finally:
            self._env.obs_type = "pixels"
        self._goal = apply_reset_options(self, options, "pusht", 10)
        self._steps = 0
        return self._observe(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = checked_action(action)
        agent = np.asarray(self._env.agent.position, dtype=np.float64)
        target = np.clip(agent + np.clip(a, -1.0, 1.0) * self.action_scale, 0.0, ARENA)
        stale = self.skip_frame and self._frame is not None
        self._env.obs_type = "state" if stale else "pixels"  # "state": gym-pusht draws nothing
        try:
            pixels, reward, _, _, inner = self._env.step(target)
        finally:
            self._env.obs_type = "pixels"
        self._steps += 1
        info = self._info()
        info["coverage"] = float(inner.get("coverage", 0.0))
        terminated = bool(info.get("is_success", False))
        truncated = self._steps >= self.max_steps
        if stale and not (terminated or truncated):
            frame = self._frame.copy()
        else:
            frame = self._observe(None if stale else pixels)
        return frame, float(reward), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The last observation frame in ``rgb_array`` mode (no action marker), else None."""
        if self.render_mode != "rgb_array" or self._frame is None:
            return None
        return self._frame.copy()

    def close(self) -> None:
        self._env.close()
