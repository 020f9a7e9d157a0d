"""LeWM (stable-worldmodel 0.1.1) side of benchmarks/versus.py: runs inside the swm venv.

Builds LeWM as LeWorldModel's config does (ViT-tiny encoder from a ViTConfig, no download;
their Predictor, Embedder, MLP projectors with BatchNorm and SIGReg; loss = prediction MSE +
0.09 * SIGReg(17 knots, 1024 projections); AdamW lr 5e-5, weight decay 1e-3, clip 1.0) on an
amiwm HDF5 store, then measures training frames/s, seconds per CEM plan with their CEMSolver,
and goal-reaching success with their WorldModelPolicy:
- two-rooms (default): amiwm's two-rooms env and episode loop (start and goal in opposite rooms);
- reacher / pusht (--task): trained on the training episodes of a store collected in action
  blocks (one row = one block of k env actions, so LeWM's frameskip over the store is 1), then
  evaluated by amiwm's goal-offset protocol (amiwm.planning.protocol.evaluate_protocol) on the
  held-out episodes given by --held-out, with the same pairs, seed and budget as amiwm's demo.
Results go to --out as JSON, rewritten after every stage.

Only torch-free amiwm modules are imported (envs, episode loop, protocol), checked at start.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from amiwm.envs import make_env  # noqa: E402
from amiwm.planning.base import Decision  # noqa: E402
from amiwm.planning.episodes import run_episode, summarize  # noqa: E402
from amiwm.planning.protocol import GoalTask, _rate, evaluate_protocol, goal_pairs, run_pair  # noqa: E402

if "torch" in sys.modules:  # the amiwm modules above must not depend on amiwm's torch
    raise SystemExit("error: importing amiwm's env/episode code pulled in torch")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

STAGES = ("params", "throughput", "plan", "success")
TASKS = ("two-rooms", "reacher", "pusht")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="amiwm two-rooms HDF5 store")
    p.add_argument("--out", type=Path, required=True, help="JSON results file")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", default=",".join(STAGES), help=f"comma list of {STAGES}")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--frameskip", type=int, default=5, help="env steps per model step (LeWM)")
    p.add_argument("--patch", type=int, default=8, help="ViT patch size at 64 px")
    p.add_argument("--batch", type=int, default=64, help="batch for the throughput stage")
    p.add_argument("--throughput-seconds", type=float, default=60.0)
    p.add_argument("--plan-samples", type=int, default=300)
    p.add_argument("--plan-iterations", type=int, default=30)
    p.add_argument("--plan-topk", type=int, default=30)
    p.add_argument("--plan-repeats", type=int, default=3)
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--train-minutes", type=float, default=10.0)
    p.add_argument("--train-batch", type=int, default=128, help="LeWM's default batch")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--eval-seed", type=int, default=1000)
    p.add_argument("--eval-samples", type=int, default=100)
    p.add_argument("--eval-iterations", type=int, default=10)
    p.add_argument("--eval-topk", type=int, default=10)
    p.add_argument("--task", choices=TASKS, default="two-rooms")
    p.add_argument("--held-out", type=Path, help="reacher/pusht: JSON list of held-out episodes")
    p.add_argument("--pairs", type=int, default=50, help="reacher/pusht: protocol pairs")
    p.add_argument("--protocol-seed", type=int, default=42, help="reacher/pusht: pair seed")
    p.add_argument("--goal-offset", type=int, default=25, help="reacher/pusht: env steps")
    p.add_argument("--budget", type=int, default=50, help="reacher/pusht: env steps")
    p.add_argument("--checkpoint", type=Path, help="reacher/pusht: save (or reuse) the weights")
    p.add_argument(
        "--eval-seconds", type=float, help="reacher/pusht: stop evaluating after this (partial)"
    )
    p.add_argument("--eval-until", type=float, help="reacher/pusht: the same, a Unix time")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- data
class Windows:
    """LeWM training windows from the store: 4 frames `frameskip` steps apart; the action of
    each step is the `frameskip` env actions after it, concatenated (zeros past the end)."""

    def __init__(
        self,
        path: Path,
        frames: int,
        frameskip: int,
        episodes: list[int] | None = None,
        sub_actions: int = 1,
    ) -> None:
        """``episodes``: train on these only (default all). ``sub_actions``: a stored action is
        that many env actions (a block); the z-score is per env action dimension, as LeWM's."""
        with h5py.File(path, "r") as f:
            self.obs = f["observations"][()]
            self.actions = f["actions"][()].astype(np.float32)
            starts = f["episode_starts"][()]
            lengths = f["episode_lengths"][()]
        if self.obs.ndim != 4 or self.obs.dtype != np.uint8:
            raise SystemExit(f"error: {path} does not hold uint8 frames (N, H, W, C)")
        ends = np.repeat(starts + lengths, lengths)  # row -> end of its episode
        if episodes is not None:
            starts, lengths = starts[episodes], lengths[episodes]
        self.frames, self.fs = frames, frameskip
        span = (frames - 1) * frameskip
        self.starts = np.concatenate(
            [s + np.arange(max(0, n - span)) for s, n in zip(starts, lengths, strict=True)]
        )
        if not len(self.starts):
            raise SystemExit(f"error: no episode in {path} is long enough for LeWM windows")
        self.row_end = ends
        valid = np.concatenate(
            [np.arange(s, s + n - 1) for s, n in zip(starts, lengths, strict=True)]
        )
        a = self.actions[valid].reshape(len(valid) * sub_actions, -1)
        self.a_mean = np.tile(a.mean(0), sub_actions)
        self.a_std = np.tile(np.maximum(a.std(0), 1e-6), sub_actions)

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.starts[rng.integers(len(self.starts), size=size)]
        steps = s[:, None] + np.arange(self.frames)[None] * self.fs  # (B, T)
        pixels = torch.from_numpy(self.obs[steps])  # (B, T, H, W, C) uint8
        rows = steps[..., None] + np.arange(self.fs)  # (B, T, fs)
        inside = rows < self.row_end[s][:, None, None] - 1  # the last row of an episode is pad
        rows = np.minimum(rows, len(self.actions) - 1)
        act = (self.actions[rows] - self.a_mean) / self.a_std
        act = np.where(inside[..., None], act, 0.0).astype(np.float32)
        act = torch.from_numpy(act.reshape(*steps.shape, -1))  # (B, T, fs * A)
        return to_pixels(pixels), act


