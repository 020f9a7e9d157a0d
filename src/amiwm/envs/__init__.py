"""Environments: registers ``amiwm/TwoRooms-v0`` and ``amiwm/Plant-v0`` (plus
``amiwm/PlantFaults-v0``: one random labelled fault per episode), ``amiwm/Reacher-v0`` (extra
``dmc``) and ``amiwm/PushT-v0`` (extra ``pusht``), and resolves short aliases."""

from __future__ import annotations

from typing import Any

import gymnasium

from amiwm.envs.extras import import_namespace, missing_package
from amiwm.errors import AmiError

TWO_ROOMS_ID = "amiwm/TwoRooms-v0"
PLANT_ID = "amiwm/Plant-v0"
PLANT_FAULTS_ID = "amiwm/PlantFaults-v0"
MAZE_ID = "amiwm/Maze-v0"
REACHER_ID = "amiwm/Reacher-v0"
PUSHT_ID = "amiwm/PushT-v0"
ENV_ALIASES: dict[str, str] = {
    "two-rooms": TWO_ROOMS_ID,
    "plant": PLANT_ID,
    "plant-faults": PLANT_FAULTS_ID,
    "maze": MAZE_ID,
    "reacher": REACHER_ID,
    "pusht": PUSHT_ID,
}

if TWO_ROOMS_ID not in gymnasium.registry:
    gymnasium.register(id=TWO_ROOMS_ID, entry_point="amiwm.envs.two_rooms:TwoRoomsEnv")
if MAZE_ID not in gymnasium.registry:
    gymnasium.register(id=MAZE_ID, entry_point="amiwm.envs.maze:MazeEnv")
if REACHER_ID not in gymnasium.registry:
    gymnasium.register(id=REACHER_ID, entry_point="amiwm.envs.reacher:ReacherEnv")
if PUSHT_ID not in gymnasium.registry:
    gymnasium.register(id=PUSHT_ID, entry_point="amiwm.envs.pusht:PushTEnv")
if PLANT_ID not in gymnasium.registry:
    gymnasium.register(id=PLANT_ID, entry_point="amiwm.envs.plant:PlantEnv")
if PLANT_FAULTS_ID not in gymnasium.registry:
    gymnasium.register(
        id=PLANT_FAULTS_ID, entry_point="amiwm.envs.plant:PlantEnv", kwargs={"fault": "random"}
    )


def resolve_env_id(name: str) -> str:
    """Map an alias (e.g. 'two-rooms') or a registered gymnasium id to a gymnasium id; an id's
    namespace is imported as a package when needed ('gym_pusht/PushT-v0' imports gym_pusht)."""
    if name in ENV_ALIASES:
        return ENV_ALIASES[name]
    if name not in gymnasium.registry and "/" in name and ":" not in name:
        import_namespace(name)
    if name in gymnasium.registry or ":" in name:  # "module:Id" lets gymnasium import a module
        return name
    aliases = ", ".join(sorted(ENV_ALIASES))
    raise AmiError(f"unknown environment {name!r}; use one of [{aliases}] or a gymnasium id")


def make_env(name: str, **kwargs: Any) -> gymnasium.Env:
    """Create an environment from an alias or gymnasium id (kwargs go to the constructor)."""
    env_id = resolve_env_id(name)
    try:
        return gymnasium.make(env_id, **kwargs)
    except ImportError as e:
        raise missing_package(name, e) from e
    except gymnasium.error.Error as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AmiError(f"cannot make environment {name!r}: {msg}") from e
    except (TypeError, ValueError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AmiError(
            f"bad arguments for environment {name!r}: {msg}; check the env kwargs"
        ) from e


__all__ = [
    "ENV_ALIASES",
    "MAZE_ID",
    "PLANT_FAULTS_ID",
    "PLANT_ID",
    "PUSHT_ID",
    "REACHER_ID",
    "TWO_ROOMS_ID",
    "make_env",
    "resolve_env_id",
]
