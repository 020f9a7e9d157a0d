"""Build the agent a checkpoint plans with, deciding where its subgoal graph comes from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from amiwm.errors import AmiError
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.base import Agent
from amiwm.planning.hierarchical import HierarchicalAgent
from amiwm.planning.wrappers import RowWindow
from amiwm.rundir import RunDir

if TYPE_CHECKING:
    from amiwm.planning.graph import LatentGraph


def graph_source(checkpoint: str | Path, graph_data: str | Path | None) -> Path | None:
    """The episode store to build a subgoal graph from: `graph_data` when given, else the
    checkpoint's training data when that is still here, else None (plan straight to the goal)."""
    if graph_data is not None:
        return Path(graph_data)
    return RunDir(checkpoint).training_data


def make_agent(
    checkpoint: str | Path,
    planner: str = "cem",
    *,
    high: str = "graph",
    samples: int | None = None,
    elites: int | None = None,
    iterations: int | None = None,
    horizon: int = 5,
    replan_every: int = 1,
    cost: str = "final",
    within_data: bool = True,
    graph: bool = True,
    graph_data: str | Path | None = None,
    latent_graph: LatentGraph | None = None,
    seed: int = 0,
    compile: bool = False,
    execute: int | None = None,
    free_state: Sequence[int] = (),
    state_cost: float = 0.0,
    state_cost_entries: Sequence[int] = (),
) -> Agent:
    """The agent of `ami-cli eval`/`plan`: planner "hierarchical" (CEM at both levels, `high` =
    "graph" or "macro") or a flat planner by name. A flat agent reaches far goals through a
    subgoal graph: `latent_graph` when given (e.g. from a memory store), else one built from
    `graph_source(checkpoint, graph_data)`; `graph=False` plans straight to the goal. A sensor
    model that encodes windows of rows takes one row at a time (RowWindow). `within_data`: a
    flat agent searches actions within the training data's range (else the env's space).
    `execute`: env actions run of each planned action block before replanning (default: the
    whole block; the block is the training store's, see WorldModelAgent). `free_state`: goal
    state entries that may take any value (a flat agent of a proprio model; WorldModelAgent).
    `state_cost`: the weight of the state the checkpoint's read-out reads in the cost, on
    `state_cost_entries` (a flat agent; amiwm.planning.state_cost)."""
    budget = {"samples": samples, "elites": elites, "iterations": iterations}
    if planner == "hierarchical" and execute is not None:
        raise AmiError("--block-steps replans a flat agent inside action blocks; use --planner cem")
    if planner == "hierarchical" and free_state:
        raise AmiError("--free-state applies to a flat agent; use --planner cem")
    if planner == "hierarchical" and state_cost:
        raise AmiError("--state-cost applies to a flat agent; use --planner cem")
    if planner == "hierarchical":
        agent: Agent = HierarchicalAgent.from_checkpoint(
            checkpoint,
            high,
            data=graph_source(checkpoint, graph_data),
            horizon=horizon,
            seed=seed,
            compile=compile,
            **budget,
        )
        return _rows_in(agent)
    data = graph_source(checkpoint, graph_data) if graph and latent_graph is None else None
    flat = WorldModelAgent.from_checkpoint(
        checkpoint,
        planner,
        horizon=horizon,
        replan_every=replan_every,
        cost=cost,
        within_data=within_data,
        graph_data=data,
        seed=seed,
        compile=compile,
        block=RunDir(checkpoint).action_block if execute is not None else 1,
        execute=execute,
        free_state=free_state,
        state_cost=state_cost,
        state_cost_entries=state_cost_entries,
        **budget,
    )
    if latent_graph is not None:
        flat.graph = latent_graph
    return _rows_in(flat)


def _rows_in(agent: WorldModelAgent | HierarchicalAgent) -> Agent:
    return RowWindow(agent, agent.model) if agent.model.config.rows_per_obs > 1 else agent
