"""The planner with a perfect model: amiwm's CEM planning on reacher's true simulator, on the
protocol's pairs, so the planner's and the protocol's share of a miss is told apart from the
world model's.

    MUJOCO_GL=egl python benchmarks/oracle_planner.py --checkpoint DIR/model \
        --settings "1,final,64,8,4;5,final,64,8,4;5,final,300,30,30"

The agent gets the true state (joint angles and velocities, target) and the goal's, imagines
each candidate sequence of action blocks (5 env steps of the store) by setting a copy of the
simulator to the state and stepping it, and scores it by the squared joint-angle error to the
goal (wrapped), at the last block ("final") or summed over the blocks; everything else is the
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
from amiwm.planning import make_planner
from amiwm.planning.base import Decision, shift_plan
from amiwm.planning.protocol import evaluate_protocol, held_out_source
from amiwm.rundir import RunDir


class OracleAgent:
    """An Agent planning on the true simulator; `model.config.proprio` asks the protocol for
    the state beside each view."""

    model = SimpleNamespace(config=SimpleNamespace(proprio=True))

    def __init__(self, planner: Any, horizon: int, block: int, cost: str, seed: int) -> None:
        self.sim = ReacherEnv(size=8)  # never rendered
        self.physics = self.sim.physics
        self.planner, self.horizon, self.block, self.cost = planner, horizon, block, cost
        self.low, self.high = -torch.ones(2 * block), torch.ones(2 * block)
        self.seed = seed
        self.plan_ms: list[float] = []
        self.reset()

    def reset(self) -> None:
        self._plan: torch.Tensor | None = None
        self.generator = torch.Generator().manual_seed(self.seed)

    def imagine(self, state: np.ndarray, goal: np.ndarray, actions: torch.Tensor) -> torch.Tensor:
        """Costs (N,) of action sequences (N, H, 2 * block) from `state` toward `goal`."""
        costs = []
        for seq in actions.numpy().reshape(len(actions), self.horizon, self.block, 2):
            self.sim.set_state(state)
            total = 0.0
            for h, blk in enumerate(seq):
                for a in blk:
                    self.physics.set_control(a)
                    self.physics.step()
                if self.cost == "summed" or h == self.horizon - 1:
                    total += float((angle_error(self.physics.data.qpos[:2], goal[:2]) ** 2).sum())
            costs.append(total)
        return torch.tensor(costs)

    def act(self, observation: dict, goal: dict) -> Decision:
        t0 = time.perf_counter()
        state, target = np.asarray(observation["state"]), np.asarray(goal["state"])
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
        agent = OracleAgent(planner, int(h), block, cost, args.agent_seed)
        r = evaluate_protocol(agent, store, episodes, env="reacher", pairs=args.pairs,
                              seed=args.pair_seed, floors=False)  # fmt: skip
        print(json.dumps({"horizon": int(h), "cost": cost, "cem": f"{k}x{e}x{it}",
                          "success": r["success_rate"], "ci95": r["success_ci95"],
                          "ms": round(r["plan_ms_median"], 1)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
