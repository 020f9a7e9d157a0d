"""The goal-offset evaluation protocol (as LeWorldModel / stable-worldmodel evaluate Push-T and
Reacher): start and goal taken from held-out episodes of the collection policy.

A pair is (episode e, step t): the env is put in the state recorded at t, the goal is the frame
recorded at t + ``offset`` (and its state, for the success test). The agent gets ``budget`` env
steps; it succeeds when the success test passes at any step (the start included: the
``already_successful`` floor says how often that is free). Floors on the same pairs: a uniform
random policy and doing nothing (the zero action). Pairs are drawn from ``seed``.

How a start state is reached and success is tested, per env:
- ``state``: envs with ``set_state``/``is_success`` (amiwm/Reacher-v0, amiwm/PushT-v0) take
  ``reset(options={'state', 'goal_state'})`` and report ``info['is_success']``;
- ``rooms``: two-rooms and maze take ``reset(options={'start', 'goal'})`` (positions);
- ``replay``: any other (deterministic) env is reset with the episode's recorded seed and the
  recorded actions are replayed up to t (checked against the recorded state); success is
  every recorded state entry within ``tolerance`` of the goal's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.errors import AmiError
from amiwm.planning.base import Agent, Decision
from amiwm.planning.episodes import RandomAgent, wilson_interval

DEFAULT_OFFSET, DEFAULT_BUDGET = 25, 50  # LeWorldModel's Push-T / Reacher evaluation


@dataclass
class GoalPair:
    episode: int
    step: int
    start_state: np.ndarray
    goal_state: np.ndarray
    goal_frame: np.ndarray
    actions: np.ndarray  # recorded actions before ``step`` (for replay)


def goal_pairs(
    store_path: str | Path, episodes: list[int], offset: int, count: int, seed: int
) -> list[GoalPair]:
    """``count`` (start, goal) pairs from ``episodes`` of a store, ``offset`` steps apart; drawn
    uniformly over every valid (episode, step) without replacement while there are enough."""
    from amiwm.data.store import EpisodeStore

    if offset < 1:
        raise AmiError(f"--goal-offset must be >= 1, got {offset}")
    if count < 1:
        raise AmiError(f"the protocol needs >= 1 pair, got {count}")
    if not episodes:
        raise AmiError(
            f"no held-out episodes in {store_path} (the model was trained on all of them); "
            "pass --data with episodes training never saw"
        )
    with EpisodeStore(store_path) as store:
        if not store.has_states:
            raise AmiError(
                f"{store_path} has no states; the protocol needs the env's state to start and "
                "test success (collect with an env that reports info['state'] or --state-keys)"
            )
        if store.modality != "frames":
            raise AmiError(f"{store_path} holds sensor rows; the protocol needs video frames")
        lengths = store.episode_lengths
        valid = [(e, t) for e in episodes for t in range(int(lengths[e]) - offset)]
        if not valid:
            longest = max((int(lengths[e]) - 1 for e in episodes), default=0)
            raise AmiError(
                f"--goal-offset {offset} is longer than every held-out episode of {store_path} "
                f"(longest {longest} steps); lower --goal-offset or collect longer episodes"
            )
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(valid), count, replace=count > len(valid))
        pairs = []
        for i in idx:
            e, t = valid[int(i)]
            ep = store.episode(e)
            pairs.append(
                GoalPair(
                    e,
                    t,
                    ep["states"][t].astype(np.float64),
                    ep["states"][t + offset].astype(np.float64),
                    ep["observations"][t + offset],
                    ep["actions"][:t],
                )
            )
    return pairs


class GoalTask:
    """Builds the env as the store was collected, puts it at a pair's start, tests success."""

    def __init__(
        self,
        store_path: str | Path,
        env: str | None,
        budget: int,
        tolerance: float | None,
        execute: int | None = None,
    ):
        from amiwm.data.collect import _make
        from amiwm.data.store import EpisodeStore

        with EpisodeStore(store_path) as store:
            attrs = store.attrs
        meta = attrs.get("metadata_json") or {}
        from amiwm.envs import resolve_env_id

        recorded = attrs.get("env_id")
        self.env_name = env or recorded
        if not self.env_name:
            raise AmiError(f"{store_path} does not say its environment; pass --env")
        if recorded and env and resolve_env_id(env) != recorded:
            raise AmiError(
                f"{store_path} was collected in {recorded}, not {env}; pass --env {recorded}"
            )
        self.frame_size = int(attrs.get("frame_size") or 64)
        self.reset_seed = int(attrs.get("seed", 0))
        kwargs = dict(meta.get("env_kwargs") or {})
        self.block = int(meta.get("action_block") or 1)
        self.env, self.source, self.frames_key = _make(
            self.env_name, "frames", kwargs, budget + self.block, meta.get("obs_key")
        )
        if self.block > 1:
            from amiwm.envs.blocks import ActionBlocks

            try:
                self.env = ActionBlocks(self.env, self.block, execute)
            except AmiError:
                self.env.close()
                raise
        elif execute not in (None, 1):
            self.env.close()
            raise AmiError(f"{store_path} holds no action blocks; --block-steps does not apply")
        self.execute = getattr(self.env, "execute", 1)  # env steps run per agent decision
        u = self.env.unwrapped
        if all(hasattr(u, a) for a in ("set_state", "is_success")):
            self.mode = "state"
        elif all(hasattr(u, a) for a in ("goal_observation", "sample_free")):
            self.mode = "rooms"
        elif tolerance is not None:
            self.mode = "replay"
        else:
            self.env.close()
            raise AmiError(
                f"environment {self.env_name!r} cannot be put in a recorded state nor test "
                "success itself; pass --tolerance (start states are then reached by replaying "
                "the recorded actions, success is every state entry within the tolerance)"
            )
        self.tolerance = tolerance
        self.state_source = meta.get("state_source")
        self._rec = None

    def _recorder(self, obs: Any, info: dict):
        from amiwm.data.collect import _Recorder

        if self._rec is None:
            keys = None
            if self.state_source and self.state_source != "observation":
                keys = self.state_source.split(",")
            self._rec = _Recorder(
                self.env, self.frame_size, self.source, obs, info, self.frames_key, keys
            )
        return self._rec

    def frame(self, obs: Any, info: dict) -> np.ndarray:
        """The agent's view: the frame as the store records it."""
        return self._recorder(obs, info).frame(obs)

    def state(self, obs: Any, info: dict) -> np.ndarray:
        """The env's state as the store records it (what a ``--proprio`` model also takes)."""
        return self._recorder(obs, info).state(obs, info)

    def reset(self, pair: GoalPair, seed: int) -> tuple[Any, dict]:
        if self.mode == "state":
            options = {"state": pair.start_state, "goal_state": pair.goal_state}
            return self.env.reset(seed=seed, options=options)
        if self.mode == "rooms":
            options = {"start": pair.start_state[:2], "goal": pair.goal_state[:2]}
            try:
                return self.env.reset(seed=seed, options=options)
            except ValueError as e:
                raise AmiError(
                    f"cannot start episode {pair.episode} step {pair.step}: {e}"
                ) from None
        obs, info = self.env.reset(seed=self.reset_seed + pair.episode)
        for a in pair.actions:
            obs, *_, info = self.env.step(a)
        got = self.state(obs, info)
        if got is None or not np.allclose(got, pair.start_state, atol=1e-4):
            raise AmiError(
                f"replaying episode {pair.episode} of {self.env_name!r} does not reproduce its "
                "recorded state; the env is not deterministic, so it cannot be evaluated this way"
            )
        return obs, info

    def success(self, obs: Any, info: dict, pair: GoalPair) -> bool:
        if self.mode in ("state", "rooms"):
            if "is_success" not in info:
                raise AmiError(f"{self.env_name!r} reports no info['is_success'] for its goal")
            return bool(info["is_success"])
        state = self.state(obs, info)
        return bool((np.abs(state - pair.goal_state) <= self.tolerance).all())

    def close(self) -> None:
        self.env.close()


