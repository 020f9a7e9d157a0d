"""Hierarchical planning: a high level picks a subgoal latent, the low-level MPC chases it.

High levels share the low level's latent space (the frozen encoder):

- ``MacroPredictor``: z_t and a macro-action (the mean of the next k actions) -> z_{t+k},
  trained on the encoder's latents of the same episode store. The high level plans macro-action
  sequences with the same CEM/MPPI planners and hands the low level the first predicted latent.
- a landmark graph (:class:`~amiwm.planning.graph.LatentGraph` of remembered latents): the
  subgoal is the node k steps along the shortest path to the goal.

Saved as ``macro.safetensors`` + ``macro.json`` (never pickle).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.planning.agent import DEFAULT_BUDGET, WorldModelAgent
from amiwm.planning.base import Decision, PlanResult, shift_plan
from amiwm.planning.costs import summed_distance
from amiwm.planning.graph import LatentGraph
from amiwm.planning.observations import encode_observation

HIGH_LEVELS = ("macro", "graph")
MACRO_FILES = ("macro.safetensors", "macro.json")


class MacroPredictor(nn.Module):
    """Residual MLP: (z_t, mean of the k actions a_t..a_{t+k-1}) -> z_{t+k}."""

    def __init__(
        self, latent_dim: int, action_dim: int, k: int, action_scale: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        if k < 1 or latent_dim < 1 or action_dim < 1:
            raise AmiError(f"macro predictor needs k, latent_dim, action_dim >= 1, got {k}")
        self.latent_dim, self.action_dim, self.k = latent_dim, action_dim, k
        scale = list(action_scale) if action_scale is not None else [1.0] * action_dim
        self.register_buffer("action_scale", torch.tensor(scale, dtype=torch.float32))
        hidden = 256
        self.net = nn.Sequential(
            nn.Linear(latent_dim + action_dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, latent_dim),
        )

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """z (..., D), macro-action (..., A) in raw units -> z after k steps (..., D)."""
        a = action.float() / self.action_scale
        return z + self.net(torch.cat([z, a], -1))

    def rollout(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z (B, D), macro-actions (B, H, A) -> latents after each macro-step (B, H, D)."""
        out = []
        for t in range(actions.shape[1]):
            z = self(z, actions[:, t])
            out.append(z)
        return torch.stack(out, 1)

    def save(self, directory: str | Path) -> Path:
        """Write macro.safetensors + macro.json into ``directory``."""
        from safetensors.torch import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()}, str(d / MACRO_FILES[0])
        )
        meta = {"latent_dim": self.latent_dim, "action_dim": self.action_dim, "k": self.k}
        meta["action_scale"] = self.action_scale.tolist()
        (d / MACRO_FILES[1]).write_text(json.dumps(meta, indent=2) + "\n")
        return d

    @classmethod
    def load(cls, directory: str | Path) -> MacroPredictor:
        from amiwm.checkpoint import load_tensors

        d = Path(directory)
        if not all((d / f).is_file() for f in MACRO_FILES):
            raise AmiError(f"{d}: no macro predictor ({' + '.join(MACRO_FILES)}); train one first")
        meta = json.loads((d / MACRO_FILES[1]).read_text())
        macro = cls(meta["latent_dim"], meta["action_dim"], meta["k"], meta["action_scale"])
        macro.load_state_dict(load_tensors(d / MACRO_FILES[0]))
        return macro.eval()


