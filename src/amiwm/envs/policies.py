"""Data-collection policies: ``reset(obs, info)`` once per episode, then ``policy(obs, info)``."""

from __future__ import annotations

import math
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from amiwm.errors import AmiError

POLICY_NAMES = ("auto", "random", "drift", "setpoints", "smooth", "push")
_ALIASES = {"drifting-walk": "drift"}


class Policy(Protocol):
    """What data collection calls; actions are float32 arrays inside the action space."""

    def reset(self, obs: Any, info: dict[str, Any]) -> None: ...

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray: ...


class RandomPolicy:
    """Actions drawn uniformly from a bounded Box action space."""

    def __init__(self, action_space: gym.spaces.Space, seed: int) -> None:
        if not isinstance(action_space, gym.spaces.Box) or not action_space.is_bounded():
            raise AmiError(f"random policy needs a bounded Box action space, got {action_space}")
        self.low = action_space.low.astype(np.float64)
        self.high = action_space.high.astype(np.float64)
        self.rng = np.random.default_rng(seed)

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Nothing to reset; the random stream continues across episodes."""

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        a = self.rng.uniform(self.low, self.high).astype(np.float32)
        return np.clip(a, self.low.astype(np.float32), self.high.astype(np.float32))


class DriftingWalkPolicy:
    """Random walk whose heading drifts slowly and bounces off walls (PLDM-style data).

    With probability ``door_fraction`` per episode, after a short random delay the walk is steered
    through the door (approach point -> door centre -> exit point), then drifts on. ``speed`` is
    the step-length range as a fraction of the env's ``max_step_norm``.
    """

    _REQUIRED = ("door_center", "clip_move", "room_of", "max_step_norm", "wall_thickness")

    def __init__(
        self,
        env: gym.Env,
        seed: int,
        door_fraction: float = 0.3,
        turn_std: float = 0.3,
        speed: tuple[float, float] = (0.5, 1.0),
    ) -> None:
        base = env.unwrapped
        missing = [a for a in self._REQUIRED if not hasattr(base, a)]
        if missing:
            raise AmiError(
                f"drift policy needs a rooms env (missing {', '.join(missing)}); "
                "use 'random' or 'setpoints'"
            )
        if not 0.0 <= door_fraction <= 1.0 or not 0.0 < speed[0] <= speed[1] <= 1.0:
            raise AmiError("drift policy needs 0 <= door_fraction <= 1 and 0 < speed <= 1")
        self.env, self.door_fraction, self.turn_std = base, door_fraction, turn_std
        self.speed = (float(speed[0]), float(speed[1]))
        self.rng = np.random.default_rng(seed)
        low, high = env.action_space.low, env.action_space.high
        self._low, self._high = low.astype(np.float32), high.astype(np.float32)
        self.heading = 0.0
        self.waypoints: list[np.ndarray] = []
        self.delay = 0

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Pick a random heading and decide whether this episode goes through the door."""
        self.heading = float(self.rng.uniform(0.0, 2 * math.pi))
        self.waypoints = []
        self.delay = -1
        if self.rng.random() < self.door_fraction or self._many_doors:
            self.delay = int(self.rng.integers(0, 21))

    @property
    def _many_doors(self) -> bool:
        """Mazes pick a door of the current room themselves; the walk crosses doors repeatedly."""
        return hasattr(self.env, "door_waypoints")

    def _plan_door(self, pos: np.ndarray) -> None:
        if self._many_doors:
            self.waypoints = self.env.door_waypoints(pos, self.rng)
            return
        c = np.asarray(self.env.door_center, dtype=float)
        side = 1.0 if self.env.room_of(pos) == 0 else -1.0  # +1: going left -> right
        off = self.env.wall_thickness / 2
        self.waypoints = [c + (-side * (off + 3.0), 0.0), c, c + (side * (off + 4.0), 0.0)]

    def _length(self) -> float:
        return float(self.rng.uniform(*self.speed)) * float(self.env.max_step_norm)

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        if "pos" not in info:
            raise AmiError("drift policy needs info['pos'] from the env; use the 'random' policy")
        pos = np.asarray(info["pos"], dtype=float)
        if self.delay == 0:
            self._plan_door(pos)
        self.delay -= 1
        while self.waypoints and np.linalg.norm(self.waypoints[0] - pos) < 0.5:
            self.waypoints.pop(0)
        if self._many_doors and not self.waypoints and self.delay < 0:
            self.delay = int(self.rng.integers(5, 30))
        length = self._length()
        if self.waypoints:
            to = self.waypoints[0] - pos
            self.heading = math.atan2(to[1], to[0]) + float(self.rng.normal(0.0, 0.05))
            length = min(length, float(np.linalg.norm(to)))
        else:
            self.heading += float(self.rng.normal(0.0, self.turn_std))
            self.heading = self._bounce(pos, length)
        a = length * np.array([math.cos(self.heading), math.sin(self.heading)])
        return np.clip(a.astype(np.float32), self._low, self._high)

    def _bounce(self, pos: np.ndarray, length: float) -> float:
        """Heading that does not hit a wall: the current one, else a reflection, else random."""
        h = self.heading
        candidates = [h, math.pi - h, -h, h + math.pi]  # as is, reflect x, reflect y, reverse
        candidates += list(self.rng.uniform(0.0, 2 * math.pi, 8))
        for c in candidates:
            d = length * np.array([math.cos(c), math.sin(c)])
            if np.allclose(self.env.clip_move(pos, d), pos + d, atol=1e-6):
                return float(c)
        return h + math.pi