class ZeroAgent:
    """Floor: doing nothing (the zero action, clipped into the action space). Meaningful for
    relative moves and torques (two-rooms, reacher, pusht); where actions are absolute targets
    (gym-pusht's own env) zero is a place, not nothing."""

    def __init__(self, action_space: Any) -> None:
        self.action = np.clip(np.zeros(action_space.shape), action_space.low, action_space.high)
        self.action = self.action.astype(np.float32)

    def reset(self) -> None:
        """Nothing to reset."""

    def act(self, observation: np.ndarray, goal: np.ndarray) -> Decision:
        return Decision(self.action)


def _takes_state(agent: Agent) -> bool:
    """Whether the agent's world model was trained with the robot state (``--proprio``): it
    then sees each view and the goal as ``{"pixels", "state"}``, the state as recorded."""
    config = getattr(getattr(agent, "model", None), "config", None)
    return bool(getattr(config, "proprio", False))


def run_pair(
    task: GoalTask,
    agent: Agent,
    pair: GoalPair,
    budget: int,
    seed: int,
    ms: list[float],
    frames: list[np.ndarray] | None = None,
    states: list[np.ndarray] | None = None,
) -> tuple[bool, int]:
    """One pair: (succeeded at any step, steps taken); planning times are appended to `ms`,
    the agent's views to `frames` and the env's states after each decision to `states`, when
    given."""
    obs, info = task.reset(pair, seed)
    agent.reset()
    if frames is not None:
        frames.append(task.frame(obs, info))
    if states is not None:
        states.append(task.state(obs, info))
    if task.success(obs, info, pair):
        return True, 0
    with_state = _takes_state(agent)
    goal = {"pixels": pair.goal_frame, "state": pair.goal_state} if with_state else pair.goal_frame
    for t in range(1, budget + 1):
        view = task.frame(obs, info)
        if with_state:
            view = {"pixels": view, "state": task.state(obs, info)}
        decision = agent.act(view, goal)
        if decision.plan_ms is not None:
            ms.append(decision.plan_ms)
        obs, _, terminated, truncated, info = task.env.step(decision.vector)
        if frames is not None:
            frames.append(task.frame(obs, info))
        if states is not None:
            states.append(task.state(obs, info))
        if task.success(obs, info, pair):
            return True, t
        if terminated or truncated:
            break
    return False, budget


