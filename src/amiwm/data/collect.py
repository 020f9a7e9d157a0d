"""Collect episodes from a Gymnasium environment into an episode store."""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from amiwm.data.outside import StateReader, default_state_keys, image_key
from amiwm.data.store import EpisodeWriter
from amiwm.errors import AmiError


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """Shape/dtype/low/high of a space as plain JSON data (constant bounds as scalars)."""
    out: dict[str, Any] = {"type": type(space).__name__, "shape": list(space.shape or ())}
    if space.dtype is not None:
        out["dtype"] = str(space.dtype)
    if isinstance(space, gym.spaces.Box):
        for key in ("low", "high"):
            v = np.asarray(getattr(space, key))
            vals = [float(str(x)) for x in v.flat]  # str() keeps float32 bounds short (2.45)
            const = bool(vals) and bool((v == v.flat[0]).all())
            out[key] = vals[0] if const else np.reshape(vals, v.shape).tolist()
    elif isinstance(space, gym.spaces.Discrete):
        out["n"] = int(space.n)
    return out


MODALITIES = ("auto", "frames", "sensors")


def _is_image_space(space: gym.Space) -> bool:
    shape = space.shape or ()
    return (
        isinstance(space, gym.spaces.Box)
        and space.dtype == np.uint8
        and len(shape) == 3
        and shape[2] == 3
    )


def _is_vector_space(space: gym.Space) -> bool:
    return (
        isinstance(space, gym.spaces.Box)
        and len(space.shape or ()) == 1
        and np.issubdtype(space.dtype, np.floating)
    )


