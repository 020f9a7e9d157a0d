"""The model side of the server: batched encode / predict / surprise / plan on checked arrays.

Runs on the micro-batcher's single worker thread. Each `run` call gets the payloads of several
requests of one kind and key, stacks them into one forward pass (plans: one batched CEM call),
and returns one result per request, or an AmiError for a request whose output is not finite.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.planning.agent import DEFAULT_BUDGET
from amiwm.planning.cem import CEMPlanner
from amiwm.planning.costs import final_distance
from amiwm.planning.free_goal import FreeGoal
from amiwm.planning.state_cost import StateCost, extender
from amiwm.rundir import RunDir

if TYPE_CHECKING:
    from amiwm.planning.graph import LatentGraph

log = logging.getLogger("amiwm.serving")

DEFAULT_HORIZON = 5  # as WorldModelAgent
NOT_FINITE = "the model output is not finite for this input (values far outside its training data?)"


@dataclass(frozen=True)
class PlanJob:
    obs: np.ndarray  # (*obs_shape)
    goal: np.ndarray  # (*obs_shape)
    seed: int = 0
    graph: bool = True
    state: np.ndarray | None = None  # (S,) robot state of obs (proprio models only)
    goal_state: np.ndarray | None = None  # (S,) of goal
    free: tuple[int, ...] = ()  # goal_state entries that may take any value (FreeGoal)


class Engine:
    """A loaded world model (and optional latent subgoal graph) answering batched calls.
    Plans score the final imagined latent's distance to the (sub)goal, plus with a
    `state_cost` the distance of the state the model's read-out reads (WorldModelAgent)."""

    def __init__(
        self,
        model: WorldModel,
        graph: LatentGraph | None = None,
        state_cost: StateCost | None = None,
    ) -> None:
        self.model = model.eval()
        self.config = cfg = model.config
        self.graph = graph
        self.state_cost = state_cost
        self.can_plan = cfg.action_conditioning and cfg.action_dim >= 1
        low, high = cfg.planning_bounds()  # where /plan searches: the training data's range
        self.low = torch.tensor(low, dtype=torch.float32)
        self.high = torch.tensor(high, dtype=torch.float32)
        self._planners: dict[tuple[int, int], CEMPlanner] = {}
        self._free_goals: dict[tuple[int, ...], FreeGoal] = {}
        self.history = cfg.history
        self._self_test()

    @classmethod
    def load(
        cls,
        checkpoint: str | Path,
        *,
        graph: bool = True,
        state_cost: float = 0.0,
        state_cost_entries: tuple[int, ...] = (),
    ) -> Engine:
        """Load a checkpoint (safetensors + JSON). With `graph`, build the subgoal graph from
        the checkpoint's own training store when that is a readable file. `state_cost` > 0:
        plans add that weight times the distance of the `state_cost_entries` the checkpoint's
        read-out reads (amiwm.planning.state_cost)."""
        reads = StateCost.optional(checkpoint, state_cost, state_cost_entries)
        model = WorldModel.from_pretrained(checkpoint)
        latent_graph = None
        if graph and model.config.action_conditioning and model.config.action_dim >= 1:
            dataset = RunDir(checkpoint).training_data
            if dataset is not None:
                from amiwm.planning.graph import LatentGraph

                try:
                    latent_graph = LatentGraph.from_store(model, dataset)
                except (AmiError, OSError) as exc:
                    log.warning("no subgoal graph: %s", exc)
        return cls(model, latent_graph, reads)

    def _self_test(self) -> None:
        """Refuse a model that gives NaN/Inf on a blank observation."""
        cfg = self.config
        dtype = np.uint8 if cfg.modality == "frames" else np.float32
        obs = np.zeros((1, *cfg.obs_shape), dtype)
        state = self.model.state_mean[None] if cfg.proprio else None  # the mean robot state
        with torch.inference_mode():
            z = self.model.encode(torch.from_numpy(obs), state)
            a = torch.zeros(1, 1, max(cfg.action_dim, 1))
            z2 = self.model.rollout_latents(z[:, None], a)
        if not (torch.isfinite(z).all() and torch.isfinite(z2).all()):
            raise AmiError("the model outputs NaN or Inf on a blank observation; not serving it")

    def info(self) -> dict[str, Any]:
        cfg = self.config
        env_low, env_high = cfg.planning_bounds(within_data=False)  # the env's own bounds
        return {
            "modality": cfg.modality,
            "obs_shape": list(cfg.obs_shape),
            "obs_dtype": "uint8" if cfg.modality == "frames" else "float32",
            "latent_dim": cfg.latent_dim,
            "action_dim": max(cfg.action_dim, 1),
            "action_conditioning": cfg.action_conditioning,
            "history": self.history,
            "action_low": env_low,
            "action_high": env_high,
            "plan_low": self.low.tolist(),
            "plan_high": self.high.tolist(),
            "channels": list(cfg.channels),
            "action_names": list(cfg.action_names),
            "can_plan": self.can_plan,
            "proprio": cfg.proprio,  # the requests carry robot states too
            "state_dim": cfg.state_dim if cfg.proprio else 0,
            "state_cost": self.state_cost.weight if self.state_cost else 0.0,
            "state_cost_entries": self.state_cost.entries if self.state_cost else [],
        }

    # ------------------------------------------------------------------ batched calls
    def run(self, kind: str, key: Hashable, payloads: list[Any]) -> list[Any]:
        """One batched call of `kind` for several requests; one result per payload."""
        with torch.inference_mode():
            if kind == "encode":  # payloads (obs, states)
                obs = [p[0] for p in payloads]
                return self._split(self.encode(obs, [p[1] for p in payloads]), obs)
            if kind == "predict":
                return self._predict(payloads)
            if kind == "surprise":  # payloads (obs, actions, states)
                obs, states = [p[0] for p in payloads], _states([p[2] for p in payloads])
                out = self.model.surprise(_cat(obs), _cat([p[1] for p in payloads]), states)
                return self._split(out, obs)
            if kind == "plan":
                return self._plan(key, payloads)
        raise ValueError(f"unknown job kind {kind!r}")

    def _split(self, out: torch.Tensor, inputs: list[np.ndarray]) -> list[Any]:
        sizes = [len(x) for x in inputs]
        return [
            part.numpy() if torch.isfinite(part).all() else AmiError(NOT_FINITE)
            for part in out.split(sizes)
        ]

    def encode(self, obs: list[np.ndarray], states: list[np.ndarray | None]) -> torch.Tensor:
        """Observations of several requests in one pass, each with its states (or all None)."""
        return self.model.encode(_cat(obs), _states(states))

    def _predict(self, payloads: list[tuple[Any, ...]]) -> list[Any]:
        """payloads (context, actions, context is observations, states)."""
        ctx = [p[0] for p in payloads]
        acts = _cat([p[1] for p in payloads])
        z = self.encode(ctx, [p[3] for p in payloads]) if payloads[0][2] else _cat(ctx)
        return self._split(self.model.rollout_latents(z, acts), ctx)

    def planner(self, samples: int, elites: int, iterations: int) -> CEMPlanner:
        key = (samples, elites, iterations)
        if key not in self._planners:
            self._planners[key] = CEMPlanner(samples, elites, iterations)
        return self._planners[key]

    def _plan(self, key: Hashable, jobs: list[PlanJob]) -> list[Any]:
        """Plan several requests with one batched CEM run; each keeps its own noise stream."""
        samples, elites, iterations, horizon = key[:4]  # type: ignore[index]
        t0 = time.perf_counter()
        p = len(jobs)
        z = self.encode([j.obs[None] for j in jobs], [_lead(j.state) for j in jobs])
        goals = self._goals(jobs)  # (P, K, D): K = 1, or a set per goal with free entries
        targets, sub = [], []
        for i, job in enumerate(jobs):
            g = goals[i]
            t = self.graph.subgoal(z[i], g[0], horizon) if job.graph and self.graph else g
            targets.append(t.expand_as(g))
            sub.append(t is not g)
        target = torch.stack(targets)
        extend = extender(self.state_cost)
        target = extend(target)

        def objective(cand: torch.Tensor) -> torch.Tensor:  # (P, N, H, A) -> (P, N)
            n = cand.shape[1]
            ctx = z[:, None, None].expand(-1, n, -1, -1).reshape(p * n, 1, -1)
            latents = self.model.rollout_latents(ctx, cand.reshape(p * n, *cand.shape[2:]))
            return final_distance(extend(latents), target.repeat_interleave(n, 0)).view(p, n)

        gens = [torch.Generator().manual_seed(j.seed) for j in jobs]
        results = self.planner(samples, elites, iterations).plan_batch(
            objective, p, horizon, self.low, self.high, generators=gens
        )
        ms = 1000 * (time.perf_counter() - t0)
        return [
            {"actions": r.actions.numpy(), "cost": r.cost, "subgoal": s, "ms": ms, "batch": p}
            if np.isfinite(r.cost) and torch.isfinite(r.actions).all()
            else AmiError(NOT_FINITE)
            for r, s in zip(results, sub, strict=True)
        ]

    def free_goal(self, free: tuple[int, ...]) -> FreeGoal:
        """The goal set for these free state entries (built once; AmiError if they do not fit
        the model)."""
        if free not in self._free_goals:
            self._free_goals[free] = FreeGoal(self.model.config, free)
        return self._free_goals[free]

    def _goals(self, jobs: list[PlanJob]) -> torch.Tensor:
        """Goal latents (P, K, D) of one batch (whose jobs share `free`): each goal alone
        (K = 1), or with free state entries the set of FreeGoal's states beside its frame."""
        free = jobs[0].free
        if not free:
            goals = self.encode([j.goal[None] for j in jobs], [_lead(j.goal_state) for j in jobs])
            return goals[:, None]
        sets = [self.free_goal(free).states(j.goal_state).numpy() for j in jobs]
        k = len(sets[0])
        frames = [np.repeat(j.goal[None], k, 0) for j in jobs]
        return self.encode(frames, sets).view(len(jobs), k, -1)

    @staticmethod
    def default_budget() -> dict[str, int]:
        return {**DEFAULT_BUDGET, "horizon": DEFAULT_HORIZON}


def _cat(arrays: list[np.ndarray]) -> torch.Tensor:
    one = len(arrays) == 1 and arrays[0].flags.writeable  # (a decoded PNG may be read-only)
    return torch.from_numpy(arrays[0] if one else np.concatenate(arrays))


def _states(states: list[np.ndarray | None]) -> torch.Tensor | None:
    """The states of one batch concatenated in request order; None when no request has any."""
    given = [s is not None for s in states]
    if not any(given):
        return None
    if not all(given):  # the batching keys keep these apart
        raise ValueError("a batch mixes requests with and without robot states")
    return _cat(states)  # type: ignore[arg-type]


def _lead(state: np.ndarray | None) -> np.ndarray | None:
    return None if state is None else state[None]
