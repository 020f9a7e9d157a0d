"""`ami-cli eval`: goal-reaching success of a planning agent in an environment."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import Parser
from amiwm.errors import AmiError


def make_agent_from(args: argparse.Namespace, graph: bool = True):
    from amiwm.planning.build import make_agent

    latent_graph = None
    if getattr(args, "graph_memory", None) is not None:
        from amiwm.memory import MemoryStore

        with MemoryStore(args.graph_memory, readonly=True) as memory:
            latent_graph, _ = memory.reachability_graph()
    return make_agent(
        args.checkpoint,
        args.planner,
        high=args.high,
        samples=args.samples,
        elites=args.elites,
        iterations=args.iterations,
        horizon=5 if args.horizon is None else args.horizon,
        replan_every=args.replan_every,
        cost=args.cost or "final",
        within_data=args.action_range == "data",
        graph=graph,
        graph_data=args.graph_data,
        latent_graph=latent_graph,
        seed=args.seed,
        compile=args.compile,
        execute=getattr(args, "block_steps", None),
        free_state=getattr(args, "free_state", None) or (),
        state_cost=args.state_cost or 0.0,
        state_cost_entries=args.state_cost_entries or (),
    )


def planning_flags(q: Parser) -> None:
    """Flags shared by eval and plan: checkpoint, planner, budget, graph."""
    q.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
    q.add_argument(
        "--planner", default="cem", help="cem | mppi | gd | hierarchical (eval: also random)"
    )
    q.add_argument("--high", default="graph", help="hierarchical high level: graph | macro")
    q.add_argument("--samples", type=int, help="candidate sequences per iteration")
    q.add_argument("--elites", type=int, help="elites refit per iteration (cem, mppi)")
    q.add_argument("--iterations", type=int, help="planner iterations per replanning step")
    q.add_argument("--horizon", type=int, help="planned steps (default 5; eval: the env's recipe)")
    q.add_argument(
        "--action-range",
        choices=("data", "env"),
        default="data",
        help="search actions within the training data's range (default) or the env's space",
    )
    q.add_argument("--replan-every", type=int, default=1, help="executed steps per plan")
    q.add_argument("--cost", help="final | summed latent distance to goal (default final; eval: "
                   "the env's recipe)")  # fmt: skip
    q.add_argument(
        "--graph-data",
        type=Path,
        help="episode store for the latent subgoal graph (default: training data)",
    )
    q.add_argument(
        "--state-cost",
        type=float,
        help="weight of the distance of the state the model's read-out reads (a model trained "
        "with train.state_weight; default 0, eval: the env's recipe)",
    )
    q.add_argument(
        "--state-cost-entries",
        type=state_indices,
        help="state entries --state-cost measures, e.g. 0,1 (default: all the read-out reads; "
        "eval: the env's recipe)",
    )
    q.add_argument("--seed", type=int, default=0)
    q.add_argument(
        "--compile", action="store_true", help="torch.compile the predictor (slow start)"
    )


def _remember(agent, args: argparse.Namespace):
    """The agent recording into --memory (created if needed), and the store; or (agent, None)."""
    if args.memory is None:
        return agent, None
    from amiwm.memory import MemoryStore, checkpoint_fingerprint
    from amiwm.planning.wrappers import Recorder

    cfg = agent.model.config
    memory = MemoryStore.open_or_create(
        args.memory,
        cfg.latent_dim,
        cfg.action_dim,
        args.memory_capacity,
        fingerprint=checkpoint_fingerprint(args.checkpoint),
    )
    return Recorder(agent, agent.model, memory), memory


def cmd_eval_protocol(args: argparse.Namespace, offset: int, budget: int) -> None:
    """eval --goal-offset/--budget: start and goal from held-out episodes of a store."""
    import json

    from amiwm.planning.protocol import evaluate_protocol, format_report, held_out_source

    store, episodes = held_out_source(args.checkpoint, args.data)
    if args.graph_data is not None and Path(args.graph_data).resolve() == store.resolve():
        raise AmiError(
            f"--graph-data {args.graph_data} is the store the goals are drawn from: its subgoals "
            "would include the goals' own episodes; pass a store of other episodes"
        )
    # the protocol plans flat, straight to the goal frame, unless given a graph store
    agent = None if args.planner == "random" else make_agent_from(args, args.graph_data is not None)
    report = evaluate_protocol(
        agent,
        store,
        episodes,
        env=args.env,
        offset=offset,
        budget=budget,
        pairs=args.episodes or 50,
        seed=args.seed,
        tolerance=args.tolerance,
        progress=not (args.json or args.quiet),
        execute=args.block_steps,
    )
    report.update(
        planner=args.planner,
        env=args.env,
        horizon=args.horizon,
        cost=args.cost,
        free_state=list(args.free_state or ()),
        state_cost=args.state_cost or 0.0,
        state_cost_entries=list(args.state_cost_entries or ()),
    )
    print(json.dumps(report) if args.json else format_report(report))


def recorded_env(checkpoint: Path) -> str | None:
    """The environment a checkpoint's training data came from (None: not known)."""
    from amiwm.rundir import RunDir

    try:
        return RunDir(checkpoint).env_id
    except AmiError:
        return None


