"""Cross-entropy method: refit a diagonal Gaussian over action sequences to the elites."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from amiwm.errors import AmiError
from amiwm.planning.base import (
    ActionCost,
    PlanResult,
    check_costs,
    check_positive,
    check_sampling,
    prepare,
)

BatchActionCost = Callable[[torch.Tensor], torch.Tensor]
"""The action cost of P problems at once: candidates (P, N, H, A) -> costs (P, N)."""


class CEMPlanner:
    """Gaussian per (step, action dim), refit to the `elites` cheapest of `samples` candidates.

    Standard deviations are relative to the action range (high - low): `init_std` (default 0.5)
    at the start and never below `min_std`. `momentum` blends the old mean/std into the refit.
    Each iteration evaluates the current mean as one of the candidates (so a warm start is never
    lost); with `keep_elites` the previous elites compete again without being re-evaluated
    (the objective is assumed deterministic). The candidate tensor passed to the objective is
    a buffer reused across iterations: clone it to keep it. `plan_batch` solves several
    independent problems with one objective call per iteration (used by the server).
    """

    def __init__(
        self,
        samples: int = 300,
        elites: int = 30,
        iterations: int = 30,
        init_std: float | None = None,
        min_std: float = 0.05,
        momentum: float = 0.0,
        keep_elites: bool = True,
    ) -> None:
        check_positive(samples=samples, elites=elites, iterations=iterations)
        check_sampling("cem", samples, elites, momentum, min_std)
        self.samples = samples
        self.elites = elites
        self.iterations = iterations
        self.init_std = 0.5 if init_std is None else init_std
        check_positive(init_std=self.init_std)
        self.min_std = min_std
        self.momentum = momentum
        self.keep_elites = keep_elites

    def plan(
        self,
        objective: ActionCost,
        horizon: int,
        low: torch.Tensor,
        high: torch.Tensor,
        init: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        low, high, mean = prepare(horizon, low, high, init)
        n = self.samples

        def one(cand: torch.Tensor) -> torch.Tensor:
            return check_costs(objective(cand[0]), n)[None]

        return self.plan_batch(one, 1, horizon, low, high, mean[None], [generator])[0]

    def plan_batch(
        self,
        objective: BatchActionCost,
        problems: int,
        horizon: int,
        low: torch.Tensor,
        high: torch.Tensor,
        init: torch.Tensor | None = None,
        generators: Sequence[torch.Generator | None] | None = None,
    ) -> list[PlanResult]:
        """Solve `problems` independent problems; one objective call per iteration for all.

        init: (P, H, A) warm starts or None. generators: one per problem (or None), so each
        problem draws its own noise and its plan does not depend on the rest of the batch.
        """
        low, high, mean = prepare(horizon, low, high, None)
        p = problems
        if isinstance(p, bool) or not isinstance(p, int) or p < 1:
            raise AmiError(f"problems must be a positive int, got {problems!r}")
        if init is None:
            mean = mean.expand(p, *mean.shape).clone()
        else:
            init = torch.as_tensor(init).to(mean)
            if tuple(init.shape) != (p, *mean.shape):
                raise AmiError(f"init has shape {tuple(init.shape)}, expected {(p, *mean.shape)}")
            if not torch.isfinite(init).all():
                raise AmiError("init contains NaN or Inf; pass finite warm-start plans or None")
            mean = torch.clamp(init, low, high)
        gens = list(generators) if generators is not None else [None] * p
        if len(gens) != p:
            raise AmiError(f"got {len(gens)} generators for {p} problems")
        span = high - low
        std = (span * self.init_std).expand_as(mean).clone()
        floor = span * self.min_std
        n, e, m = self.samples, self.elites, self.momentum
        keep = e if self.keep_elites else 0
        pool = mean.new_empty((p, n + keep, *mean.shape[1:]))  # candidates, then kept elites
        pool_costs = mean.new_full((p, n + keep), math.inf)
        cand, cand_costs = pool[:, :n], pool_costs[:, :n]
        rows = torch.arange(p)[:, None]
        best, best_cost = mean.clone(), mean.new_full((p,), math.inf)
        history: list[list[float]] = [[] for _ in range(p)]
        with torch.inference_mode():
            for _ in range(self.iterations):
                for i, g in enumerate(gens):
                    cand[i].normal_(generator=g)
                cand.mul_(std[:, None]).add_(mean[:, None])
                cand[:, 0] = mean
                cand.clamp_(low, high)
                costs = objective(cand)
                if not isinstance(costs, torch.Tensor) or tuple(costs.shape) != (p, n):
                    got = tuple(costs.shape) if isinstance(costs, torch.Tensor) else type(costs)
                    raise AmiError(f"batch objective returned {got}; it must return ({p}, {n})")
                cand_costs.copy_(costs)
                pool_costs.nan_to_num_(nan=math.inf)
                top_costs, idx = pool_costs.topk(e, dim=1, largest=False)
                elites = pool[rows, idx]
                better = top_costs[:, 0] < best_cost
                best[better] = elites[better, 0]
                best_cost = torch.where(better, top_costs[:, 0], best_cost)
                for h, c in zip(history, best_cost.tolist(), strict=True):
                    h.append(c)
                if keep:
                    pool[:, n:] = elites
                    pool_costs[:, n:] = top_costs
                if m:
                    mean.mul_(m).add_(elites.mean(1), alpha=1 - m)
                    std.mul_(m).add_(elites.std(1, correction=0), alpha=1 - m)
                else:
                    torch.mean(elites, 1, out=mean)
                    torch.std(elites, 1, correction=0, out=std)
                torch.maximum(std, floor, out=std)
        costs = best_cost.tolist()
        return [PlanResult(best[i], costs[i], history[i]) for i in range(p)]
