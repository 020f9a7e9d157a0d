"""Small wrappers around an Agent: sensor rows in, a window out; every transition recorded."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.planning.base import Agent, Decision
from amiwm.planning.observations import encode_observation


class RowWindow:
    """Feeds a model that encodes windows of `context` sensor rows one row at a time: the last
    rows are kept (the first row repeated until the window fills; reset() clears them). A goal
    row (e.g. a plant's steady-state readings at a setpoint) means "stay there": it is repeated
    over the window. Whole windows and latent goals pass through unchanged."""

    def __init__(self, agent: Agent, model: WorldModel) -> None:
        cfg = model.config
        self.agent, self.context, self.dim = agent, cfg.rows_per_obs, int(cfg.obs_shape[-1])
        self.rows: list[torch.Tensor] = []

    def _is_row(self, x: torch.Tensor) -> bool:
        return self.context > 1 and tuple(x.shape) == (self.dim,)

    def reset(self) -> None:
        self.rows = []
        self.agent.reset()

    def act(self, observation: Any, goal: Any) -> Decision:
        x, g = torch.as_tensor(observation), torch.as_tensor(goal)
        if self._is_row(x):
            row = x.float()
            self.rows = ((self.rows or [row] * self.context) + [row])[-self.context :]
            x = torch.stack(self.rows)
        if self._is_row(g):
            g = g.float().expand(self.context, -1)
        return self.agent.act(x, g)

    def choose_action(self, observation: Any, goal: Any) -> Any:
        return self.act(observation, goal).action

    def __getattr__(self, name: str) -> Any:  # the wrapped agent's model, plan_ms, ...
        return getattr(self.__dict__["agent"], name)


class Recorder:
    """Appends every transition the agent lives through (latent, action, next latent, episode,
    time) to a persistent MemoryStore, episode numbers continuing after the store's last, so
    experience accumulates across sessions. Named actions are recorded as their vectors."""

    def __init__(self, agent: Agent, model: WorldModel, memory: Any) -> None:
        cfg = model.config
        h = memory.header
        if h.latent_dim != cfg.latent_dim or h.action_dim != cfg.action_dim:
            raise AmiError(
                f"memory {memory.path} holds latents {h.latent_dim} / actions {h.action_dim}; "
                f"this model has {cfg.latent_dim} / {cfg.action_dim}"
            )
        self.agent, self.model, self.memory = agent, model, memory
        episodes = memory.episodes()
        self.episode = int(episodes.max()) + 1 if len(episodes) else 0
        self._last: tuple[np.ndarray, np.ndarray] | None = None
        self._t = 0

    def reset(self) -> None:
        if self._t:
            self.episode += 1
        self._last, self._t = None, 0
        self.agent.reset()

    @torch.no_grad()
    def act(self, observation: Any, goal: Any) -> Decision:
        d = self.agent.act(observation, goal)
        z = encode_observation(self.model, observation).float().numpy()
        if self._last is not None:
            z0, a0 = self._last
            self.memory.append(z0, a0, z, self.episode, self._t - 1)
        self._last = (z, np.asarray(d.vector, np.float32))
        self._t += 1
        return d

    def choose_action(self, observation: Any, goal: Any) -> Any:
        return self.act(observation, goal).action

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["agent"], name)
