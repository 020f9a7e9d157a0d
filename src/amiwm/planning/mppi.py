"""MPPI: move the mean to the softmax(-cost / temperature)-weighted average of the samples."""

from __future__ import annotations

import math

import torch

from amiwm.planning.base import (
    ActionCost,
    PlanResult,
    check_costs,
    check_positive,
    check_sampling,
    prepare,
)


class MPPIPlanner:
    """Model-predictive path integral planner with an adapted diagonal noise.

    The mean moves to the softmax(-c / temperature)-weighted average of the `elites` cheapest
    samples (as in TD-MPC; elites=None weighs all samples, classic MPPI, which converges much
    more slowly for the same budget). Costs are normalised per iteration as
    c = (cost - min) / std(cost), so `temperature` is relative and scale free. `noise_std` and
    `min_std` are relative to the action range (defaults 0.5 and 0.02). With `adapt_std` the noise
    becomes the weighted std of the samples around the new mean (never below `min_std`);
    otherwise it stays fixed. Each iteration evaluates the current mean as one candidate; the
    best evaluated sequence is returned. The candidate tensor passed to the objective is a buffer
    reused across iterations: clone it to keep it.
    """

    def __init__(
        self,
        samples: int = 300,
        iterations: int = 10,
        temperature: float = 1.0,
        noise_std: float | None = None,
        min_std: float = 0.02,
        adapt_std: bool = True,
        momentum: float = 0.0,
        elites: int | None = 30,
    ) -> None:
        check_positive(samples=samples, iterations=iterations, temperature=temperature)
        check_sampling("mppi", samples, elites, momentum, min_std)
        self.samples = samples
        self.iterations = iterations
        self.temperature = temperature
        self.noise_std = 0.5 if noise_std is None else noise_std
        check_positive(noise_std=self.noise_std)
        self.min_std = min_std
        self.adapt_std = adapt_std
        self.momentum = momentum
        self.elites = elites

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
        span = high - low
        std = (span * self.noise_std).expand_as(mean).clone()
        floor = span * self.min_std
        n, m = self.samples, self.momentum
        cand = mean.new_empty((n, *mean.shape))
        costs = mean.new_empty(n)
        best, best_cost, history = mean.clone(), math.inf, []
        with torch.inference_mode():
            for _ in range(self.iterations):
                cand.normal_(generator=generator).mul_(std).add_(mean)
                cand[0] = mean
                cand.clamp_(low, high)
                costs.copy_(check_costs(objective(cand), n))
                costs.nan_to_num_(nan=math.inf, posinf=math.inf)
                c_min, i_min = costs.min(0)
                if (c := float(c_min)) < best_cost:
                    best_cost = c
                    best.copy_(cand[i_min])
                history.append(best_cost)
                if not math.isfinite(c):
                    continue  # every candidate failed: resample around the same mean
                if self.elites:
                    top, idx = costs.topk(self.elites, largest=False)
                    pts = cand[idx]
                else:
                    top, pts = costs, cand
                finite = top.isfinite()
                top = top.sub(c_min).masked_fill_(~finite, math.inf)
                scale = top[finite].std(correction=0).clamp_min(1e-12) * self.temperature
                weights = torch.softmax(top.div_(scale).neg_(), 0)
                new_mean = torch.tensordot(weights, pts, 1)
                if self.adapt_std:
                    var = torch.tensordot(weights, (pts - new_mean).square_(), 1)
                    std.mul_(m).add_(var.sqrt_(), alpha=1 - m)
                    torch.maximum(std, floor, out=std)
                mean.mul_(m).add_(new_mean, alpha=1 - m)
        return PlanResult(best, best_cost, history)