def to_frame(image: Any, size: int) -> np.ndarray:
    """An RGB uint8 (size, size, 3) frame from an (H, W), (H, W, 3) or (H, W, 4) image."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise AmiError(f"env frame has shape {img.shape}; expected (H, W, 3) RGB")
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    img = img[:, :, :3]
    if img.shape[:2] != (size, size):
        pil = Image.fromarray(np.ascontiguousarray(img)).resize(
            (size, size), Image.Resampling.LANCZOS
        )
        img = np.asarray(pil)
    return np.ascontiguousarray(img)


class _Recorder:
    """Turns (obs, info) from one env into stored observations and states.

    ``source``: "observation" (image observations, or the ``frames_key`` entry of a dict
    observation), "render" (``env.render()`` frames) or "sensors" (the float vector observation
    itself). ``state_keys`` name observation keys or info entries to record as the state.
    """

    def __init__(
        self,
        env: gym.Env,
        frame_size: int,
        source: str,
        obs: Any,
        info: dict,
        frames_key: str | None = None,
        state_keys: Sequence[str] | None = None,
    ):
        self.env, self.size, self.source, self.frames_key = env, frame_size, source, frames_key
        name = env.spec.id if env.spec is not None else str(env)
        self.reader: StateReader | None = None
        if state_keys is None and source == "sensors":
            state_keys = ["info.state"] if "state" in info else []
        elif state_keys is None and (source == "observation" or isinstance(obs, dict)):
            state_keys = default_state_keys(obs, info, frames_key)
        if state_keys is None:  # a rendered env: its vector observation is the state
            self.state_source: str | None = "observation"
        elif state_keys:
            self.reader = StateReader(name, state_keys, obs, info)
            self.state_source = ",".join(self.reader.sources)
        else:
            self.state_source = None
        state = self.state(obs, info)
        self.state_dim = None if state is None else int(state.size)
        self.obs_dim = int(np.asarray(obs).size) if source == "sensors" else 0

    def frame(self, obs: Any) -> np.ndarray:
        if self.source == "sensors":
            return np.asarray(obs, dtype=np.float32).reshape(-1)
        if self.source == "observation":
            return to_frame(obs[self.frames_key] if self.frames_key else obs, self.size)
        image = self.env.render()
        if image is None:
            raise AmiError("env.render() returned None in rgb_array mode; cannot record frames")
        return to_frame(image, self.size)

    def state(self, obs: Any, info: dict) -> np.ndarray | None:
        if self.reader is not None:
            return self.reader.read(obs, info)
        if self.state_source is None:
            return None
        return np.asarray(obs, dtype=np.float32).reshape(-1)


def _init_params(env: gym.Env) -> set[str]:
    try:
        return set(inspect.signature(type(env.unwrapped).__init__).parameters)
    except (TypeError, ValueError):
        return set()


def _make(
    env: str, modality: str, env_kwargs: dict[str, Any], steps: int, obs_key: str | None = None
) -> tuple[gym.Env, str, str | None]:
    """The env, where observations come from ("observation": RGB frames, "render" or
    "sensors") and the dict-observation key holding the frames. ``modality`` "auto": image
    observations (or a dict's image entry, preferred over render(), which may draw overlays)
    are frames; a float vector is rendered to frames when the env can render rgb_array, else
    recorded as sensors. An env whose constructor takes ``max_steps`` gets ``max_steps=steps``
    unless ``env_kwargs`` sets it."""
    from amiwm.envs import make_env

    if modality not in MODALITIES:
        raise AmiError(f"unknown modality {modality!r}; use one of {', '.join(MODALITIES)}")
    made = make_env(env, **env_kwargs)
    if "max_steps" not in env_kwargs and "max_steps" in _init_params(made):
        made.close()  # episodes last --steps (e.g. the plant's random faults start inside them)
        env_kwargs = {**env_kwargs, "max_steps": steps}
        made = make_env(env, **env_kwargs)
    try:
        space = made.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise AmiError(
                f"environment {env!r} has action space {space}; collection needs a 1-D Box"
            )
        obs_space = made.observation_space
        can_render = "rgb_array" in made.metadata.get("render_modes", [])
        key = image_key(env, obs_space, obs_key)
        if key is not None and modality != "sensors":
            return made, "observation", key
        if _is_image_space(obs_space) and modality != "sensors":
            return made, "observation", None
        if _is_vector_space(obs_space) and (
            modality == "sensors" or (modality == "auto" and not can_render)
        ):
            return made, "sensors", None
        if modality == "sensors":
            raise AmiError(
                f"environment {env!r} has observations {obs_space}; sensors need a 1-D float Box"
            )
        if not can_render:
            raise AmiError(
                f"environment {env!r} has observations {obs_space} without images and cannot "
                "render rgb_array frames; use an env with image observations or rgb_array "
                "rendering (or --obs-key for a dict observation)"
            )
    except BaseException:
        made.close()
        raise
    made.close()
    kwargs = {"render_mode": "rgb_array", **env_kwargs}
    return make_env(env, **kwargs), "render", None


def _names(base: gym.Env, attr: str, prefix: str, n: int) -> list[str]:
    """The env's ``attr`` names when it has ``n`` of them, else ``prefix0..``."""
    names = getattr(base, attr, None)
    if names is not None and len(names) == n:
        return [str(x) for x in names]
    return [f"{prefix}{i}" for i in range(n)]


def _episode_faults(env: gym.Env, seed: int, episodes: int) -> list[Any] | None:
    """Each episode's labelled fault (``info['fault_spec']`` at reset), or None when the env
    reports no faults. Resetting with an episode's seed reproduces its fault."""
    specs = [env.reset(seed=seed + k)[1].get("fault_spec") for k in range(episodes)]
    return specs if any(s is not None for s in specs) else None


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]collect[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def collect(
    env: str,
    episodes: int,
    steps: int,
    out: str | os.PathLike[str],
    policy: str = "auto",
    seed: int = 0,
    frame_size: int = 64,
    overwrite: bool = False,
    progress: bool = True,
    modality: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
    obs_key: str | None = None,
    state_keys: Sequence[str] | None = None,
    action_block: int = 1,
) -> Path:
    """Run ``policy`` in ``env`` and write ``episodes`` episodes of <= ``steps`` actions to ``out``.

    Frames: (frame_size, frame_size, 3) uint8, the env's own image observations when it has
    them (``info['pos']`` becomes ``/states`` when present), else ``env.render()`` frames, with
    the vector observation stored as ``/states``. Sensors (a float vector observation and no
    rgb_array rendering, or ``modality="sensors"``): the observations (D,) float32 as they are,
    ``info['state']`` as ``/states``, attrs ``channels`` and ``action_names`` (the env's names
    when it has them) and ``faults`` (each episode's ``info['fault_spec']`` when the env reports
    faults). Episode ``k`` is reset with seed ``seed + k``; each has L = executed steps + 1
    observations and L actions (last row zero). The file is written atomically; an existing
    ``out`` is refused unless ``overwrite``. ``env_kwargs`` go to the env's constructor (plus
    ``max_steps=steps`` when it takes ``max_steps`` and ``env_kwargs`` does not set it).
    Dict observations: ``obs_key`` names the image entry (default: the only one);
    ``state_keys`` name observation keys or info entries stored as ``/states`` (default:
    ``info['state']``, else ``info['pos']``, else a dict observation's other numeric entries).
    ``policy`` "auto": the drifting walk in rooms envs, smooth correlated noise elsewhere.
    ``action_block`` k > 1: one stored step is k env steps (``steps`` counts stored steps); the
    policy acts at every env step, a frame is kept every k steps with the k actions between
    concatenated (``amiwm.envs.blocks``).
    """
    from amiwm.envs.blocks import block_space, check_block
    from amiwm.envs.policies import make_policy, resolve_policy

    out = Path(out)
    if episodes < 1:
        raise AmiError(f"episodes must be >= 1, got {episodes}")
    if steps < 1:
        raise AmiError(f"steps must be >= 1, got {steps}")
    if frame_size < 16 or frame_size % 16:
        raise AmiError(
            f"frame_size must be a multiple of 16 pixels (16, 32, 48, 64, ...), got {frame_size}; "
            "the frame encoder halves frames 4 times, so training refuses other sizes"
        )
    if out.exists() and not overwrite:
        raise AmiError(f"{out} already exists; pass --overwrite or choose another path")
    k = check_block(action_block)
    gym_env, source, frames_key = _make(env, modality, dict(env_kwargs or {}), steps * k, obs_key)
    try:
        act = make_policy(policy, gym_env, seed)
        policy = resolve_policy(policy, gym_env)
        first = gym_env.reset(seed=seed)
        rec = _Recorder(gym_env, frame_size, source, *first, frames_key, state_keys)
        env_id = gym_env.spec.id if gym_env.spec is not None else env
        sensors = source == "sensors"
        obs_shape = (rec.obs_dim,) if sensors else (frame_size, frame_size, 3)
        obs_space = gym.spaces.Box(0, 255, obs_shape, np.uint8)
        attrs: dict[str, Any] = {
            "env_id": env_id,
            "observation_space": space_to_json(gym_env.observation_space if sensors else obs_space),
            "action_space": space_to_json(block_space(gym_env.action_space, k)),
            "frame_size": None if sensors else frame_size,
            "policy": policy,
            "seed": seed,
            "metadata_json": {
                "episodes": episodes,
                "max_steps": steps,
                "env_observation_space": space_to_json(gym_env.observation_space),
                "frames_from": source if frames_key is None else f"observation.{frames_key}",
                "state_source": rec.state_source,
                "env_kwargs": dict(env_kwargs or {}),
                "obs_key": frames_key,
                "reset_seeds": f"seed + episode index ({seed}..{seed + episodes - 1})",
                "action_block": k,
                "env_action_space": space_to_json(gym_env.action_space),
            },
        }
        if sensors:
            base = gym_env.unwrapped
            n_act = int(gym_env.action_space.shape[0])
            attrs["channels"] = _names(base, "channels", "obs_", rec.obs_dim)
            attrs["action_names"] = _names(base, "action_names", "action_", n_act)
            units = getattr(base, "units", None)
            attrs["units"] = list(units) if units is not None else None
            attrs["faults"] = _episode_faults(gym_env, seed, episodes)
            del attrs["metadata_json"]["frames_from"]
        writer = EpisodeWriter(
            out,
            obs_shape=obs_shape,
            obs_dtype=np.float32 if sensors else np.uint8,
            action_dim=int(gym_env.action_space.shape[0]) * k,
            state_dim=rec.state_dim,
            attrs=attrs,
            overwrite=overwrite,
        )
        with writer, _progress(progress) as bar:
            task = bar.add_task(f"{env_id} -> {out.name}", total=episodes)
            for e in range(episodes):
                writer.add_episode(**_episode(gym_env, act, rec, seed + e, steps, k))
                bar.advance(task)
    finally:
        gym_env.close()
    return out


def _episode(env: gym.Env, policy: Any, rec: _Recorder, seed: int, steps: int, k: int) -> dict:
    """Run one episode of at most ``steps`` blocks of ``k`` env actions (an incomplete last
    block, when the episode ends inside it, is dropped); arrays ready for ``add_episode``."""
    from amiwm.envs.blocks import skip_frame

    shape = env.action_space.shape
    obs, info = env.reset(seed=seed)
    policy.reset(obs, info)
    frames, states, actions = [rec.frame(obs)], [rec.state(obs, info)], []
    done = False
    try:
        for _ in range(steps):
            block = []
            for j in range(k):
                skip_frame(env, j < k - 1)  # frames inside a block are dropped (policies use info)
                action = np.asarray(policy(obs, info), dtype=np.float32).reshape(shape)
                obs, _, terminated, truncated, info = env.step(action)
                block.append(action)
                done = terminated or truncated
                if done:
                    break
            if len(block) < k:
                break
            actions.append(np.concatenate(block))
            frames.append(rec.frame(obs))
            states.append(rec.state(obs, info))
            if done:
                break
    finally:
        skip_frame(env, False)
    actions.append(np.zeros(shape[0] * k, np.float32))  # padding: no action after the last frame
    return {
        "observations": np.stack(frames),
        "actions": np.stack(actions),
        "states": None if rec.state_dim is None else np.stack(states),
    }