def state_indices(value: str) -> list[int]:
    """The argparse type of --free-state and --state-cost-entries: comma-separated state entry
    indices."""
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise AmiError(f"state entries are indices like 2,3, got {value!r}") from None


def _action_block(checkpoint: Path) -> int:
    from amiwm.rundir import RunDir

    try:
        return RunDir(checkpoint).action_block
    except AmiError:
        return 1


def cmd_eval(args: argparse.Namespace) -> None:
    import json

    from amiwm.demo import recipe_for, recipe_free_state, recipe_state_cost
    from amiwm.envs import make_env
    from amiwm.planning.episodes import RandomAgent, check_action_space, evaluate
    from amiwm.planning.protocol import protocol_settings

    if args.env is None:
        args.env = recorded_env(args.checkpoint) or "two-rooms"
    found = recipe_for(args.env)  # the planner the env's demo recipe evaluates with
    if found is not None:
        args.horizon = found[1].horizon if args.horizon is None else args.horizon
        args.cost = found[1].cost if args.cost is None else args.cost
        if args.free_state is None and args.planner != "random":
            # a proprio reacher model: the goal is the pose, at any joint velocity
            args.free_state = list(recipe_free_state(found[1], args.checkpoint))
        if args.state_cost is None and args.planner != "random":
            # a model trained with its state as a target: plan in the state it reads too
            weight, entries = recipe_state_cost(found[1], args.checkpoint)
            args.state_cost = weight
            args.state_cost_entries = args.state_cost_entries or list(entries) or None
    protocol = protocol_settings(args.env, args.goal_offset, args.budget, args.tolerance)
    if protocol is not None:
        return cmd_eval_protocol(args, *protocol)
    args.episodes = 100 if args.episodes is None else args.episodes

    if args.episodes < 1:
        raise AmiError(f"--episodes must be >= 1, got {args.episodes}")
    env = make_env(args.env)
    block = _action_block(args.checkpoint)
    if block > 1:  # the model plans blocks of env actions: each is executed as `block` steps
        from amiwm.envs.blocks import ActionBlocks

        env = ActionBlocks(env, block, args.block_steps)
    elif args.block_steps not in (None, 1):
        raise AmiError(f"{args.checkpoint} plans single env actions; --block-steps does not apply")
    if args.planner == "random":
        agent = RandomAgent(env.action_space, args.seed)
    else:
        agent = make_agent_from(args, graph=not args.no_graph)
        check_action_space(agent.model.config, env.action_space, args.env)
    agent, memory = _remember(agent, args) if args.planner != "random" else (agent, None)
    probe = None
    if args.video and args.planner != "random" and agent.data is not None:
        probe = agent.position_probe(agent.data)
    report = evaluate(
        agent,
        env,
        args.episodes,
        seed=args.seed,
        distance=args.distance,
        video=args.video,
        probe=probe,
        progress=not (args.json or args.quiet),
    )
    report.update(
        planner=args.planner, env=args.env, seed=args.seed, horizon=args.horizon, cost=args.cost
    )
    if memory is not None:
        report["memory"] = {"path": str(args.memory), "records": len(memory)}
        memory.close()
    if args.json:
        print(json.dumps(report))
        return
    lo, hi = report["success_ci95"]
    steps = report["mean_steps_to_goal"]
    print(
        f"success {report['success_rate']:.1%} ({report['successes']}/{report['episodes']}; "
        f"95% CI {lo:.1%}-{hi:.1%})"
    )
    print(f"mean steps to goal {steps:.1f}" if steps is not None else "mean steps to goal -")
    if report["plan_ms_median"] is not None:
        print(
            f"planning {report['plan_ms_median']:.1f} ms median, "
            f"{report['plan_ms_p95']:.1f} ms p95 per replanning step"
        )
    if args.video:
        print(f"video: {args.video}")
    if memory is not None:
        print(f"memory: {report['memory']['records']} transitions in {args.memory}")


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="goal-reaching success of a planning agent")
    planning_flags(e)
    e.add_argument("--env", help="environment (default: the training data's, else two-rooms)")
    e.add_argument("--episodes", type=int, help="episodes (default 100; protocol: 50 pairs)")
    e.add_argument("--goal-offset", type=int, help="protocol: goal = the frame N steps later")
    e.add_argument("--budget", type=int, help="protocol: env steps allowed per pair")
    e.add_argument("--data", type=Path, help="protocol: store of pairs (default: training data)")
    e.add_argument("--tolerance", type=float, help="protocol: state tolerance (outside envs)")
    e.add_argument(
        "--block-steps",
        type=int,
        help="env steps run of each planned action block before replanning (default: the "
        "whole block)",
    )
    e.add_argument(
        "--free-state",
        type=state_indices,
        help="goal state entries that may take any value, e.g. 2,3 (a proprio model; default: "
        "the env's recipe, reacher's joint velocities)",
    )
    e.add_argument("--distance", type=float, help="goal distance in steps (default: other room)")
    e.add_argument("--no-graph", action="store_true", help="flat planning straight to the goal")
    e.add_argument("--memory", type=Path, help="record every transition into this memory store")
    e.add_argument("--memory-capacity", type=int, default=1_000_000, help="records kept")
    e.add_argument("--graph-memory", type=Path, help="subgoal graph from a memory store")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--video", type=Path, help="write the first episode as a GIF")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)
