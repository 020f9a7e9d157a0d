"""`ami-cli plan`: plan actions from a start image toward a goal image."""

from __future__ import annotations

import argparse
from pathlib import Path

from amiwm.cli.eval import make_agent_from, planning_flags


def cmd_plan(args: argparse.Namespace) -> None:
    import json

    from amiwm.frames import read_image

    agent = make_agent_from(args, graph=args.graph_data is not None)
    channels = int(agent.model.config.obs_shape[-1])  # a grayscale model reads PNGs as L
    images = [read_image(name, channels) for name in (args.obs, args.goal)]
    decision = agent.act(images[0], images[1])
    result = agent.last_plan
    print(
        json.dumps(
            {"actions": result.actions.tolist(), "cost": result.cost, "plan_ms": decision.plan_ms}
        )
    )


def register(sub: argparse._SubParsersAction) -> None:
    pl = sub.add_parser("plan", help="plan actions from a start image to a goal image")
    planning_flags(pl)
    pl.add_argument("--obs", type=Path, required=True, help="start observation (PNG)")
    pl.add_argument("--goal", type=Path, required=True, help="goal observation (PNG)")
    pl.set_defaults(func=cmd_plan)
