"""Collect episodes from a Gymnasium environment into an episode store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

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


def _is_image_space(space: gym.Space) -> bool:
    shape = space.shape or ()
    return (
        isinstance(space, gym.spaces.Box)
        and space.dtype == np.uint8
        and len(shape) == 3
        and shape[2] == 3
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
    """Turns (obs, info) from one env into stored frames and states."""

    def __init__(self, env: gym.Env, frame_size: int, frames_from_obs: bool, obs: Any, info: dict):
        self.env, self.size, self.frames_from_obs = env, frame_size, frames_from_obs
        if frames_from_obs:
            self.state_source = "info.pos" if "pos" in info else None
        else:
            self.state_source = "observation"
        state = self.state(obs, info)
        self.state_dim = None if state is None else int(state.size)

    def frame(self, obs: Any) -> np.ndarray:
        if self.frames_from_obs:
            return to_frame(obs, self.size)
        image = self.env.render()
        if image is None:
            raise AmiError("env.render() returned None in rgb_array mode; cannot record frames")
        return to_frame(image, self.size)

    def state(self, obs: Any, info: dict) -> np.ndarray | None:
        if self.state_source is None:
            return None
        value = info["pos"] if self.state_source == "info.pos" else obs
        return np.asarray(value, dtype=np.float32).reshape(-1)


def _make(env: str) -> tuple[gym.Env, bool]:
    """The env and whether its observations are already RGB frames (else render them)."""
    from amiwm.envs import make_env

    made = make_env(env)
    try:
        space = made.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise AmiError(
                f"environment {env!r} has action space {space}; collection needs a 1-D Box"
            )
        if _is_image_space(made.observation_space):
            return made, True
        if "rgb_array" not in made.metadata.get("render_modes", []):
            raise AmiError(
                f"environment {env!r} has vector observations and cannot render rgb_array "
                "frames; use an env with image observations or rgb_array rendering"
            )
    except BaseException:
        made.close()
        raise
    made.close()
    return make_env(env, render_mode="rgb_array"), False


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
    policy: str = "drift",
    seed: int = 0,
    frame_size: int = 64,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Run ``policy`` in ``env`` and write ``episodes`` episodes of <= ``steps`` actions to ``out``.

    Observations are (frame_size, frame_size, 3) uint8 frames: the env's own image observations
    when it has them (``info['pos']`` becomes ``/states`` when present), else ``env.render()``
    frames, with the vector observation stored as ``/states``. Episode ``k`` is reset with seed
    ``seed + k``; each has L = executed steps + 1 observations and L actions (last row zero).
    The file is written atomically; an existing ``out`` is refused unless ``overwrite``.
    """
    from amiwm.envs.policies import make_policy

    out = Path(out)
    if episodes < 1:
        raise AmiError(f"episodes must be >= 1, got {episodes}")
    if steps < 1:
        raise AmiError(f"steps must be >= 1, got {steps}")
    if frame_size < 8:
        raise AmiError(f"frame_size must be >= 8 pixels, got {frame_size}")
    if out.exists() and not overwrite:
        raise AmiError(f"{out} already exists; pass --overwrite or choose another path")
    gym_env, frames_from_obs = _make(env)
    try:
        act = make_policy(policy, gym_env, seed)
        rec = _Recorder(gym_env, frame_size, frames_from_obs, *gym_env.reset(seed=seed))
        env_id = gym_env.spec.id if gym_env.spec is not None else env
        attrs = {
            "env_id": env_id,
            "observation_space": space_to_json(
                gym.spaces.Box(0, 255, (frame_size, frame_size, 3), np.uint8)
            ),
            "action_space": space_to_json(gym_env.action_space),
            "frame_size": frame_size,
            "policy": policy,
            "seed": seed,
            "metadata_json": {
                "episodes": episodes,
                "max_steps": steps,
                "env_observation_space": space_to_json(gym_env.observation_space),
                "frames_from": "observation" if frames_from_obs else "render",
                "state_source": rec.state_source,
                "reset_seeds": f"seed + episode index ({seed}..{seed + episodes - 1})",
            },
        }
        writer = EpisodeWriter(
            out,
            obs_shape=(frame_size, frame_size, 3),
            obs_dtype=np.uint8,
            action_dim=int(gym_env.action_space.shape[0]),
            state_dim=rec.state_dim,
            attrs=attrs,
            overwrite=overwrite,
        )
        with writer, _progress(progress) as bar:
            task = bar.add_task(f"{env_id} -> {out.name}", total=episodes)
            for k in range(episodes):
                writer.add_episode(**_episode(gym_env, act, rec, seed + k, steps))
                bar.advance(task)
    finally:
        gym_env.close()
    return out


def _episode(env: gym.Env, policy: Any, rec: _Recorder, seed: int, steps: int) -> dict:
    """Run one episode of at most ``steps`` actions; arrays ready for ``add_episode``."""
    shape = env.action_space.shape
    obs, info = env.reset(seed=seed)
    policy.reset(obs, info)
    frames, states, actions = [rec.frame(obs)], [rec.state(obs, info)], []
    for _ in range(steps):
        action = np.asarray(policy(obs, info), dtype=np.float32).reshape(shape)
        obs, _, terminated, truncated, info = env.step(action)
        actions.append(action)
        frames.append(rec.frame(obs))
        states.append(rec.state(obs, info))
        if terminated or truncated:
            break
    actions.append(np.zeros(shape, np.float32))  # padding: no action after the last frame
    return {
        "observations": np.stack(frames),
        "actions": np.stack(actions),
        "states": None if rec.state_dim is None else np.stack(states),
    }
