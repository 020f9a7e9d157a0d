"""Planners that minimise a batched objective over action sequences, and latent costs.

ActionCost: actions (N, H, A) -> costs (N,). Continuous planners: make_planner("cem" | "mppi" |
"gd") or the classes directly; DiscretePlanner takes a table of named action values.
Submodules are imported lazily so `import amiwm.planning` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from amiwm.errors import AmiError

if TYPE_CHECKING:
    from amiwm.planning.base import Planner

PLANNER_NAMES = ("cem", "mppi", "gd")
_ALIASES = {"gradient": "gd"}
_CLASSES = {"cem": "CEMPlanner", "mppi": "MPPIPlanner", "gd": "GradientPlanner"}
_APPLICABLE = {
    "cem": ("samples", "elites", "iterations"),
    "mppi": ("samples", "elites", "iterations"),
    "gd": ("iterations",),
}

_EXPORTS = {
    "ActionCost": "amiwm.planning.base",
    "Planner": "amiwm.planning.base",
    "PlanResult": "amiwm.planning.base",
    "shift_plan": "amiwm.planning.base",
    "clamp_actions": "amiwm.planning.base",
    "CEMPlanner": "amiwm.planning.cem",
    "MPPIPlanner": "amiwm.planning.mppi",
    "GradientPlanner": "amiwm.planning.gradient",
    "DiscretePlanner": "amiwm.planning.discrete",
    "final_distance": "amiwm.planning.costs",
    "summed_distance": "amiwm.planning.costs",
    "action_penalty": "amiwm.planning.costs",
    "StateCost": "amiwm.planning.state_cost",
}

__all__ = [*_EXPORTS, "PLANNER_NAMES", "make_planner"]


def make_planner(name: str, **budget: int | None) -> Planner:
    """Build a continuous planner by name with budget kwargs samples, elites, iterations.

    Budget entries that do not apply to the planner (e.g. samples for gd) or are None are
    ignored; any other keyword raises AmiError.
    """
    key = _ALIASES.get(name, name)
    if key not in _CLASSES:
        valid = ", ".join([*PLANNER_NAMES, *_ALIASES])
        raise AmiError(f"unknown planner {name!r}; valid planners: {valid}")
    unknown = sorted(set(budget) - {"samples", "elites", "iterations"})
    if unknown:
        raise AmiError(f"unknown planner budget {unknown}; use samples, elites or iterations")
    kwargs = {k: v for k, v in budget.items() if v is not None and k in _APPLICABLE[key]}
    return getattr(importlib.import_module(_EXPORTS[_CLASSES[key]]), _CLASSES[key])(**kwargs)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'amiwm.planning' has no attribute {name!r}")
