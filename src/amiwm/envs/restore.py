"""What the outside-simulator wrappers (reacher, pusht) share: restoring a recorded start state
and goal from ``reset`` options, and checking an action."""

from __future__ import annotations

from typing import Any

import numpy as np

from amiwm.errors import AmiError


def apply_reset_options(
    env: Any, options: dict[str, Any] | None, name: str, size: int
) -> np.ndarray | None:
    """Set ``options['state']`` on `env` (its ``set_state``) and return ``options['goal_state']``
    as (size,) float64, or None; one-line AmiError for a state or goal that does not fit."""
    options = options or {}
    try:
        if options.get("state") is not None:
            env.set_state(options["state"])
        goal = options.get("goal_state")
        goal = None if goal is None else np.asarray(goal, np.float64).reshape(-1)
    except ValueError as e:
        raise AmiError(f"{name} reset: {e}") from None
    if goal is not None and goal.shape != (size,):
        raise AmiError(f"{name} goal_state must have {size} numbers, got {goal.shape}")
    return goal


def checked_action(action: Any, dim: int = 2) -> np.ndarray:
    """The action as (dim,) float64; ValueError (as Gymnasium envs raise) when it is not."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape != (dim,) or not np.isfinite(a).all():
        raise ValueError(f"action must be {dim} finite numbers, got {np.asarray(action).tolist()}")
    return a
