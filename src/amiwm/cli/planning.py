"""`ami-cli eval`, `plan` and `demo`."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli import Parser
from amiwm.errors import AmiError


def _agent(args: argparse.Namespace):
    from amiwm.planning.agent import WorldModelAgent
    from amiwm.training.trainer import training_store

    if args.planner == "hierarchical":
        from amiwm.planning.hierarchical import agent_from_args

        return agent_from_args(args)
    graph = None
    if getattr(args, "graph_memory", None) is not None:
        args.no_graph = True  # the graph comes from the memory store instead
    if not args.no_graph:
        graph = args.graph_data
        if graph is None:
            dataset, _ = training_store(args.checkpoint)
            graph = dataset if dataset.is_file() else None
    agent = WorldModelAgent.from_checkpoint(
        args.checkpoint,
        args.planner,
        samples=args.samples,
        elites=args.elites,
        iterations=args.iterations,
        horizon=args.horizon,
        replan_every=args.replan_every,
        cost=args.cost,
        graph_data=graph,
        seed=args.seed,
        compile=getattr(args, "compile", False),
    )
    if getattr(args, "graph_memory", None) is not None:
        from amiwm.memory import MemoryStore

        with MemoryStore(args.graph_memory, readonly=True) as memory:
            agent.graph, _ = memory.reachability_graph()
    return agent


def _remember(agent, args: argparse.Namespace):
    """Open (or create) --memory for the agent to record into; None without --memory."""
    if args.memory is None:
        return None
    from amiwm.memory import MemoryStore, checkpoint_fingerprint
    from amiwm.planning.agent import WorldModelAgent

    # a hierarchical agent acts through its low level
    low = agent if isinstance(agent, WorldModelAgent) else agent.low
    cfg = low.model.config
    memory = MemoryStore.open_or_create(
        args.memory,
        cfg.latent_dim,
        cfg.action_dim,
        args.memory_capacity,
        fingerprint=checkpoint_fingerprint(args.checkpoint),
    )
    low.remember(memory)
    return memory


def cmd_eval_protocol(args: argparse.Namespace) -> None:
    """eval --goal-offset/--budget: start and goal from held-out episodes of a store."""
    import json

    from amiwm.data.store import EpisodeStore
    from amiwm.data.windows import split_episodes
    from amiwm.planning.protocol import evaluate_protocol, format_report
    from amiwm.training.trainer import training_store

    trained, run = training_store(args.checkpoint)
    store = args.data if args.data is not None else trained
    if not Path(store).is_file():
        raise AmiError(f"episode store {store} not found; pass --data (a store of this env)")
    with EpisodeStore(store) as s:
        episodes = list(range(s.num_episodes))
    if Path(store).resolve() == Path(trained).resolve():  # only the episodes training never saw
        episodes = split_episodes(len(episodes), run.train.val_fraction, run.train.seed)[1]
    if args.graph_data is None:
        args.no_graph = True  # the protocol plans flat, straight to the goal frame
    agent = None if args.planner == "random" else _agent(args)
    report = evaluate_protocol(
        agent,
        store,
        episodes,
        env=args.env,
        offset=args.goal_offset,
        budget=args.budget,
        pairs=args.episodes or 50,
        seed=args.seed,
        tolerance=args.tolerance,
        progress=not (args.json or args.quiet),
    )
    report.update(planner=args.planner, env=args.env)
    print(json.dumps(report) if args.json else format_report(report))


def cmd_eval(args: argparse.Namespace) -> None:
    import json

    from amiwm.envs import make_env
    from amiwm.planning.episodes import RandomAgent, evaluate
    from amiwm.planning.protocol import protocol_defaults

    if protocol_defaults(args):
        return cmd_eval_protocol(args)
    args.episodes = 100 if args.episodes is None else args.episodes
    if args.episodes < 1:
        raise AmiError(f"--episodes must be >= 1, got {args.episodes}")
    env = make_env(args.env)
    agent = RandomAgent(env.action_space, args.seed) if args.planner == "random" else _agent(args)
    memory = _remember(agent, args) if args.planner != "random" else None
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
    report.update(planner=args.planner, env=args.env, seed=args.seed)
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


def cmd_plan(args: argparse.Namespace) -> None:
    import json

    import numpy as np
    from PIL import Image, UnidentifiedImageError

    images = []
    for name in (args.obs, args.goal):
        try:
            images.append(np.array(Image.open(name).convert("RGB")))
        except (OSError, UnidentifiedImageError) as exc:
            raise AmiError(f"cannot read image {name}: {exc}") from None
    args.no_graph = args.graph_data is None
    agent = _agent(args)
    result = agent.plan(images[0], images[1])
    print(
        json.dumps(
            {"actions": result.actions.tolist(), "cost": result.cost, "plan_ms": agent.plan_ms[-1]}
        )
    )


def cmd_demo(args: argparse.Namespace) -> None:
    from amiwm.demo import run_demo

    summary = run_demo(
        args.out,
        minutes=args.minutes,
        episodes=args.episodes,
        eval_episodes=args.eval_episodes,
        seed=args.seed,
        progress=not args.quiet,
    )
    ev, plan = summary["evidence"], summary["planning"]["cem+graph"]
    lo, hi = plan["success_ci95"]
    print(f"probe R^2 (latent -> x, y): {ev['probe_r2_xy']:.3f}")
    print(
        "rollout error / latent variance: "
        + ", ".join(
            f"{h} steps {e['model']:.3f} (copy {e['copy']:.3f})" for h, e in ev["rollout"].items()
        )
    )
    print(
        f"success {plan['success_rate']:.0%} (95% CI {lo:.0%}-{hi:.0%}) vs random "
        f"{summary['planning']['random']['success_rate']:.0%}; planning "
        f"{plan['plan_ms_median']:.1f} ms median"
    )
    print(
        f"report: {args.out / 'index.html'}  model: {args.out / 'model'}  "
        f"({summary['timings']['total_s'] / 60:.1f} min)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    def planning_flags(q: Parser) -> None:
        q.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
        q.add_argument(
            "--planner", default="cem", help="cem | mppi | gd | hierarchical (eval: also random)"
        )
        q.add_argument("--high", default="graph", help="hierarchical high level: graph | macro")
        q.add_argument("--samples", type=int, help="candidate sequences per iteration")
        q.add_argument("--elites", type=int, help="elites refit per iteration (cem, mppi)")
        q.add_argument("--iterations", type=int, help="planner iterations per replanning step")
        q.add_argument("--horizon", type=int, default=5, help="planned steps")
        q.add_argument("--replan-every", type=int, default=1, help="executed steps per plan")
        q.add_argument("--cost", default="final", help="final | summed latent distance to goal")
        q.add_argument(
            "--graph-data",
            type=Path,
            help="episode store for the latent subgoal graph (default: training data)",
        )
        q.add_argument("--seed", type=int, default=0)
        q.add_argument(
            "--compile", action="store_true", help="torch.compile the predictor (slow start)"
        )

    e = sub.add_parser("eval", help="goal-reaching success of a planning agent")
    planning_flags(e)
    e.add_argument("--env", default="two-rooms")
    e.add_argument("--episodes", type=int, help="episodes (default 100; protocol: 50 pairs)")
    e.add_argument("--goal-offset", type=int, help="protocol: goal = the frame N steps later")
    e.add_argument("--budget", type=int, help="protocol: env steps allowed per pair")
    e.add_argument("--data", type=Path, help="protocol: store of pairs (default: training data)")
    e.add_argument("--tolerance", type=float, help="protocol: state tolerance (outside envs)")
    e.add_argument("--distance", type=float, help="goal distance in steps (default: other room)")
    e.add_argument("--no-graph", action="store_true", help="flat planning straight to the goal")
    e.add_argument("--memory", type=Path, help="record every transition into this memory store")
    e.add_argument("--memory-capacity", type=int, default=1_000_000, help="records kept")
    e.add_argument("--graph-memory", type=Path, help="subgoal graph from a memory store")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--video", type=Path, help="write the first episode as a GIF")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_eval)

    pl = sub.add_parser("plan", help="plan actions from a start image to a goal image")
    planning_flags(pl)
    pl.add_argument("--obs", type=Path, required=True, help="start observation (PNG)")
    pl.add_argument("--goal", type=Path, required=True, help="goal observation (PNG)")
    pl.set_defaults(func=cmd_plan)

    dm = sub.add_parser("demo", help="collect, train, evaluate and report on two-rooms")
    dm.add_argument("--out", type=Path, default=Path("amiwm-demo"))
    dm.add_argument("--minutes", type=float, default=9.0, help="training budget")
    dm.add_argument("--episodes", type=int, default=400, help="episodes to collect")
    dm.add_argument("--eval-episodes", type=int, default=30)
    dm.add_argument("--seed", type=int, default=0)
    dm.add_argument("--quiet", action="store_true")
    dm.set_defaults(func=cmd_demo)
