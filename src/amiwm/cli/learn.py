"""`ami-cli learn`: fine-tune a world model from its agent's persistent memory."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_learn(args: argparse.Namespace) -> None:
    from amiwm.memory.learn import LearnConfig, learn

    cfg = LearnConfig()
    for name in ("steps", "batch_size", "lr", "replay_fraction", "replay_windows", "holdout"):
        value = getattr(args, name)
        if value is not None:
            setattr(cfg, name, value)
    if args.seed is not None:
        cfg.seed = args.seed
    r = learn(
        args.checkpoint, args.memory, args.out, cfg, replay=args.replay, progress=not args.quiet
    )
    for note in r.notes:
        print(f"note: {note}")
    print(r.summary())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "learn",
        help="fine-tune a world model from persistent memory (encoder frozen, with rehearsal)",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint or run directory")
    p.add_argument("--memory", type=Path, required=True, help="memory store directory")
    p.add_argument("--out", type=Path, required=True, help="new run directory (must not exist)")
    p.add_argument("--steps", type=int, help="optimizer steps (500)")
    p.add_argument("--batch-size", type=int, help="windows per step (64)")
    p.add_argument("--lr", type=float, help="peak learning rate (3e-4)")
    p.add_argument(
        "--replay-fraction",
        type=float,
        help="share of each batch replayed from the original training data (0.5; 0 = none)",
    )
    p.add_argument(
        "--replay", type=Path, help="episode store to rehearse (default: the training data)"
    )
    p.add_argument("--replay-windows", type=int, help="windows encoded for rehearsal (4096)")
    p.add_argument(
        "--holdout", type=float, help="share of memory episodes kept out to report on (0.1)"
    )
    p.add_argument("--seed", type=int, help="random seed (0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_learn)
