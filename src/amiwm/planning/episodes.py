"""Run a goal-reaching agent in an environment and measure it (success, steps, planning time)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.envs.policies import RandomPolicy
from amiwm.errors import AmiError
from amiwm.planning.base import Agent, Decision


@dataclass
class EpisodeResult:
    success: bool
    steps: int
    plan_ms: list[float]
    goal: np.ndarray | None = None
    positions: list[np.ndarray] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    overlays: list[dict[str, Any]] = field(default_factory=list)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a success rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def sample_task(
    env: Any, rng: np.random.Generator, distance: float | None = None, tolerance: float = 0.15
) -> dict[str, np.ndarray] | None:
    """Start and goal: opposite rooms (distance None), or about `distance` steps apart by the
    shortest path (steps of the env's maximum step length)."""
    if distance is None:
        return None
    u = env.unwrapped
    if not all(hasattr(u, a) for a in ("sample_free", "geodesic_distance", "max_step_norm")):
        raise AmiError("--distance needs an environment with known geometry, e.g. two-rooms")
    want = distance * u.max_step_norm
    for _ in range(10_000):
        start = u.sample_free(rng)
        goal = u.sample_free(rng)
        if abs(u.geodesic_distance(start, goal) - want) <= tolerance * want:
            return {"start": start, "goal": goal}
    raise AmiError(f"could not place a goal {distance} steps away in this environment")


def check_action_space(config: Any, space: Any, env: str) -> None:
    """One line when an environment's Box actions do not fit a model's (dimension or bounds)."""
    if not hasattr(space, "shape") or not hasattr(space, "low"):
        return
    dim = int(np.prod(space.shape))
    if dim != config.action_dim:
        raise AmiError(
            f"{env} takes {dim}-d actions, the checkpoint {config.action_dim}-d; use the env it "
            "was trained in (--env)"
        )
    low, high = config.action_low, config.action_high
    if (
        low
        and high
        and not (
            np.allclose(space.low.reshape(-1), low, atol=1e-5)
            and np.allclose(space.high.reshape(-1), high, atol=1e-5)
        )
    ):
        raise AmiError(
            f"{env} bounds its actions to [{space.low.min():g}, {space.high.max():g}], the "
            f"checkpoint to [{min(low):g}, {max(high):g}]; use the env it was trained in"
        )


def run_episode(
    env: Any,
    agent: Agent,
    *,
    seed: int,
    options: dict | None = None,
    record: Callable[[Decision], dict[str, Any]] | None = None,
) -> EpisodeResult:
    """One episode of `agent` toward the env's goal observation, until success or the time
    limit; with `record`, keep frames, positions and `record(decision)` overlays per step."""
    u = env.unwrapped
    if not hasattr(u, "goal_observation"):
        raise AmiError(
            f"{env.spec.id if env.spec else env}: no goal_observation(); not a "
            "goal-reaching environment"
        )
    obs, info = env.reset(seed=seed, options=options)
    goal = u.goal_observation()
    agent.reset()
    out = EpisodeResult(False, 0, [], goal=np.asarray(info.get("goal")))
    keep = record is not None
    if keep:
        out.frames.append(obs)
        out.positions.append(np.asarray(info["pos"]))
    while True:
        decision = agent.act(obs, goal)
        if decision.plan_ms is not None:
            out.plan_ms.append(decision.plan_ms)
        obs, _, terminated, truncated, info = env.step(decision.vector)
        out.steps += 1
        if keep:
            out.frames.append(obs)
            out.positions.append(np.asarray(info["pos"]))
            out.overlays.append(record(decision))
        if terminated or truncated:
            out.success = bool(info.get("is_success", terminated))
            break
    return out


def summarize(results: list[EpisodeResult]) -> dict[str, Any]:
    """Success rate with a 95% interval, mean steps to goal, planning ms (median and p95)."""
    n = len(results)
    k = sum(r.success for r in results)
    ms = np.array([m for r in results for m in r.plan_ms]) if results else np.zeros(0)
    steps = [r.steps for r in results if r.success]
    return {
        "episodes": n,
        "successes": k,
        "success_rate": k / n if n else 0.0,
        "success_ci95": list(wilson_interval(k, n)),
        "mean_steps_to_goal": float(np.mean(steps)) if steps else None,
        "plan_ms_median": float(np.median(ms)) if len(ms) else None,
        "plan_ms_p95": float(np.percentile(ms, 95)) if len(ms) else None,
        "replans": int(len(ms)),
    }


def write_gif(result: EpisodeResult, path: Path, scale: int = 4, fps: int = 10) -> Path:
    """An episode as a GIF: true path (green), planned path (yellow), subgoal (magenta), goal."""
    from PIL import Image, ImageDraw

    images = []
    trail: list[tuple[float, float]] = []
    for t, frame in enumerate(result.frames):
        img = Image.fromarray(frame).resize(
            (frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST
        )
        d = ImageDraw.Draw(img)
        trail.append(tuple(float(v) * scale for v in result.positions[t]))
        if len(trail) > 1:
            d.line(trail, fill=(0, 255, 0), width=2)
        gx, gy = (float(v) * scale for v in result.goal)
        d.line([(gx - 6, gy - 6), (gx + 6, gy + 6)], fill=(255, 255, 255), width=2)
        d.line([(gx - 6, gy + 6), (gx + 6, gy - 6)], fill=(255, 255, 255), width=2)
        ov = (
            result.overlays[t]
            if t < len(result.overlays)
            else (result.overlays[-1] if result.overlays else {})
        )
        plan = ov.get("plan")
        if plan is not None and len(plan):
            pts = [trail[-1]] + [(float(x) * scale, float(y) * scale) for x, y in plan]
            d.line(pts, fill=(255, 255, 0), width=2)
        sub = ov.get("subgoal")
        if sub is not None:
            sx, sy = (float(v) * scale for v in sub)
            d.ellipse([sx - 4, sy - 4, sx + 4, sy + 4], outline=(255, 0, 255), width=2)
        images.append(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=1000 // fps, loop=0)
    return path


def evaluate(
    agent: Agent,
    env: Any,
    episodes: int,
    seed: int = 0,
    distance: float | None = None,
    video: Path | None = None,
    probe: Callable[[Any], np.ndarray] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run `episodes` goal-reaching episodes with `agent` and summarise them; optionally write
    the first episode as a GIF (`probe` maps latents to positions to draw plans and subgoals)."""
    from rich.progress import track

    rng = np.random.default_rng(seed)
    results = []

    def overlay(d: Decision) -> dict[str, Any]:
        return {
            "plan": probe(d.imagined) if probe and d.imagined is not None else None,
            "subgoal": probe(d.subgoal[None])[0] if probe and d.subgoal is not None else None,
        }

    for i in track(range(episodes), description="eval", disable=not progress):
        options = sample_task(env, rng, distance)
        first = bool(video) and i == 0
        r = run_episode(
            env, agent, seed=seed + i, options=options, record=overlay if first else None
        )
        if first:
            write_gif(r, video)
            r.frames.clear()
        results.append(r)
    return summarize(results)


class RandomAgent:
    """The random baseline: uniform actions from the action space (envs' RandomPolicy), goal
    ignored, a fresh random stream every episode."""

    def __init__(self, action_space: Any, seed: int = 0) -> None:
        self.space, self.seed, self.episodes = action_space, seed, 0
        self.policy: RandomPolicy | None = None

    def reset(self) -> None:
        self.policy = RandomPolicy(self.space, self.seed + self.episodes)
        self.episodes += 1

    def act(self, observation: Any, goal: Any) -> Decision:
        if self.policy is None:
            self.reset()
        return Decision(self.policy(observation, {}))

    def choose_action(self, observation: Any, goal: Any) -> np.ndarray:
        return self.act(observation, goal).action
