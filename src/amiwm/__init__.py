"""amiwm: JEPA world models that predict representations, never pixels.

Public API (imported lazily, so `import amiwm` stays fast; the Gymnasium ids such as
``amiwm/TwoRooms-v0`` are registered as soon as gymnasium is imported, before or after amiwm):
    WorldModel   encoder + action-conditioned predictor; encode, predict, rollout, save/load
    RunConfig, ModelConfig, TrainConfig   typed configs
    train        train a world model from an episode store
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
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
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'amiwm' has no attribute {name!r}")


class _RegisterWithGymnasium:
    """Registers amiwm's environments right after gymnasium itself is imported (importing
    gymnasium costs ~0.4 s, which `import amiwm` should not pay up front). A meta path finder
    that hands the import on to the regular one."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "gymnasium":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = spec.loader if spec is not None else None
        if loader is not None:
            run = loader.exec_module

            def exec_module(module: Any) -> None:
                run(module)
                importlib.import_module("amiwm.envs")  # registers the ids

            loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if "gymnasium" in sys.modules:
    importlib.import_module("amiwm.envs")
elif not any(isinstance(f, _RegisterWithGymnasium) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWithGymnasium())
