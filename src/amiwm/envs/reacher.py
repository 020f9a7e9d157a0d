"""dm_control's Reacher (easy) from pixels, rendered headless on the CPU (extra ``dmc``).

Observation: a (size, size, 3) uint8 frame of the fixed camera (64 px by default), rendered with
MuJoCo's EGL (or OSMesa) backend with shadows, reflections and skybox off, so frames differ from
dm_control's default renders (and from the 224 px renders papers publish) but render ~20x
faster on a CPU. Action: the two joint torques in [-1, 1]. One step is one dm_control control
step (0.02 s).

``info['state']`` is what restores an exact situation: joint angles (2), joint velocities (2)
and the target's (x, y); ``info['joints']`` the angles. ``reset(options={'state': s})`` starts
from a stored state; with ``options['goal_state']`` the episode succeeds (``info['is_success']``,
terminated) once every joint is within ``tolerance`` rad (0.05) of the goal's angles.
"""

from __future__ import annotations

import math
import os
from typing import Any

import gymnasium as gym
import numpy as np

from amiwm.envs.extras import headless_gl, missing_package
from amiwm.envs.restore import apply_reset_options, checked_action
from amiwm.errors import AmiError

STATE_NAMES = ("shoulder", "wrist", "shoulder_vel", "wrist_vel", "target_x", "target_y")


def angle_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| for angles, wrapped to [0, pi]."""
    d = np.mod(np.asarray(a, float) - np.asarray(b, float) + math.pi, 2 * math.pi) - math.pi
    return np.abs(d)


def _gl_error(e: Exception) -> AmiError:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return AmiError(
        f"MuJoCo cannot render headless (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {msg}; "
        "use MUJOCO_GL=egl with the Debian packages libegl1 libgl1-mesa-dri libopengl0, or "
        "MUJOCO_GL=osmesa with libosmesa6"
    )


class ReacherEnv(gym.Env):
    """Two-link planar reacher (dm_control ``reacher``/``easy``) with pixel observations."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}
    state_names = STATE_NAMES

    def __init__(
        self,
        size: int = 64,
        max_steps: int = 200,
        tolerance: float = 0.05,
        task: str = "easy",
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise AmiError(f"render_mode={render_mode!r} is not supported; use 'rgb_array' or None")
        if size < 8 or max_steps < 1 or tolerance <= 0:
            raise AmiError("reacher needs size >= 8, max_steps >= 1 and tolerance > 0")
        if task not in ("easy", "hard"):
            raise AmiError(f"unknown reacher task {task!r}; use 'easy' or 'hard'")
        headless_gl()
        try:
            import mujoco
            from dm_control import mujoco as dm_mujoco
            from dm_control import suite

            self._dm = suite.load("reacher", task, task_kwargs={"time_limit": math.inf})
            self._camera = dm_mujoco.Camera(self._dm.physics, size, size, camera_id=0)
        except ImportError as e:
            if (e.name or "").split(".")[0] in ("mujoco", "dm_control", "dm_env"):
                raise missing_package("reacher", e) from None
            raise _gl_error(e) from None
        except Exception as e:  # no usable GL backend: say which and what to do, in one line
            raise _gl_error(e) from None
        for flag in ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX"):
            self._camera._scene.flags[getattr(mujoco.mjtRndFlag, flag)] = 0
        self.size, self.max_steps, self.tolerance = size, max_steps, float(tolerance)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._goal: np.ndarray | None = None
        self._steps = 0
        self._frame: np.ndarray | None = None
        # set by ActionBlocks for the steps inside a block whose frames it drops: such a step
        # returns the last frame unless it ends the episode (rendering is ~90% of a step)
        self.skip_frame = False

    @property
    def physics(self) -> Any:
        return self._dm.physics

    def get_state(self) -> np.ndarray:
        """Joint angles, joint velocities, target (x, y): everything that restores the scene."""
        p = self.physics
        target = p.named.model.geom_pos["target", ["x", "y"]]
        return np.concatenate([p.data.qpos, p.data.qvel, target]).astype(np.float64)

    def set_state(self, state: Any) -> None:
        """Put the arm and target where ``state`` (from ``info['state']``) says."""
        s = np.asarray(state, dtype=np.float64).reshape(-1)
        if s.shape != (6,) or not np.isfinite(s).all():
            raise ValueError(f"reacher state must be 6 finite numbers {STATE_NAMES}, got {s}")
        p = self.physics
        with p.reset_context():  # recomputes derived quantities (positions, contacts)
            p.data.qpos[:] = s[:2]
            p.data.qvel[:] = s[2:4]
            p.named.model.geom_pos["target", ["x", "y"]] = s[4:6]

    def is_success(self, state: np.ndarray, goal: np.ndarray) -> bool:
        """Every joint within ``tolerance`` rad of the goal's joint angles."""
        return bool((angle_error(state[:2], goal[:2]) <= self.tolerance).all())

    def _info(self) -> dict[str, Any]:
        state = self.get_state()
        info: dict[str, Any] = {"state": state, "joints": state[:2].copy()}
        if self._goal is not None:
            info["joint_error"] = angle_error(state[:2], self._goal[:2])
            info["is_success"] = self.is_success(state, self._goal)
        return info

    def _render(self) -> np.ndarray:
        self._frame = np.ascontiguousarray(self._camera.render())
        return self._frame

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Random arm and target (dm_control's own initialisation), or ``options['state']``."""
        super().reset(seed=seed)
        self._dm.task._random = np.random.RandomState(int(self.np_random.integers(2**31)))
        self._dm.reset()
        self._goal = apply_reset_options(self, options, "reacher", 6)
        self._steps = 0
        return self._render(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = checked_action(action)
        ts = self._dm.step(np.clip(a, -1.0, 1.0))
        self._steps += 1
        info = self._info()
        terminated = bool(info.get("is_success", False))
        truncated = self._steps >= self.max_steps
        stale = self.skip_frame and self._frame is not None and not (terminated or truncated)
        frame = self._frame.copy() if stale else self._render()
        return frame, float(ts.reward or 0.0), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The last frame in ``rgb_array`` mode, else None."""
        if self.render_mode != "rgb_array" or self._frame is None:
            return None
        return self._frame.copy()

    def close(self) -> None:
        self._camera = None