def to_pixels(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, C) -> float (..., C, H, W) in [-1, 1]."""
    return frames.movedim(-1, -3).float().div(127.5).sub(1.0)


# ----------------------------------------------------------------------------- model
def build_lewm(action_dim: int, image_size: int, patch: int) -> tuple[Any, Any]:
    """LeWM with LeWorldModel's model config (embed 192, history 3, predictor depth 6)."""
    from stable_worldmodel.wm.lewm import LeWM
    from stable_worldmodel.wm.lewm.module import MLP, Embedder, Predictor
    from stable_worldmodel.wm.loss import SIGReg
    from transformers import ViTConfig, ViTModel

    dim = 192
    vit = ViTConfig(  # ViT-tiny
        hidden_size=dim,
        num_hidden_layers=12,
        num_attention_heads=3,
        intermediate_size=4 * dim,
        image_size=image_size,
        patch_size=patch,
    )
    encoder = ViTModel(vit, add_pooling_layer=False)
    predictor = Predictor(
        num_frames=3,
        depth=6,
        heads=16,
        mlp_dim=2048,
        input_dim=dim,
        hidden_dim=dim,
        output_dim=dim,
        dim_head=64,
        dropout=0.1,
        emb_dropout=0.0,
    )
    model = LeWM(
        encoder=encoder,
        predictor=predictor,
        action_encoder=Embedder(input_dim=action_dim, emb_dim=dim),
        projector=MLP(dim, 2048, dim, norm_fn=torch.nn.BatchNorm1d),
        pred_proj=MLP(dim, 2048, dim, norm_fn=torch.nn.BatchNorm1d),
    )
    return model, SIGReg(knots=17, num_proj=1024)


def param_counts(model: Any) -> dict[str, int]:
    """Parameters of the whole model, its encoder and its predictor."""
    return {
        "total": sum(p.numel() for p in model.parameters()),
        "encoder": sum(p.numel() for p in model.encoder.parameters()),
        "predictor": sum(p.numel() for p in model.predictor.parameters()),
    }