def write_goal_gif(
    frames: list[np.ndarray], goal: np.ndarray, success: bool, path: Path, scale: int = 4
) -> Path:
    """A GIF of an episode beside its goal frame (right), framed green on success."""
    from PIL import Image, ImageDraw

    h, w = goal.shape[:2]
    images = []
    for t, frame in enumerate(frames):
        img = Image.new("RGB", (2 * w * scale + 8, h * scale + 20), (30, 30, 30))
        for x, f in ((0, frame), (w * scale + 8, goal)):
            f = np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f
            img.paste(Image.fromarray(f).resize((w * scale, h * scale), Image.NEAREST), (x, 20))
        last = t == len(frames) - 1
        text = f"step {t}" + ((" - reached" if success else " - not reached") if last else "")
        d = ImageDraw.Draw(img)
        d.text((4, 4), text, fill=(0, 255, 0) if last and success else (230, 230, 230))
        d.text((w * scale + 12, 4), "goal", fill=(230, 230, 230))
        images.append(img)
    images[0].save(
        path, save_all=True, append_images=images[1:] + [images[-1]] * 5, duration=200, loop=0
    )
    return path


def _rate(wins: list[bool]) -> dict[str, Any]:
    k, n = int(sum(wins)), len(wins)
    return {"success_rate": k / n, "successes": k, "ci95": list(wilson_interval(k, n))}


