"""`ami-cli`: parses flags, calls the Python API, formats output. No logic of its own."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from amiwm.errors import AmiError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as a one-line AmiError instead of usage + exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise AmiError(f"{self.prog}: {message} (see --help)")


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "yes", "1", "on"):
        return True
    if v in ("false", "no", "0", "off"):
        return False
    raise AmiError(f"--action-conditioning must be true or false, got {value!r}")


# ----------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> None:
    from amiwm.checkpoint import read_json
    from amiwm.config import RunConfig, load_config_file
    from amiwm.training.trainer import train

    out = args.out
    if out is None:
        if args.resume:
            raise AmiError("--resume needs --out DIR, the run to continue")
        out = Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    if args.config is not None:
        cfg = load_config_file(args.config)
    elif args.resume and (out / "config.json").exists():
        cfg = RunConfig.from_dict(read_json(out / "config.json"))
    else:
        cfg = RunConfig()
    m, t = cfg.model, cfg.train
    overrides = [
        (cfg, "dataset", args.dataset),
        (m, "architecture", args.architecture),
        (m, "latent_dim", args.latent_dim),
        (t, "objective", args.objective),
        (m, "action_conditioning", args.action_conditioning),
        (t, "precision", args.precision),
        (t, "steps", args.steps),
        (t, "epochs", args.epochs),
        (t, "batch_size", args.batch_size),
        (t, "lr", args.lr),
        (t, "seed", args.seed),
    ]
    for section, name, value in overrides:
        if value is not None:
            setattr(section, name, value)
    r = train(cfg, out, resume=args.resume, progress=not args.quiet)
    print(
        f"trained {r.step} steps in {r.seconds:.0f}s ({r.frames_per_s:.0f} frames/s); "
        f"loss {r.loss:.4f}, val pred {r.val_pred_loss:.4f}; checkpoint: {r.out / 'checkpoint'}"
    )


def cmd_collect(args: argparse.Namespace) -> None:
    from amiwm.data.collect import collect

    path = collect(
        args.env,
        args.episodes,
        args.steps,
        args.out,
        policy=args.policy,
        seed=args.seed,
        frame_size=args.frame_size,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(f"wrote {path}")


def cmd_data_inspect(args: argparse.Namespace) -> None:
    from amiwm.data.store import EpisodeStore, format_summary

    with EpisodeStore(args.path) as store:
        print(format_summary(store.summary()))


def _agent(args: argparse.Namespace):
    from amiwm.checkpoint import read_json, resolve
    from amiwm.planning.agent import WorldModelAgent

    graph = None
    if not args.no_graph:
        graph = args.graph_data
        if graph is None:
            dataset = read_json(resolve(args.checkpoint) / "config.json").get("dataset")
            graph = dataset if dataset and Path(dataset).is_file() else None
    return WorldModelAgent.from_checkpoint(
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
    )


def cmd_eval(args: argparse.Namespace) -> None:
    import json

    from amiwm.envs import make_env
    from amiwm.planning.episodes import RandomAgent, evaluate

    if args.episodes < 1:
        raise AmiError(f"--episodes must be >= 1, got {args.episodes}")
    env = make_env(args.env)
    agent = RandomAgent(env.action_space, args.seed) if args.planner == "random" else _agent(args)
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


# ----------------------------------------------------------------------------- parser
def build_parser() -> Parser:
    p = Parser(prog="ami-cli", description="amiwm: JEPA world models that predict latents.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    t = sub.add_parser("train", help="train a JEPA world model on an episode store")
    t.add_argument("--dataset", help="HDF5 episode store (from `ami-cli collect`)")
    t.add_argument("--architecture", help="model family: jepa-world-model")
    t.add_argument("--latent-dim", type=int, help="latent state size, e.g. 64 or 8192")
    t.add_argument("--objective", help="training objective: latent-state-prediction")
    t.add_argument(
        "--action-conditioning",
        type=_bool,
        metavar="true|false",
        help="condition the predictor on actions",
    )
    t.add_argument("--precision", help="fp32 | bf16 (bf16 autocast)")
    t.add_argument("--steps", type=int, help="optimizer steps")
    t.add_argument(
        "--epochs", type=float, help="passes over the training windows (overrides --steps)"
    )
    t.add_argument("--batch-size", type=int, help="windows per step")
    t.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    t.add_argument("--seed", type=int, help="random seed: same seed, same weights on CPU")
    t.add_argument("--out", type=Path, help="run directory (checkpoint, metrics, TensorBoard)")
    t.add_argument("--config", type=Path, help="YAML config (dataset/model/train); flags override")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("collect", help="collect episodes from an environment into HDF5")
    c.add_argument("--env", default="two-rooms", help="two-rooms or a Gymnasium id (rgb_array)")
    c.add_argument("--episodes", type=int, default=100)
    c.add_argument("--steps", type=int, default=100, help="steps per episode")
    c.add_argument("--out", type=Path, default=Path("data.h5"))
    c.add_argument("--policy", default="drift", help="drift (two-rooms) or random")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--frame-size", type=int, default=64)
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_collect)

    def planning_flags(q: Parser) -> None:
        q.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run dir")
        q.add_argument("--planner", default="cem", help="cem | mppi | gd (eval: also random)")
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

    e = sub.add_parser("eval", help="goal-reaching success of a planning agent")
    planning_flags(e)
    e.add_argument("--env", default="two-rooms")
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--distance", type=float, help="goal distance in steps (default: other room)")
    e.add_argument("--no-graph", action="store_true", help="flat planning straight to the goal")
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

    d = sub.add_parser("data", help="inspect episode stores")
    dsub = d.add_subparsers(dest="data_command", metavar="COMMAND", parser_class=Parser)
    i = dsub.add_parser("inspect", help="print a summary of an episode store")
    i.add_argument("path", type=Path)
    i.set_defaults(func=cmd_data_inspect)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and a non-zero exit."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        func: Callable[[argparse.Namespace], None] | None = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return 2
        func(args)
    except AmiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted (a training run continues with --resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
