"""The world-model agent: encode, imagine candidate futures, pick actions (receding-horizon MPC)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from amiwm.envs.blocks import check_block, check_execute
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.planning.base import Decision, Planner, PlanResult, shift_plan
from amiwm.planning.costs import final_distance, summed_distance
from amiwm.planning.free_goal import FreeGoal
from amiwm.planning.observations import encode_observation, split_observation
from amiwm.planning.state_cost import StateCost, extender

if TYPE_CHECKING:
    from amiwm.planning.graph import LatentGraph

COSTS = ("final", "summed")
# Planner budget per replanning step, chosen by benchmarks/planning.py (see README).
DEFAULT_BUDGET = {"samples": 64, "elites": 8, "iterations": 4}


class WorldModelAgent:
    """choose_action(observation, goal): encoder -> predictor rollouts -> planner.

    Observations and goals are arrays, or for a model trained with robot state (``--proprio``)
    dicts ``{"pixels": frame, "state": vector}`` (amiwm.planning.observations).

    Plans `horizon` actions, executes the first `replan_every`, then replans warm-started from
    the rest of the previous plan. When a model action is a block of `block` env actions (a
    store collected with action blocks), `execute` < `block` replans after the first `execute`
    env actions of the first block (the env runs only those: ActionBlocks(env, block, execute)),
    closing the loop at the env's rate with a model that imagines whole blocks. A predictor
    that reads history (the transformer) imagines from the last `history` latents of the
    episode and the actions taken between them, so what one frame does not show (a velocity)
    is seen; the Markov MLP from the current latent.
    Continuous actions are searched within the range of the model's training data
    (`within_data`, the default) or the env's whole action space, or within `low`/`high`. With
    `action_names` and a DiscretePlanner over their action vectors (K, A), the agent picks
    among named actions and returns names. With a `graph` (a LatentGraph of remembered latent
    states) far goals are reached through subgoals found on the graph. Costs: "final" (latent
    distance to the goal at the last step) or "summed" (over the horizon). For a model that
    takes the robot state, `free_state` names goal state entries that may take any value (a
    reacher's joint velocities, when only the pose matters): the goal becomes a set of latents
    (amiwm.planning.free_goal) and each imagined latent is scored by its nearest member. A
    `state_cost` (a model trained with its state as a target) adds the distance of the state
    its read-out reads from the imagined and the goal latents (amiwm.planning.state_cost).

    Wrappers (amiwm.planning.wrappers) add the rest: `RowWindow` feeds a sensor model one row
    at a time, `Recorder` appends every transition to a persistent memory store.
    """

    def __init__(
        self,
        world_model: WorldModel,
        planner: Planner,
        *,
        horizon: int = 5,
        replan_every: int = 1,
        cost: str = "final",
        low: Sequence[float] | None = None,
        high: Sequence[float] | None = None,
        within_data: bool = True,
        action_names: Sequence[str] | None = None,
        graph: LatentGraph | None = None,
        seed: int = 0,
        compile: bool = False,
        block: int = 1,
        execute: int | None = None,
        free_state: Sequence[int] = (),
        state_cost: StateCost | None = None,
    ) -> None:
        cfg = world_model.config
        if not cfg.action_conditioning or cfg.action_dim < 1:
            raise AmiError("this checkpoint was trained without actions; it cannot plan actions")
        if cost not in COSTS:
            raise AmiError(f"unknown cost {cost!r}; choose one of: {', '.join(COSTS)}")
        if horizon < 1 or not 1 <= replan_every <= horizon:
            raise AmiError(
                f"need horizon >= 1 and 1 <= replan_every <= horizon, got "
                f"{horizon} and {replan_every}"
            )
        self.model = world_model.eval()
        if compile:  # in place, fixed shapes: the first plans pay for compilation
            self.model.predictor.compile(dynamic=False)
        self.planner = planner
        self.horizon = horizon
        self.replan_every = replan_every
        self.cost = final_distance if cost == "final" else summed_distance
        self.action_names = list(action_names) if action_names is not None else None
        bounds = cfg.planning_bounds(within_data)
        lo = low if low is not None else bounds[0]
        hi = high if high is not None else bounds[1]
        self.low = torch.as_tensor(lo, dtype=torch.float32)
        self.high = torch.as_tensor(hi, dtype=torch.float32)
        markov = getattr(getattr(self.model, "predictor", None), "markov", True)
        self.context = 1 if markov else max(1, cfg.history)  # latents imagined from
        self.block = check_block(block)
        self.execute = check_execute(execute, self.block)
        if cfg.action_dim % self.block:
            raise AmiError(f"{cfg.action_dim} action values are not blocks of {self.block}")
        if self.execute < self.block and (
            replan_every != 1 or self.context > 1 or action_names is not None
        ):
            raise AmiError(
                "replanning inside an action block (--block-steps) needs a Markov predictor "
                "(model.predictor=mlp), continuous actions and --replan-every 1"
            )
        self.free_goal = FreeGoal(cfg, free_state) if free_state else None
        self.state_cost = state_cost
        self.graph = graph
        self.data: Path | None = None  # episode store the graph was built from, if any
        self.seed = seed
        self.plan_ms: list[float] = []
        self.reset()

    def reset(self) -> None:
        """Forget the current plan (call at the start of every episode)."""
        self._plan: torch.Tensor | None = None
        self._indices: torch.Tensor | None = None
        self._queue: list[int] = []
        self.last_plan: PlanResult | None = None
        self.subgoal: torch.Tensor | None = None
        self._imagined: torch.Tensor | None = None
        self._past: list[torch.Tensor] = []  # latents seen this episode (the last `context`)
        self._taken: list[torch.Tensor] = []  # the actions taken between them
        self.generator = torch.Generator().manual_seed(self.seed)
        self._goal_set: tuple[Any, torch.Tensor] | None = None  # (goal's bytes, its latents)

    @torch.no_grad()
    def encode_goal(self, goal: Any) -> torch.Tensor:
        """A goal observation (for a proprio model a dict, see amiwm.planning.observations) or a
        goal latent (D,) -> goal latent (D,); with `free_state` a dict goal gives the set of
        goal latents (K, D), the goal as given first."""
        if not isinstance(goal, Mapping):
            g = torch.as_tensor(goal)
            d = self.model.config.latent_dim
            if g.ndim == 1 and g.shape[0] == d and g.is_floating_point():
                return g.float()
        if self.free_goal is None or not isinstance(goal, Mapping):
            return encode_observation(self.model, goal)
        obs, state = split_observation(self.model, goal)
        key = (np.asarray(obs).tobytes(), np.asarray(state, dtype=np.float32).tobytes())
        if self._goal_set is None or self._goal_set[0] != key:  # a new goal: encode its set
            states = self.free_goal.states(state)
            frames = torch.as_tensor(obs)[None].expand(len(states), *np.shape(obs))
            self._goal_set = (key, self.model.encode(frames, states))
        return self._goal_set[1]

    @property
    def last_imagined(self) -> torch.Tensor | None:
        """Latents (H, D) the model imagines for the current plan (for drawing and debugging)."""
        return self._imagined

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        planner: str = "cem",
        *,
        samples: int | None = None,
        elites: int | None = None,
        iterations: int | None = None,
        horizon: int = 5,
        replan_every: int = 1,
        cost: str = "final",
        within_data: bool = True,
        graph_data: str | Path | None = None,
        seed: int = 0,
        compile: bool = False,
        block: int = 1,
        execute: int | None = None,
        free_state: Sequence[int] = (),
        state_cost: float = 0.0,
        state_cost_entries: Sequence[int] = (),
    ) -> WorldModelAgent:
        """Load a model, build a planner by name and, given an episode store, a latent graph;
        `state_cost` > 0: the weight of the checkpoint's state read-out in the cost, on
        `state_cost_entries` (default all it reads; StateCost)."""
        from amiwm.planning import make_planner
        from amiwm.planning.graph import LatentGraph

        reads = StateCost.optional(path, state_cost, state_cost_entries)
        model = WorldModel.from_pretrained(path)
        # checked here as well as in __init__: the error names the path and comes before the
        # (slow) graph is built
        if not model.config.action_conditioning or model.config.action_dim < 1:
            raise AmiError(f"{path} was trained without actions; it cannot plan actions")
        budget = {"samples": samples, "elites": elites, "iterations": iterations}
        budget = {k: DEFAULT_BUDGET[k] if v is None else v for k, v in budget.items()}
        if planner in ("gd", "gradient") and iterations is None:
            budget["iterations"] = 10
        plan = make_planner(planner, **budget)
        graph = LatentGraph.from_store(model, Path(graph_data)) if graph_data else None
        agent = cls(
            model,
            plan,
            horizon=horizon,
            replan_every=replan_every,
            cost=cost,
            within_data=within_data,
            graph=graph,
            seed=seed,
            compile=compile,
            block=block,
            execute=execute,
            free_state=free_state,
            state_cost=reads,
        )
        agent.data = Path(graph_data) if graph_data else None
        return agent

    def position_probe(self, data: str | Path, episodes: int = 100):
        """A linear read-out latent -> true state (e.g. x, y) fitted on a store, for drawing."""
        from amiwm.data.store import EpisodeStore
        from amiwm.evaluation import encode_episodes, ridge_fit, ridge_predict

        with EpisodeStore(Path(data)) as store:
            n = min(episodes, store.num_episodes)
        z, states = encode_episodes(self.model, Path(data), range(n))
        if not len(states):
            raise AmiError(f"{data} has no states to fit a position read-out on")
        mu, sd = z.mean(0), z.std(0) + 1e-6
        w = ridge_fit((z - mu) / sd, states)

        def probe(latents: torch.Tensor) -> np.ndarray:
            x = torch.as_tensor(latents).float().numpy()
            return ridge_predict(w, (x - mu) / sd)

        return probe

    def _remember(self, z: torch.Tensor) -> None:
        """Keep the latent of the observation acted on now (one per action taken)."""
        if len(self._past) > len(self._taken):  # planned again before acting: same step
            self._past[-1] = z
        else:
            self._past.append(z)
        k = self.context
        self._past, self._taken = self._past[-k:], self._taken[-(k - 1) :] if k > 1 else []

    def act(self, observation: Any, goal: Any) -> Decision:
        """The next action, the plan's imagined latents, the subgoal and the planning time."""
        planned = None
        if not self._queue:
            self.plan(observation, goal)
            planned = self.plan_ms[-1]
        elif self.context > 1:
            with torch.no_grad():
                self._remember(encode_observation(self.model, observation))
        i = self._queue.pop(0)
        if self.context > 1:
            self._taken.append(self._plan[i].clone())
        vector = self._plan[i].numpy().astype(np.float32)
        if self.action_names is not None and self._indices is not None:
            name = self.action_names[int(self._indices[i])]
            return Decision(name, self._imagined, self.subgoal, planned, action_vector=vector)
        return Decision(vector, self._imagined, self.subgoal, planned)

    def choose_action(self, observation: Any, goal: Any):
        """The next action (a float32 array, or a name for named actions)."""
        return self.act(observation, goal).action

    def plan(self, observation: Any, goal: Any) -> PlanResult:
        """Plan `horizon` actions from the observation toward the goal; queue the first ones."""
        t0 = time.perf_counter()
        with torch.no_grad():  # not inference_mode: the gradient planner differentiates later
            z = encode_observation(self.model, observation)[None]  # (1, D)
            target = self.encode_goal(goal)  # (D,), or a set (K, D) with free_state
            if self.graph is not None:
                target = self.graph.subgoal(z[0], target if target.ndim == 1 else target[0],
                                            self.horizon)  # fmt: skip
            self.subgoal = target if target.ndim == 1 else target[0]
            if target.ndim == 2:
                target = target[None]  # a set of goal latents (1, K, D)
            extend = extender(self.state_cost)
            target = extend(target)
            self._remember(z[0])
            ctx = torch.stack(self._past)[None]  # (1, h, D): h - 1 earlier latents, then z
            empty = torch.zeros(1, 0, len(self.low))
            taken = torch.stack(self._taken)[None] if self._taken else empty  # (1, h - 1, A)

        def objective(actions: torch.Tensor) -> torch.Tensor:
            n = actions.shape[0]
            full = torch.cat([taken.expand(n, -1, -1), actions], 1)
            latents = self.model.rollout_latents(ctx.expand(n, -1, -1), full)
            return self.cost(extend(latents), target)

        init = None
        if self._plan is not None and self.execute < self.block:  # shift by env actions
            h = self._plan.shape[0]
            init = shift_plan(self._plan.reshape(h * self.block, -1), self.execute)
            init = init.reshape(h, -1)
        elif self._plan is not None:
            init = shift_plan(self._plan, self.replan_every)
            if self._indices is not None:
                init = shift_plan(self._indices[:, None].float(), self.replan_every)[:, 0].long()
        result = self.planner.plan(
            objective, self.horizon, self.low, self.high, init, self.generator
        )
        self._plan, self._indices = result.actions.clone(), result.indices
        self._queue = list(range(self.replan_every))
        self.last_plan = result
        self.plan_ms.append(1000 * (time.perf_counter() - t0))
        with torch.no_grad():
            full = torch.cat([taken, self._plan[None]], 1)
            self._imagined = self.model.rollout_latents(ctx, full)[0]
        return result
