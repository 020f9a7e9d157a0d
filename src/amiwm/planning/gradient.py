"""Gradient planner: Adam on a batch of restarts through the differentiable objective."""

from __future__ import annotations

import math

import torch

from amiwm.errors import AmiError
from amiwm.planning.base import ActionCost, PlanResult, check_costs, check_positive, prepare


class GradientPlanner:
    """Optimise `restarts` action sequences jointly with projected Adam.

    Sequences live in unit-box coordinates u in [0, 1] (action = low + (high - low) * u), so `lr`
    is relative to the action range and bounds hold exactly by clamping u after every step
    (optima on a bound are reached, unlike with tanh squashing). Restart 0 starts at `init` (or
    the middle of the box), the others uniformly at random. With `cosine` the step size decays
    to 0 over the iterations, which settles Adam's oscillation around the optimum. Each
    iteration makes one batched objective call (N = restarts) and, except the last, one
    backward pass; the best evaluated sequence is returned.
    """

    def __init__(
        self,
        iterations: int = 50,
        lr: float = 0.1,
        restarts: int = 8,
        cosine: bool = True,
        betas: tuple[float, float] = (0.9, 0.999),
    ) -> None:
        check_positive(iterations=iterations, lr=lr, restarts=restarts)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise AmiError(f"gd betas={betas} must both be in [0, 1)")
        self.iterations = iterations
        self.lr = lr
        self.restarts = restarts
        self.cosine = cosine
        self.betas = betas

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
        r, steps = self.restarts, self.iterations
        u = mean.new_empty((r, *mean.shape)).uniform_(generator=generator)
        u[0] = torch.where(span > 0, (mean - low) / span.clamp_min(1e-30), 0.5).clamp_(0, 1)
        m1, m2 = torch.zeros_like(u), torch.zeros_like(u)
        b1, b2 = self.betas
        best, best_cost, history = mean.clone(), math.inf, []
        for it in range(steps):
            u.requires_grad_(True)
            with torch.enable_grad():
                actions = torch.clamp(low + span * u, low, high)  # clamp: rounding only
                costs = check_costs(objective(actions), r)
                if it < steps - 1 and not costs.requires_grad:
                    raise AmiError(
                        "objective is not differentiable w.r.t. the actions; use 'cem' or 'mppi'"
                    )
                grad = None
                if it < steps - 1:
                    (grad,) = torch.autograd.grad(costs.sum(), u)
            u = u.detach()
            with torch.no_grad():
                safe = costs.detach().nan_to_num(nan=math.inf)
                c_min, i_min = safe.min(0)
                if (c := float(c_min)) < best_cost:
                    best_cost = c
                    best.copy_(actions[i_min])
                history.append(best_cost)
                if grad is None:
                    break
                grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
                m1.mul_(b1).add_(grad, alpha=1 - b1)
                m2.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                lr = self.lr
                if self.cosine:
                    lr *= 0.5 * (1 + math.cos(math.pi * it / (steps - 1)))
                step = lr * math.sqrt(1 - b2 ** (it + 1)) / (1 - b1 ** (it + 1))
                u.addcdiv_(m1, m2.sqrt().add_(1e-8), value=-step).clamp_(0.0, 1.0)
        return PlanResult(best, best_cost, history)
