"""amiwm: JEPA world models that predict representations, never pixels.

Public API (imported lazily, so `import amiwm` stays fast):
    WorldModel   encoder + action-conditioned predictor; encode, predict, rollout, save/load
    RunConfig, ModelConfig, TrainConfig   typed configs
    train        train a world model from an episode store
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "WorldModel": "amiwm.models.world_model",
    "RunConfig": "amiwm.config",
    "ModelConfig": "amiwm.config",
    "TrainConfig": "amiwm.config",
    "AmiError": "amiwm.errors",
    "train": "amiwm.training.trainer",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'amiwm' has no attribute {name!r}")