def evaluate_protocol(
    agent: Agent | None,
    store: str | Path,
    episodes: list[int],
    *,
    env: str | None = None,
    offset: int = DEFAULT_OFFSET,
    budget: int = DEFAULT_BUDGET,
    pairs: int = 50,
    seed: int = 0,
    tolerance: float | None = None,
    floors: bool = True,
    progress: bool = False,
    video: Path | None = None,
    execute: int | None = None,
) -> dict[str, Any]:
    """Success of ``agent`` (an Agent, e.g. a WorldModelAgent; None: floors only)
    on ``pairs`` start/goal pairs of held-out ``episodes``, with its 95% interval, planning ms
    per replanning step, and the floors on the same pairs. ``video``: a GIF of the first pair.
    ``execute``: env steps run of each action block the agent (and each floor) returns, for an
    agent that replans inside blocks (default: the whole block)."""
    from rich.progress import track

    if budget < 1:
        raise AmiError(f"--budget must be >= 1 env step, got {budget}")
    if offset < 1:
        raise AmiError(f"--goal-offset must be >= 1, got {offset}")
    task = GoalTask(store, env, budget, tolerance, execute)
    k = task.block
    try:
        if offset % k:
            raise AmiError(
                f"--goal-offset {offset} env steps is not a whole number of the store's action "
                f"blocks of {k} env steps; use a multiple of {k}"
            )
        chosen = goal_pairs(store, episodes, offset // k, pairs, seed)
    except BaseException:
        task.close()
        raise
    decisions = -(-budget // task.execute)  # agent decisions: `execute` env steps each
    report: dict[str, Any] = {
        "protocol": {
            "goal_offset": offset,
            "budget": budget,
            "action_block": k,
            "block_steps": task.execute,
            "decisions": decisions,
            "pairs": len(chosen),
            "seed": seed,
            "store": str(store),
            "held_out_episodes": len(episodes),
            "start_from": task.mode,
            "success_at": "any step, the start included",
        }
    }
    try:
        first = [task.success(*task.reset(p, seed + i), p) for i, p in enumerate(chosen)]
        if agent is not None:
            wins, steps, planned = [], [], []
            t0 = time.perf_counter()
            for i, p in track(list(enumerate(chosen)), "eval", disable=not progress):
                frames = [] if video is not None and i == 0 else None
                ok, n = run_pair(task, agent, p, decisions, seed + i, planned, frames)
                if frames:
                    write_goal_gif(frames, p.goal_frame, ok, Path(video))
                wins.append(ok)
                steps.append(n)
            ms = np.array(planned)
            report.update(_rate(wins))
            report["success_ci95"] = report.pop("ci95")
            report["episodes"] = len(wins)
            ok_steps = [n for ok, n in zip(wins, steps, strict=True) if ok]
            report["mean_steps_to_goal"] = (
                float(np.mean(ok_steps)) * task.execute if ok_steps else None
            )
            report["plan_ms_mean"] = float(ms.mean()) if len(ms) else None
            report["plan_ms_median"] = float(np.median(ms)) if len(ms) else None
            report["plan_ms_p95"] = float(np.percentile(ms, 95)) if len(ms) else None
            report["replans"] = int(len(ms))
            report["wall_s"] = time.perf_counter() - t0
        out = {"already_successful": _rate(first)}
        if floors:
            space = task.env.action_space
            for name, base in (
                ("random", RandomAgent(space, seed)),
                ("do_nothing", ZeroAgent(space)),
            ):
                out[name] = _rate(
                    [
                        run_pair(task, base, p, decisions, seed + i, [])[0]
                        for i, p in enumerate(chosen)
                    ]
                )
        report["floors"] = out
    finally:
        task.close()
    return report


PROTOCOL_ENVS = ("amiwm/Reacher-v0", "amiwm/PushT-v0")


def protocol_settings(
    env: str, goal_offset: int | None, budget: int | None, tolerance: float | None
) -> tuple[int, int] | None:
    """(goal offset, budget) when ``eval`` runs this protocol — asked for, or reacher / pusht,
    whose default it is — else None."""
    from amiwm.envs import resolve_env_id

    asked = any(v is not None for v in (goal_offset, budget, tolerance))
    if not asked and resolve_env_id(env) not in PROTOCOL_ENVS:
        return None
    return (
        DEFAULT_OFFSET if goal_offset is None else goal_offset,
        DEFAULT_BUDGET if budget is None else budget,
    )


def held_out_source(checkpoint: str | Path, data: str | Path | None) -> tuple[Path, list[int]]:
    """The store pairs are drawn from and its episodes training never saw: `data` (all of its
    episodes), else the checkpoint's training store (its validation episodes)."""
    from amiwm.data.store import EpisodeStore
    from amiwm.rundir import RunDir

    run = RunDir(checkpoint)
    store = Path(data) if data is not None else run.data_path
    if store is None or not store.is_file():
        raise AmiError(f"episode store {store} not found; pass --data (a store of this env)")
    if run.training_data is not None and store.resolve() == run.training_data.resolve():
        return store, run.split[1]
    with EpisodeStore(store) as s:
        return store, list(range(s.num_episodes))


def format_report(r: dict[str, Any]) -> str:
    """A few human lines for a protocol report."""
    p, f = r["protocol"], r["floors"]
    lines = [
        f"protocol: {p['pairs']} pairs from {p['held_out_episodes']} held-out episodes, goal "
        f"{p['goal_offset']} env steps ahead, budget {p['budget']} env steps"
        + (f" in blocks of {p['action_block']}" if p.get("action_block", 1) > 1 else "")
        + f" (start: {p['start_from']})"
    ]
    if "success_rate" in r:
        lo, hi = r["success_ci95"]
        lines.append(
            f"success {r['success_rate']:.1%} ({r['successes']}/{r['episodes']}; "
            f"95% CI {lo:.1%}-{hi:.1%})"
        )
        if r.get("plan_ms_median") is not None:
            lines.append(
                f"planning {r['plan_ms_median']:.1f} ms median, {r['plan_ms_p95']:.1f} ms p95 "
                "per replanning step"
            )
    lines.append(
        "floors: "
        + ", ".join(f"{k.replace('_', ' ')} {v['success_rate']:.1%}" for k, v in f.items())
    )
    return "\n".join(lines)