@torch.no_grad()
def macro_pairs(
    model: WorldModel, path: Path, k: int, episodes: Sequence[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(z_t, mean of a_t..a_{t+k-1}, z_{t+k}) for every t of every episode of a store."""
    from amiwm.data.store import EpisodeStore

    zs, acts, nexts = [], [], []
    with EpisodeStore(path) as store:
        if not store.has_actions:
            raise AmiError(f"{path} has no actions; a macro predictor needs them")
        eps = range(store.num_episodes) if episodes is None else episodes
        for e in eps:
            ep = store.episode(int(e))
            n = len(ep["observations"]) - k
            if n < 1:
                continue
            if model.config.proprio:
                z = model.encode(ep["observations"], ep.get("states")).float()
            else:
                z = model.encode(ep["observations"]).float()
            a = torch.as_tensor(ep["actions"], dtype=torch.float32)
            csum = torch.cat([a.new_zeros(1, a.shape[1]), a.cumsum(0)])
            zs.append(z[:n])
            acts.append((csum[k : k + n] - csum[:n]) / k)
            nexts.append(z[k : k + n])
    if not zs:
        raise AmiError(f"{path}: no episode is longer than k={k} steps")
    return torch.cat(zs), torch.cat(acts), torch.cat(nexts)


def train_macro(
    model: WorldModel,
    path: str | Path,
    k: int = 8,
    steps: int = 2000,
    batch: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> tuple[MacroPredictor, dict[str, float]]:
    """Fit a macro predictor on the frozen encoder's latents of a store.

    Returns it with 'val_mse' (held-out last tenth of pairs), 'copy_mse' (predicting no motion)
    and 'seconds'.
    """
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    z, a, nxt = macro_pairs(model.eval(), Path(path), k)
    cfg = model.config
    bounds = zip(cfg.action_low or [], cfg.action_high or [], strict=False)
    scale = [max(abs(lo), abs(hi)) for lo, hi in bounds]
    scale = scale or a.abs().amax(0).clamp_min(1e-6).tolist()
    macro = MacroPredictor(z.shape[1], a.shape[1], k, scale)
    perm = torch.randperm(len(z))
    n_val = max(1, len(z) // 10)
    val, tr = perm[:n_val], perm[n_val:] if len(z) > 1 else perm
    opt = torch.optim.AdamW(macro.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    macro.train()
    for _ in range(steps):
        i = tr[torch.randint(len(tr), (min(batch, len(tr)),))]
        loss = (macro(z[i], a[i]) - nxt[i]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    macro.eval()
    with torch.no_grad():
        val_mse = float((macro(z[val], a[val]) - nxt[val]).pow(2).mean())
        copy_mse = float((z[val] - nxt[val]).pow(2).mean())
    return macro, {"val_mse": val_mse, "copy_mse": copy_mse, "seconds": time.perf_counter() - t0}


class HierarchicalAgent:
    """Every `every` steps the high level picks a subgoal latent; the low-level agent (a flat
    WorldModelAgent, no graph) plans toward it. ``plan_ms`` holds the whole planning time of
    each step (high + low), so flat and hierarchical agents compare per step.

    high: a MacroPredictor (planned with `planner` over `high_horizon` macro-steps, summed latent
    distance to the goal) or a LatentGraph (subgoal `lookahead` steps along the shortest path).
    """

    def __init__(
        self,
        low: WorldModelAgent,
        high: MacroPredictor | LatentGraph,
        *,
        planner: Any = None,
        high_horizon: int = 16,
        every: int | None = None,
        lookahead: int | None = None,
    ) -> None:
        if low.graph is not None:
            raise AmiError("the low-level agent of a hierarchical agent must not have a graph")
        if isinstance(high, MacroPredictor) and planner is None:
            raise AmiError("a macro-action high level needs a planner (e.g. CEMPlanner)")
        k = high.k if isinstance(high, MacroPredictor) else low.horizon
        self.low, self.high, self.planner = low, high, planner
        self.high_horizon = high_horizon
        self.every = every or k
        self.lookahead = lookahead or k
        if self.every < 1 or self.lookahead < 1 or high_horizon < 1:
            raise AmiError("every, lookahead and high_horizon must be >= 1")
        self.plan_ms: list[float] = []
        self.high_plans = 0
        self.reset()

    @property
    def kind(self) -> str:
        return "macro" if isinstance(self.high, MacroPredictor) else "graph"

    def reset(self) -> None:
        self.low.reset()
        self.subgoal: torch.Tensor | None = None
        self.high_plan: torch.Tensor | None = None  # macro-actions (H, A) of the last high plan
        self.imagined_high: torch.Tensor | None = None  # latents (H, D) the macro plan reaches
        self._age = 0
        self.generator = torch.Generator().manual_seed(self.low.seed)

    @property
    def last_imagined(self) -> torch.Tensor | None:
        return self.low.last_imagined

    @property
    def model(self) -> WorldModel:
        return self.low.model

    @property
    def last_plan(self) -> PlanResult | None:
        """The low level's latest plan toward the subgoal."""
        return self.low.last_plan

    @torch.no_grad()
    def choose_subgoal(self, z: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """The subgoal latent (D,) for latent z (D,) and goal latent (D,)."""
        self.high_plans += 1
        if isinstance(self.high, LatentGraph):
            return self.high.subgoal(z, goal, self.lookahead)
        macro, h = self.high, self.high_horizon

        def objective(actions: torch.Tensor) -> torch.Tensor:
            latents = macro.rollout(z[None].expand(actions.shape[0], -1), actions)
            return summed_distance(latents, goal)

        init = None
        if self.high_plan is not None:
            init = shift_plan(self.high_plan, 1)
        res = self.planner.plan(objective, h, self.low.low, self.low.high, init, self.generator)
        self.high_plan = res.actions.clone()
        self.imagined_high = macro.rollout(z[None], self.high_plan[None])[0]
        return self.imagined_high[0]

    def act(self, observation: np.ndarray, goal: np.ndarray | torch.Tensor) -> Decision:
        """The low level's next action toward the current subgoal (replanned every `every`
        steps); plan_ms is the whole step's planning time (high + low)."""
        t0 = time.perf_counter()
        if self.subgoal is None or self._age >= self.every:
            with torch.no_grad():
                z = encode_observation(self.low.model, observation)
                g = self.low.encode_goal(goal)
            self.subgoal = self.choose_subgoal(z, g)
            self._age = 0
        self._age += 1
        low = self.low.act(observation, self.subgoal)
        self.plan_ms.append(1000 * (time.perf_counter() - t0))
        return Decision(low.action, low.imagined, self.subgoal, self.plan_ms[-1])

    def choose_action(self, observation: np.ndarray, goal: np.ndarray | torch.Tensor):
        return self.act(observation, goal).action

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        high: str = "graph",
        *,
        planner: str = "cem",
        data: str | Path | None = None,
        macro_dir: str | Path | None = None,
        k: int = 8,
        high_horizon: int = 16,
        samples: int | None = None,
        elites: int | None = None,
        iterations: int | None = None,
        horizon: int | None = None,
        seed: int = 0,
        compile: bool = False,
    ) -> HierarchicalAgent:
        """Low-level agent from a checkpoint + a high level: a macro predictor loaded from
        `macro_dir` (default: `<checkpoint>/../macro`), trained on `data` and saved there when
        missing; or a landmark graph built from `data`."""
        from amiwm.checkpoint import resolve
        from amiwm.planning import make_planner

        if high not in HIGH_LEVELS:
            raise AmiError(f"unknown high level {high!r}; choose one of: {', '.join(HIGH_LEVELS)}")
        low = WorldModelAgent.from_checkpoint(
            path,
            planner,
            samples=samples,
            elites=elites,
            iterations=iterations,
            horizon=horizon or k,
            seed=seed,
            compile=compile,
        )
        if high == "graph":
            if data is None:
                raise AmiError("the graph high level needs an episode store (--graph-data)")
            graph = LatentGraph.from_store(low.model, Path(data))
            agent = cls(low, graph, lookahead=k, every=k)
            low.data = Path(data)
            return agent
        where = Path(macro_dir) if macro_dir else resolve(Path(path)).parent / "macro"
        if all((where / f).is_file() for f in MACRO_FILES):
            macro = MacroPredictor.load(where)
        elif data is None:
            raise AmiError(f"no macro predictor in {where} and no episode store to train one on")
        else:
            macro, _ = train_macro(low.model, data, k=k, seed=seed)
            macro.save(where)
        low.data = Path(data) if data else None
        budget = {"samples": samples, "elites": elites, "iterations": iterations}
        budget = {key: DEFAULT_BUDGET[key] if v is None else v for key, v in budget.items()}
        high_planner = make_planner(planner, **budget)
        return cls(low, macro, planner=high_planner, high_horizon=high_horizon)

    def position_probe(self, data: str | Path, episodes: int = 100):
        return self.low.position_probe(data, episodes)

    @property
    def data(self) -> Path | None:
        return self.low.data