class SetpointsPolicy:
    """Piecewise-constant control moves (plant data): each action holds a level for a random
    number of steps, then jumps to a new uniform level; between jumps the level random-walks
    and every action gets small white noise. ``walk_std`` and ``noise_std`` are fractions of
    the action range; ``hold`` is the (min, max) number of steps between jumps.
    """

    def __init__(
        self,
        action_space: gym.spaces.Space,
        seed: int,
        hold: tuple[int, int] = (10, 60),
        walk_std: float = 0.01,
        noise_std: float = 0.01,
    ) -> None:
        if not isinstance(action_space, gym.spaces.Box) or not action_space.is_bounded():
            raise AmiError(f"setpoints policy needs a bounded Box action space, got {action_space}")
        if not 1 <= hold[0] <= hold[1] or walk_std < 0 or noise_std < 0:
            raise AmiError("setpoints policy needs 1 <= hold[0] <= hold[1] and stds >= 0")
        self.low = action_space.low.astype(np.float64)
        self.high = action_space.high.astype(np.float64)
        self.span = self.high - self.low
        self.hold = (int(hold[0]), int(hold[1]))
        self.walk_std, self.noise_std = float(walk_std), float(noise_std)
        self.rng = np.random.default_rng(seed)
        self.level = (self.low + self.high) / 2
        self.countdown = np.zeros(self.low.shape, np.int64)

    def _hold(self, size: int) -> np.ndarray:
        return self.rng.integers(self.hold[0], self.hold[1] + 1, size)

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        """New random levels, each held for its own random time."""
        self.level = self.rng.uniform(self.low, self.high)
        self.countdown = self._hold(self.low.size).reshape(self.low.shape)

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        self.countdown -= 1
        jump = self.countdown <= 0
        if jump.any():
            self.level = np.where(jump, self.rng.uniform(self.low, self.high), self.level)
            self.countdown = np.where(jump, self._hold(self.low.size), self.countdown)
        walk = self.rng.normal(0.0, self.walk_std, self.low.shape) * self.span
        self.level = np.clip(self.level + walk, self.low, self.high)
        a = self.level + self.rng.normal(0.0, self.noise_std, self.low.shape) * self.span
        return np.clip(a, self.low, self.high).astype(np.float32)


class SmoothNoisePolicy:
    """Temporally correlated exploration for any bounded Box action space: each action dimension
    follows its own AR(1) (discrete Ornstein-Uhlenbeck) process in [-1, 1] units, mapped onto the
    space's range. ``timescale``: steps over which the correlation falls to 1/e; ``std``: the
    stationary spread as a fraction of the half-range. Unlike uniform noise, whose mean over a
    few steps is ~0, consecutive actions agree, so the system actually travels (and pushes).
    The defaults (2 steps, 1.0: about a third of the actions at a bound) doubled the block
    displacement of uniform random actions in Push-T (benchmarks/exploration.py)."""

    def __init__(
        self, action_space: gym.spaces.Space, seed: int, timescale: float = 2.0, std: float = 1.0
    ) -> None:
        if not isinstance(action_space, gym.spaces.Box) or not action_space.is_bounded():
            raise AmiError(f"smooth policy needs a bounded Box action space, got {action_space}")
        if timescale <= 0 or std <= 0:
            raise AmiError("smooth policy needs timescale > 0 and std > 0")
        self.low = action_space.low.astype(np.float64)
        self.high = action_space.high.astype(np.float64)
        self.rho = math.exp(-1.0 / timescale)
        self.std = float(std)
        self.rng = np.random.default_rng(seed)
        self.x = np.zeros(self.low.shape)

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        """A fresh draw from the stationary distribution."""
        self.x = self.rng.normal(0.0, self.std, self.low.shape)

    def __call__(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        noise = self.rng.normal(0.0, self.std, self.low.shape)
        self.x = self.rho * self.x + math.sqrt(1.0 - self.rho**2) * noise
        u = np.clip(self.x, -1.0, 1.0)
        a = (self.low + self.high) / 2 + u * (self.high - self.low) / 2
        return np.clip(a, self.low, self.high).astype(np.float32)


def resolve_policy(name: str, env: gym.Env) -> str:
    """The policy 'auto' stands for in ``env`` ('drift' or 'smooth'); other names as given."""
    key = _ALIASES.get(name, name)
    if key != "auto":
        return name
    rooms = all(hasattr(env.unwrapped, a) for a in DriftingWalkPolicy._REQUIRED)
    return "drift" if rooms else "smooth"


def make_policy(name: str, env: gym.Env, seed: int) -> Policy:
    """Build a data-collection policy by name: 'random', 'drift' (alias 'drifting-walk'),
    'setpoints', 'smooth', 'push' (scripted Push-T pushes) or 'auto' (drift in rooms envs,
    smooth anywhere else)."""
    key = resolve_policy(_ALIASES.get(name, name), env)
    if key == "smooth":
        return SmoothNoisePolicy(env.action_space, seed)
    if key == "random":
        return RandomPolicy(env.action_space, seed)
    if key == "setpoints":
        return SetpointsPolicy(env.action_space, seed)
    if key == "drift":
        return DriftingWalkPolicy(env, seed)
    if key == "push":
        from amiwm.envs.pusher import PushPolicy

        return PushPolicy(env, seed)
    valid = ", ".join(POLICY_NAMES + tuple(_ALIASES))
    raise AmiError(f"unknown policy {name!r}; use one of [{valid}]")


__all__ = [
    "POLICY_NAMES",
    "DriftingWalkPolicy",
    "Policy",
    "RandomPolicy",
    "SetpointsPolicy",
    "SmoothNoisePolicy",
    "resolve_policy",
    "make_policy",
]
