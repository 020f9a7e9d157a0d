"""Cross-entropy method: refit a diagonal Gaussian over action sequences to the elites."""

from __future__ import annotations

import math

import torch

from amiwm.planning.base import (
    Objective,
    PlanResult,
    check_costs,
    check_positive,
    check_sampling,
    prepare,
)


class CEMPlanner:
    """Gaussian per (step, action dim), refit to the `elites` cheapest of `samples` candidates.

    Standard deviations are relative to the action range (high - low): `init_std` (default 0.5)
    at the start and never below `min_std`. `momentum` blends the old mean/std into the refit.
    Each iteration evaluates the current mean as one of the candidates (so a warm start is never
    lost); with `keep_elites` the previous elites compete again without being re-evaluated
    (the objective is assumed deterministic). The candidate tensor passed to the objective is
    a buffer reused across iterations: clone it to keep it.
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
        objective: Objective,
        horizon: int,
        low: torch.Tensor,
        high: torch.Tensor,
        init: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        low, high, mean = prepare(horizon, low, high, init)
        span = high - low
        std = (span * self.init_std).expand_as(mean).clone()
        floor = span * self.min_std
        n, e, m = self.samples, self.elites, self.momentum
        keep = e if self.keep_elites else 0
        pool = mean.new_empty((n + keep, *mean.shape))  # candidates, then the kept elites
        pool_costs = mean.new_full((n + keep,), math.inf)
        cand, cand_costs = pool[:n], pool_costs[:n]
        best, best_cost, history = mean.clone(), math.inf, []
        with torch.no_grad():
            for _ in range(self.iterations):
                cand.normal_(generator=generator).mul_(std).add_(mean)
                cand[0] = mean
                cand.clamp_(low, high)
                cand_costs.copy_(check_costs(objective(cand), n))
                pool_costs.nan_to_num_(nan=math.inf)
                top_costs, idx = pool_costs.topk(e, largest=False)
                elites = pool[idx]
                if (c := float(top_costs[0])) < best_cost:
                    best_cost = c
                    best.copy_(elites[0])
                history.append(best_cost)
                if keep:
                    pool[n:] = elites
                    pool_costs[n:] = top_costs
                if m:
                    mean.mul_(m).add_(elites.mean(0), alpha=1 - m)
                    std.mul_(m).add_(elites.std(0, correction=0), alpha=1 - m)
                else:
                    torch.mean(elites, 0, out=mean)
                    torch.std(elites, 0, correction=0, out=std)
                torch.maximum(std, floor, out=std)
        return PlanResult(best, best_cost, history)
