"""Planner protocol, plan result and helpers shared by the planners (bounds, warm starts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from amiwm.errors import AmiError

if TYPE_CHECKING:  # torch is imported where used: Decision, Agent and the protocol need none
    import torch

ActionCost = Callable[["torch.Tensor"], "torch.Tensor"]
"""Batched cost of action sequences (N, H, A) -> costs (N,); differentiable for `gd`."""


@dataclass
class PlanResult:
    """Outcome of one planning call.

    actions: (H, A) best sequence found, inside the bounds. cost: its objective value.
    costs_per_iteration: best cost so far after each iteration. indices: (H,) indices of the
    named actions for discrete plans, else None.
    """

    actions: torch.Tensor
    cost: float
    costs_per_iteration: list[float] = field(default_factory=list)
    indices: torch.Tensor | None = None


class Planner(Protocol):
    """Anything that minimises a batched objective over action sequences of a given horizon."""

    def plan(
        self,
        objective: ActionCost,
        horizon: int,
        low: torch.Tensor,
        high: torch.Tensor,
        init: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult: ...


def check_sampling(
    planner: str, samples: int, elites: int | None, momentum: float = 0.0, min_std: float = 0.0
) -> None:
    """Shared checks of sampling planners: elites <= samples, momentum in [0, 1), min_std >= 0."""
    if elites is not None:
        check_positive(elites=elites)
        if elites > samples:
            raise AmiError(f"{planner} elites={elites} exceeds samples={samples}; lower elites")
    if not 0.0 <= momentum < 1.0:
        raise AmiError(f"{planner} momentum={momentum} must be in [0, 1)")
    if min_std < 0:
        raise AmiError(f"{planner} min_std={min_std} must be >= 0")


def check_positive(**values: int | float) -> None:
    """Raise AmiError for any planner setting that is not > 0."""
    for name, value in values.items():
        if not value > 0:
            raise AmiError(f"planner setting {name}={value} must be > 0")


def prepare(
    horizon: int, low: torch.Tensor, high: torch.Tensor, init: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate the plan() inputs; return float bounds (A,) and the initial mean (H, A).

    The mean is a fresh tensor: `init` clamped into the bounds, or the middle of the box.
    """
    import torch

    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise AmiError(f"horizon must be a positive int, got {horizon!r}")
    low_t = torch.as_tensor(low)
    dtype = low_t.dtype if low_t.is_floating_point() else torch.float32
    low_t = low_t.to(dtype)
    high_t = torch.as_tensor(high, dtype=dtype, device=low_t.device)
    if low_t.ndim != 1 or high_t.shape != low_t.shape or low_t.numel() == 0:
        raise AmiError(
            f"action bounds low {tuple(low_t.shape)} and high {tuple(high_t.shape)} must both "
            "have shape (A,) with A >= 1"
        )
    if not (torch.isfinite(low_t).all() and torch.isfinite(high_t).all()):
        raise AmiError("action bounds must be finite; pass the real range of each action")
    if (low_t > high_t).any():
        raise AmiError("action bounds have low > high in some dimension; swap or fix them")
    shape = (horizon, low_t.numel())
    if init is None:
        return low_t, high_t, ((low_t + high_t) / 2).expand(shape).clone()
    mean = torch.as_tensor(init).to(device=low_t.device, dtype=dtype)
    if tuple(mean.shape) != shape:
        raise AmiError(f"init has shape {tuple(mean.shape)}, expected (horizon, A) = {shape}")
    if not torch.isfinite(mean).all():
        raise AmiError("init contains NaN or Inf; pass a finite warm-start plan or None")
    return low_t, high_t, torch.clamp(mean, low_t, high_t)


def check_costs(costs: torch.Tensor, n: int) -> torch.Tensor:
    """Return `costs` if it is a (n,) tensor, else raise AmiError."""
    import torch

    if not isinstance(costs, torch.Tensor) or tuple(costs.shape) != (n,):
        got = tuple(costs.shape) if isinstance(costs, torch.Tensor) else type(costs).__name__
        raise AmiError(f"objective returned {got} for {n} candidates; it must return costs ({n},)")
    return costs


def clamp_actions(actions: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Clamp actions (..., A) into [low, high] (out of place)."""
    import torch

    return torch.clamp(actions, low, high)


def shift_plan(plan: torch.Tensor, k: int, fill: Literal["last", "zero"] = "last") -> torch.Tensor:
    """Drop the first k steps of plan (H, A) and pad the end back to H steps.

    fill="last" repeats the plan's final action, fill="zero" pads zeros. Used to warm-start
    receding-horizon MPC after executing k actions.
    """
    import torch

    if plan.ndim != 2:
        raise AmiError(f"plan must have shape (H, A), got {tuple(plan.shape)}")
    if k < 0:
        raise AmiError(f"shift k must be >= 0, got {k}")
    if fill not in ("last", "zero"):
        raise AmiError(f"shift fill must be 'last' or 'zero', got {fill!r}")
    h = plan.shape[0]
    k = min(k, h)
    pad = plan[-1:].expand(k, -1) if fill == "last" else plan.new_zeros(k, plan.shape[1])
    return torch.cat([plan[k:], pad])


@dataclass
class Decision:
    """What an agent did at one step: the action (an array, or a name for named actions), the
    latents it imagined for its current plan (H, D), its current subgoal latent (D,), the time
    it spent planning at this step (None when it executed a queued action) and, for a named
    action, its vector."""

    action: Any
    imagined: torch.Tensor | None = None
    subgoal: torch.Tensor | None = None
    plan_ms: float | None = None
    action_vector: Any = None  # set for a named action

    @property
    def vector(self) -> Any:
        """The action as a vector (what the environment and memory receive)."""
        return self.action if self.action_vector is None else self.action_vector


@runtime_checkable
class Agent(Protocol):
    """A goal-reaching agent: `reset()` at the start of every episode, then `act` per step."""

    def reset(self) -> None: ...

    def act(self, observation: Any, goal: Any) -> Decision: ...
