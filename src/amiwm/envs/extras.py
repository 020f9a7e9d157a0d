"""Optional packages behind environments: which extra installs them, one-line errors when missing,
and importing an outside env's package from its Gymnasium namespace."""

from __future__ import annotations

import importlib
import os

from amiwm.errors import AmiError

# top-level module -> the amiwm extra that installs it
EXTRAS: dict[str, str] = {
    "dm_control": "dmc",
    "mujoco": "dmc",
    "dm_env": "dmc",
    "gym_pusht": "pusht",
    "pymunk": "pusht",
    "pygame": "pusht",
    "shapely": "pusht",
    "cv2": "pusht",
}


def missing_package(env: str, exc: ImportError) -> AmiError:
    """A one-line error for an env whose package is not installed, naming the extra."""
    module = (exc.name or str(exc)).split(".")[0]
    extra = EXTRAS.get(module)
    how = f"pip install 'amiwm[{extra}]'" if extra else f"install the package {module!r}"
    return AmiError(f"environment {env!r} needs the missing package {module!r}; {how}")


def require(env: str, *modules: str) -> None:
    """Import ``modules`` or raise the one-line missing-extra error for ``env``."""
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise missing_package(env, e) from None


def import_namespace(env_id: str) -> None:
    """Import the package named by an id's namespace ('gym_pusht/PushT-v0' -> gym_pusht), which
    registers its envs; a namespace that is no importable package is left to the registry."""
    namespace = env_id.split("/", 1)[0]
    if not namespace.isidentifier():
        return
    try:
        importlib.import_module(namespace)
    except ModuleNotFoundError as e:
        if e.name != namespace:  # the package exists but lacks one of its dependencies
            raise missing_package(env_id, e) from None
        hint = EXTRAS.get(namespace)
        how = f"pip install 'amiwm[{hint}]'" if hint else f"install the package {namespace!r}"
        raise AmiError(
            f"unknown environment {env_id!r}: no package {namespace!r} to register it; {how}"
        ) from None


def headless_gl() -> None:
    """Render MuJoCo off-screen without a display: EGL unless the user chose a backend."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    if os.environ["MUJOCO_GL"] == "osmesa":
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    elif os.environ["MUJOCO_GL"] == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