def lewm_loss(model: Any, sigreg: Any, pixels: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """LeWorldModel's objective: predict emb[1:] from 3 context steps + 0.09 * SIGReg."""
    out = model.encode({"pixels": pixels, "action": action})
    emb, act_emb = out["emb"], out["act_emb"]
    pred = model.predict(emb[:, :3], act_emb[:, :3])
    pred_loss = (pred - emb[:, 1:]).pow(2).mean()
    return pred_loss + 0.09 * sigreg(emb.transpose(0, 1))


def make_optimizer(model: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=1e-3)


def train_step(model: Any, sigreg: Any, opt: Any, batch: tuple) -> float:
    loss = lewm_loss(model, sigreg, *batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return float(loss.item())


# ----------------------------------------------------------------------------- planning
class ActionNormalizer:
    """Their `process['action']` protocol: z-score per env action dimension."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean, self.std = mean, std

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        return x * self.std + self.mean


class OneEnv:
    """What WorldModelPolicy.set_env reads from a (vector) env: one env of 2-d actions."""

    def __init__(self, high: float, dim: int) -> None:
        import gymnasium as gym

        self.num_envs = 1
        self.single_action_space = gym.spaces.Box(-high, high, (dim,), np.float32)
        self.action_space = gym.spaces.Box(-high, high, (1, dim), np.float32)


def make_policy(
    model: Any, data: Windows, args: argparse.Namespace, samples: int, iters: int, topk: int
) -> Any:
    from stable_worldmodel.policy import PlanConfig, WorldModelPolicy
    from stable_worldmodel.solver.cem import CEMSolver

    solver = CEMSolver(
        model, num_samples=samples, n_steps=iters, topk=topk, device="cpu", seed=args.eval_seed
    )
    cfg = PlanConfig(
        horizon=args.horizon, receding_horizon=args.horizon, action_block=args.frameskip
    )
    pixels = lambda img: to_pixels(img.as_subclass(torch.Tensor).movedim(0, -1))  # noqa: E731
    return WorldModelPolicy(
        solver,
        cfg,
        process={"action": ActionNormalizer(data.a_mean, data.a_std)},
        transform={"pixels": pixels, "goal": pixels},
    )


def info_dict(obs: np.ndarray, goal: np.ndarray, dim: int = 2) -> dict[str, np.ndarray]:
    return {
        "pixels": obs[None, None],
        "goal": goal[None, None],
        "action": np.zeros((1, 1, dim), np.float32),
    }


def time_plans(model: Any, data: Windows, args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per solver.solve() at the given CEM budget (obs and goal encoded inside)."""
    env = make_env("two-rooms")
    obs, _ = env.reset(seed=args.eval_seed)
    goal = env.unwrapped.goal_observation()
    policy = make_policy(model, data, args, args.plan_samples, args.plan_iterations, args.plan_topk)
    policy.set_env(OneEnv(float(env.action_space.high[0]), 2))
    info = policy._prepare_info(info_dict(obs, goal))
    steps = policy.solver.n_steps
    policy.solver.n_steps = 1
    policy.solver.solve(dict(info))  # warm-up, not timed
    policy.solver.n_steps = steps
    times = []
    for _ in range(args.plan_repeats):
        t = time.perf_counter()
        policy.solver.solve(dict(info))
        times.append(time.perf_counter() - t)
    return {
        "seconds": times,
        "median_s": float(np.median(times)),
        "samples": args.plan_samples,
        "iterations": args.plan_iterations,
        "topk": args.plan_topk,
        "horizon": args.horizon,
        "action_block": args.frameskip,
    }


class LeWMAgent:
    """amiwm's Agent protocol (reset, act) for its episode loop, through their
    WorldModelPolicy."""

    def __init__(self, policy: Any, high: float, dim: int = 2) -> None:
        self.policy, self.high, self.dim = policy, high, dim

    def reset(self) -> None:
        self.policy.set_env(OneEnv(self.high, self.dim))  # fresh action buffer
        self.policy._next_init = None

    def act(self, obs: np.ndarray, goal: np.ndarray) -> Decision:
        replan = len(self.policy._action_buffer[0]) == 0
        t = time.perf_counter()
        action = self.policy.get_action(info_dict(obs, goal, self.dim))
        ms = 1000 * (time.perf_counter() - t) if replan else None
        return Decision(np.asarray(action, np.float32).reshape(-1), plan_ms=ms)


# ----------------------------------------------------------------------------- reacher / pusht
def store_block(path: Path) -> tuple[int, int]:
    """(env steps per stored action, env action dim) of an action-block store."""
    with h5py.File(path, "r") as f:
        meta = json.loads(f.attrs.get("metadata_json") or "{}")
        dim = int(f["actions"].shape[1])
    k = int(meta.get("action_block") or 1)
    if k < 2 or dim % k:
        raise SystemExit(
            f"error: {path} is not an action-block store (action_block {k}, actions {dim}-d); "
            "collect it with `ami-cli collect --action-block 5`"
        )
    return k, dim // k


def run_task(args: argparse.Namespace, save: Any, results: dict[str, Any]) -> None:
    """Train LeWM for --train-minutes on the store's training episodes, then run amiwm's
    goal-offset protocol on the held-out ones with LeWM's CEM policy (one plan per
    --horizon blocks, executed in full: LeWorldModel's receding horizon 5)."""
    if args.held_out is None:
        raise SystemExit("error: --task reacher/pusht needs --held-out (JSON list of episodes)")
    held_out = [int(e) for e in json.loads(args.held_out.read_text())]
    block, env_dim = store_block(args.data)
    with h5py.File(args.data, "r") as f:
        n_episodes = len(f["episode_lengths"])
    train_eps = sorted(set(range(n_episodes)) - set(held_out))
    # one stored row is one block of `block` env actions: frameskip 1 over the store
    data = Windows(args.data, 4, 1, episodes=train_eps, sub_actions=block)
    args.frameskip = 1
    a_dim = data.actions.shape[1]
    size = int(data.obs.shape[1])
    torch.manual_seed(args.seed)
    model, sigreg = build_lewm(a_dim, size, args.patch)
    save(
        "params",
        {
            **param_counts(model),
            "image_size": size,
            "patch": args.patch,
            "action_block": block,
            "action_dim": a_dim,
        },
    )
    only = set(args.only.split(","))
    if "success" not in only:
        return
    rng = np.random.default_rng(args.seed)
    from safetensors.torch import load_model, save_model  # no pickles, as in amiwm

    stats = None if args.checkpoint is None else args.checkpoint.with_suffix(".training.json")
    if args.checkpoint is not None and args.checkpoint.exists() and stats.exists():
        load_model(model, str(args.checkpoint))
        training = json.loads(stats.read_text())
        print(f"reusing the weights in {args.checkpoint} (delete it to retrain)", flush=True)
    else:
        model.train()
        opt = make_optimizer(model)
        steps, losses, t0 = 0, [], time.perf_counter()
        budget = args.train_minutes * 60
        while time.perf_counter() - t0 < budget or steps < 1:
            losses.append(train_step(model, sigreg, opt, data.batch(rng, args.train_batch)))
            steps += 1
            if steps % 20 == 0:
                print(f"step {steps} loss {np.mean(losses[-20:]):.4f}", flush=True)
        dt = time.perf_counter() - t0
        training = {
            "train_steps": steps,
            "train_seconds": dt,
            "train_batch": args.train_batch,
            "frames_per_sample": 4,
            "frames_per_s": steps * args.train_batch * 4 / dt,
            "final_loss": float(np.mean(losses[-10:])),
            "train_episodes": len(train_eps),
        }
        if args.checkpoint is not None:
            args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            save_model(model, str(args.checkpoint))
            stats.write_text(json.dumps(training, indent=2) + "\n")
    save("training", training)
    model.eval()
    policy = make_policy(model, data, args, args.eval_samples, args.eval_iterations, args.eval_topk)
    protocol_eval(LeWMAgent(policy, 1.0, a_dim), args, held_out, save, block)


def protocol_eval(
    agent: Any, args: argparse.Namespace, held_out: list[int], save: Any, block: int
) -> None:
    """amiwm's protocol, pair by pair, saved after each: evaluate_protocol's pairs, seeds and
    episode loop (goal_pairs, GoalTask, run_pair), so a run cut by --eval-seconds (no pair is
    started that would not end in time, at the mean pair time so far) still reports the first
    pairs. When all pairs are done, the floors come from evaluate_protocol itself."""
    task = GoalTask(args.data, None, args.budget, None)
    pairs = goal_pairs(
        args.data, held_out, args.goal_offset // block, args.pairs, args.protocol_seed
    )
    decisions = -(-args.budget // block)
    wins: list[bool] = []
    steps: list[int] = []
    ms: list[float] = []
    t0 = time.perf_counter()
    limit = args.eval_seconds
    if args.eval_until is not None:
        left = args.eval_until - time.time()
        limit = left if limit is None else min(limit, left)
    try:
        for i, pair in enumerate(pairs):
            spent = time.perf_counter() - t0
            if limit is not None and spent + spent / max(i, 1) > limit:
                print(f"evaluation time ({limit:.0f} s) up: stopped after {i} pairs", flush=True)
                break
            ok, n = run_pair(task, agent, pair, decisions, args.protocol_seed + i, ms)
            wins.append(ok)
            steps.append(n)
            print(f"pair {i} (episode {pair.episode}, step {pair.step}): {ok}", flush=True)
            save(
                "protocol",
                {
                    **_rate(wins),
                    "pairs_evaluated": len(wins),
                    "pairs_drawn": len(pairs),
                    "complete": len(wins) == len(pairs),
                    "wins": wins,
                    "pair_ids": [[p.episode, p.step] for p in pairs],
                    "steps": [n * block for n in steps],
                    "plan_s_median": float(np.median(ms)) / 1000 if ms else None,
                    "plan_s_mean": float(np.mean(ms)) / 1000 if ms else None,
                    "replans": len(ms),
                    "eval_seconds": time.perf_counter() - t0,
                    "settings": {
                        "goal_offset": args.goal_offset,
                        "budget": args.budget,
                        "pairs": args.pairs,
                        "seed": args.protocol_seed,
                        "held_out_episodes": len(held_out),
                        "store": str(args.data),
                    },
                    "planner": {
                        "solver": "stable_worldmodel CEMSolver in WorldModelPolicy",
                        "samples": args.eval_samples,
                        "iterations": args.eval_iterations,
                        "topk": args.eval_topk,
                        "horizon_blocks": args.horizon,
                        "receding_horizon_blocks": args.horizon,
                        "env_steps_per_block": block,
                    },
                },
            )
    finally:
        task.close()
    if len(wins) == len(pairs):
        floors = evaluate_protocol(
            None,
            args.data,
            held_out,
            offset=args.goal_offset,
            budget=args.budget,
            pairs=args.pairs,
            seed=args.protocol_seed,
        )
        save("floors", floors)


# ----------------------------------------------------------------------------- stages
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    only = set(args.only.split(","))
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}

    def save(key: str, value: Any) -> None:
        results[key] = value
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(key, json.dumps(value), flush=True)

    import importlib.metadata as md

    save(
        "versions",
        {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "stable-worldmodel": md.version("stable-worldmodel"),
            "transformers": md.version("transformers"),
            "threads": torch.get_num_threads(),
        },
    )
    if args.task != "two-rooms":
        run_task(args, save, results)
        return
    data = Windows(args.data, 4, args.frameskip)
    a_dim = data.actions.shape[1] * args.frameskip
    size = int(data.obs.shape[1])
    torch.manual_seed(args.seed)
    model, sigreg = build_lewm(a_dim, size, args.patch)
    save(
        "params",
        {
            **param_counts(model),
            "image_size": size,
            "patch": args.patch,
            "frameskip": args.frameskip,
        },
    )
    rng = np.random.default_rng(args.seed)

    if "throughput" in only:
        model.train()
        opt = make_optimizer(model)
        train_step(model, sigreg, opt, data.batch(rng, args.batch))  # warm-up
        steps, frames, t0 = 0, 0, time.perf_counter()
        while time.perf_counter() - t0 < args.throughput_seconds or steps < 2:
            batch = data.batch(rng, args.batch)
            train_step(model, sigreg, opt, batch)
            steps += 1
            frames += batch[0].shape[0] * batch[0].shape[1]
        dt = time.perf_counter() - t0
        save(
            "throughput",
            {
                "frames_per_s": frames / dt,
                "steps": steps,
                "seconds": dt,
                "batch": args.batch,
                "frames_per_sample": 4,
            },
        )
        torch.manual_seed(args.seed)
        model, sigreg = build_lewm(a_dim, size, args.patch)  # fresh weights for the rest

    if "plan" in only:
        model.eval()
        save("plan", time_plans(model, data, args))

    if "success" in only:
        model.train()
        opt = make_optimizer(model)
        steps, losses, t0 = 0, [], time.perf_counter()
        budget = args.train_minutes * 60
        while time.perf_counter() - t0 < budget or steps < 1:
            losses.append(train_step(model, sigreg, opt, data.batch(rng, args.train_batch)))
            steps += 1
        dt = time.perf_counter() - t0
        model.eval()
        env = make_env("two-rooms")
        agent = LeWMAgent(
            make_policy(model, data, args, args.eval_samples, args.eval_iterations, args.eval_topk),
            float(env.action_space.high[0]),
        )
        runs = []
        t1 = time.perf_counter()
        for i in range(args.episodes):
            r = run_episode(env, agent, seed=args.eval_seed + i)
            runs.append(r)
            print(f"episode {i}: success={r.success} steps={r.steps}", flush=True)
        save(
            "success",
            {
                **summarize(runs),
                "train_steps": steps,
                "train_seconds": dt,
                "train_batch": args.train_batch,
                "final_loss": float(np.mean(losses[-10:])),
                "eval_seconds": time.perf_counter() - t1,
                "eval_seed": args.eval_seed,
                "eval_samples": args.eval_samples,
                "eval_iterations": args.eval_iterations,
                "eval_topk": args.eval_topk,
                "horizon": args.horizon,
                "receding_horizon": args.horizon,
                "action_block": args.frameskip,
            },
        )


if __name__ == "__main__":
    main()
