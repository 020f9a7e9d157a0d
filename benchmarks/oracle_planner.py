"""The planner with a perfect model: amiwm's CEM planning on reacher's true simulator, on the
protocol's pairs, so the planner's and the protocol's share of a miss is told apart from the
world model's.

    MUJOCO_GL=egl python benchmarks/oracle_planner.py --checkpoint DIR/model \
        --settings "1,final,64,8,4;5,final,64,8,4;5,final,300,30,30"

The agent gets the true state (joint angles and velocities, target) and the goal's, imagines
each candidate sequence of action blocks (5 env steps of the store) by setting a copy of the
simulator to the state and stepping it, and scores it at the last block ("final") or summed over
the blocks ("summed") by the squared joint-angle error to the goal (wrapped). With a cost
"final-latent" / "summed-latent" it scores the imagined frames instead (rendered as the store's,
encoded by the checkpoint's encoder) by the squared latent distance to the goal frame's latent,
and with "final-pixels" / "summed-pixels" by the squared pixel distance: true dynamics with the
world model's cost, which tells the encoder's share of a miss from the predictor's. Everything
else is the
protocol of `ami-cli eval` (goal 25 env steps ahead, budget 50, pairs of the held-out episodes
drawn with `--pair-seed` from the checkpoint's held-out episodes, the very pairs `ami-cli eval`
gives that model). One JSON line per setting.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from amiwm.envs.reacher import ReacherEnv, angle_error
from amiwm.models.world_model import WorldModel
from amiwm.planning import make_planner
from amiwm.planning.base import Decision, shift_plan
from amiwm.planning.protocol import evaluate_protocol, held_out_source
from amiwm.rundir import RunDir


class OracleAgent:
    """An Agent planning on the true simulator; `model.config.proprio` asks the protocol for
    the state beside each view."""

    model = SimpleNamespace(config=SimpleNamespace(proprio=True))

    def __init__(
        self, planner: Any, horizon: int, block: int, cost: str, seed: int, model: Any = None
    ) -> None:
        self.when, _, self.space = cost.partition("-")  # "final" | "summed", "" | latent | pixels
        self.sim = ReacherEnv(size=model.config.obs_shape[0] if model is not None else 8)
        self.physics = self.sim.physics
        self.planner, self.horizon, self.block, self.encoder = planner, horizon, block, model
        self.low, self.high = -torch.ones(2 * block), torch.ones(2 * block)
        self.seed = seed
        self.plan_ms: list[float] = []
        self.reset()

    def reset(self) -> None:
        self._plan: torch.Tensor | None = None
        self.generator = torch.Generator().manual_seed(self.seed)

    def imagine(self, state: np.ndarray, goal: np.ndarray, actions: torch.Tensor) -> torch.Tensor:
        """Costs (N,) of action sequences (N, H, 2 * block) from `state` toward `goal`."""
        costs, frames = [], []
        for seq in actions.numpy().reshape(len(actions), self.horizon, self.block, 2):
            self.sim.set_state(state)
            total = 0.0
            for h, blk in enumerate(seq):
                for a in blk:
                    self.physics.set_control(a)
                    self.physics.step()
                if self.when == "summed" or h == self.horizon - 1:
                    if self.space:
                        frames.append(self.sim._render())
                    else:
                        err = angle_error(self.physics.data.qpos[:2], goal[:2])
                        total += float((err**2).sum())
            costs.append(total)
        if not self.space:
            return torch.tensor(costs)
        d = ((self._features(np.stack(frames)) - self._goal) ** 2).sum(-1)
        return d.reshape(len(actions), -1).sum(-1)

    @torch.no_grad()
    def _features(self, frames: np.ndarray) -> torch.Tensor:
        """Latents (or flat pixels in [0, 1]) of (N, size, size, 3) frames."""
        if self.space == "latent":
            return self.encoder.encode(frames).float()
        return torch.from_numpy(frames.reshape(len(frames), -1).astype(np.float32) / 255.0)

    def act(self, observation: dict, goal: dict) -> Decision:
        t0 = time.perf_counter()
        state, target = np.asarray(observation["state"]), np.asarray(goal["state"])
        if self.space:
            self._goal = self._features(np.asarray(goal["pixels"])[None])
        init = None if self._plan is None else shift_plan(self._plan, 1)
        result = self.planner.plan(
            lambda a: self.imagine(state, target, a), self.horizon, self.low, self.high, init,
            self.generator,
        )  # fmt: skip
        self._plan = result.actions.clone()
        self.plan_ms.append(1000 * (time.perf_counter() - t0))
        return Decision(self._plan[0].numpy().astype(np.float32), None, None, self.plan_ms[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True, help="whose held-out pairs")
    ap.add_argument("--pair-seed", type=int, default=42)
    ap.add_argument("--agent-seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--settings", default="1,final,64,8,4;5,final,64,8,4")
    args = ap.parse_args()
    torch.set_num_threads(1)
    store, episodes = held_out_source(args.checkpoint, None)
    block = RunDir(args.checkpoint).action_block
    for setting in args.settings.split(";"):
        h, cost, k, e, it = setting.split(",")
        planner = make_planner("cem", samples=int(k), elites=int(e), iterations=int(it))
        model = WorldModel.from_pretrained(args.checkpoint) if "-" in cost else None
        agent = OracleAgent(planner, int(h), block, cost, args.agent_seed, model)
        r = evaluate_protocol(agent, store, episodes, env="reacher", pairs=args.pairs,
                              seed=args.pair_seed, floors=False)  # fmt: skip
        print(json.dumps({"horizon": int(h), "cost": cost, "cem": f"{k}x{e}x{it}",
                          "success": r["success_rate"], "ci95": r["success_ci95"],
                          "ms": round(r["plan_ms_median"], 1)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
