"""HTTP serving: `create_app` (FastAPI), micro-batched model worker, limits, `serve` (uvicorn).

Imported lazily so `import amiwm.serving` does not pull in FastAPI or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": "amiwm.serving.app",
    "Engine": "amiwm.serving.engine",
    "Limits": "amiwm.serving.validate",
    "MicroBatcher": "amiwm.serving.batching",
    "serve": "amiwm.serving.server",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'amiwm.serving' has no attribute {name!r}")
