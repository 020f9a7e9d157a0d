"""Planning over a finite set of named actions: exhaustive search or categorical CEM."""

from __future__ import annotations

import math

import torch

from amiwm.errors import AmiError
from amiwm.planning.base import ActionCost, PlanResult, check_costs, check_positive, check_sampling


class DiscretePlanner:
    """Choose one of K named actions per step; `values` (K, A) maps each name to its action.

    If K**H <= exhaustive_limit every sequence is evaluated in one batch (exact). Otherwise a
    categorical CEM: per-step probabilities (H, K), `samples` index sequences per iteration, the
    `elites` cheapest (kept across iterations without re-evaluation) refit the probabilities,
    mixed with the uniform distribution by `smoothing` so no action dies out. The most likely
    sequence is always one of the candidates. `init` (H, A) or (H,) indices biases the start
    distribution towards the warm-start plan (nearest named action per step).
    """

    def __init__(
        self,
        values: torch.Tensor,
        names: list[str] | None = None,
        samples: int = 256,
        iterations: int = 10,
        elites: int = 25,
        exhaustive_limit: int = 4096,
        smoothing: float = 0.1,
        init_weight: float = 0.5,
    ) -> None:
        values = torch.as_tensor(values)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[0] < 1:
            raise AmiError(f"discrete values must have shape (K, A), got {tuple(values.shape)}")
        if not values.is_floating_point():
            values = values.float()
        if names is not None and len(names) != values.shape[0]:
            raise AmiError(f"got {len(names)} action names for {values.shape[0]} action values")
        check_positive(samples=samples, iterations=iterations, elites=elites)
        check_sampling("discrete", samples, elites)
        if not (0.0 <= smoothing <= 1.0 and 0.0 <= init_weight < 1.0):
            raise AmiError("discrete smoothing must be in [0, 1] and init_weight in [0, 1)")
        self.values = values
        self.names = list(names) if names is not None else [str(i) for i in range(len(values))]
        self.samples = samples
        self.iterations = iterations
        self.elites = elites
        self.exhaustive_limit = exhaustive_limit
        self.smoothing = smoothing
        self.init_weight = init_weight
        self._all: dict[int, torch.Tensor] = {}  # horizon -> every index sequence (K**H, H)

    def describe(self, indices: torch.Tensor) -> list[str]:
        """Names of a plan's action indices (H,)."""
        return [self.names[i] for i in indices.tolist()]

    def plan(
        self,
        objective: ActionCost,
        horizon: int,
        low: torch.Tensor | None = None,
        high: torch.Tensor | None = None,
        init: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise AmiError(f"horizon must be a positive int, got {horizon!r}")
        k = self.values.shape[0]
        with torch.inference_mode():
            if k**horizon <= self.exhaustive_limit:
                return self._exhaustive(objective, horizon)
            return self._cem(objective, horizon, self._init_indices(init, horizon), generator)

    def _result(self, idx: torch.Tensor, cost: float, history: list[float]) -> PlanResult:
        return PlanResult(self.values[idx], cost, history, idx)

    def _exhaustive(self, objective: ActionCost, horizon: int) -> PlanResult:
        if horizon not in self._all:
            k = self.values.shape[0]
            codes = torch.arange(k**horizon, device=self.values.device)[:, None]
            place = k ** torch.arange(horizon - 1, -1, -1, device=self.values.device)
            self._all[horizon] = codes.div(place, rounding_mode="floor") % k
        idx = self._all[horizon]
        costs = check_costs(objective(self.values[idx]), len(idx)).nan_to_num(nan=math.inf)
        c, i = costs.min(0)
        return self._result(idx[i].clone(), float(c), [float(c)])

    def _init_indices(self, init: torch.Tensor | None, horizon: int) -> torch.Tensor | None:
        if init is None:
            return None
        init = torch.as_tensor(init)
        if not init.is_floating_point():
            if tuple(init.shape) != (horizon,) or init.min() < 0 or init.max() >= len(self.values):
                raise AmiError(f"discrete init indices must have shape ({horizon},), in [0, K)")
            return init.long()
        if tuple(init.shape) != (horizon, self.values.shape[1]):
            raise AmiError(
                f"discrete init has shape {tuple(init.shape)}, expected ({horizon}, "
                f"{self.values.shape[1]}) actions or ({horizon},) indices"
            )
        return torch.cdist(init.to(self.values), self.values).argmin(1)

    def _cem(
        self,
        objective: ActionCost,
        horizon: int,
        init: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> PlanResult:
        k, n, e, s = self.values.shape[0], self.samples, self.elites, self.smoothing
        dev = self.values.device
        probs = torch.full((horizon, k), 1.0 / k, device=dev)
        if init is not None:
            probs.mul_(1 - self.init_weight)
            probs[torch.arange(horizon, device=dev), init.to(dev)] += self.init_weight
        pool = torch.empty(n + e, horizon, dtype=torch.long, device=dev)  # samples, kept elites
        pool_costs = torch.full((n + e,), math.inf, device=dev)
        ones = torch.ones(horizon, e, device=dev)
        best, best_cost, history = pool.new_zeros(horizon), math.inf, []
        for _ in range(self.iterations):
            pool[:n] = torch.multinomial(probs, n, replacement=True, generator=generator).T
            pool[0] = probs.argmax(1)
            costs = check_costs(objective(self.values[pool[:n]]), n)
            pool_costs[:n] = costs
            pool_costs.nan_to_num_(nan=math.inf)
            top_costs, top = pool_costs.topk(e, largest=False)
            elites = pool[top]
            if (c := float(top_costs[0])) < best_cost:
                best_cost = c
                best.copy_(elites[0])
            history.append(best_cost)
            pool[n:] = elites
            pool_costs[n:] = top_costs
            probs.zero_().scatter_add_(1, elites.T, ones).mul_((1 - s) / e).add_(s / k)
        return self._result(best, best_cost, history)
