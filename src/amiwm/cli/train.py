"""`ami-cli train`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from amiwm.cli import boolean
from amiwm.errors import AmiError


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
        (m, "context", args.context),
        (cfg.data, "time_col", args.time_col),
        (cfg.data, "group_col", args.group_col),
        (cfg.data, "action_cols", args.action_cols),
        (cfg.data, "sensor_cols", args.sensor_cols),
        (cfg.data, "missing", args.missing),
    ]
    for section, name, value in overrides:
        if value is not None:
            setattr(section, name, value)
    r = train(cfg, out, resume=args.resume, progress=not args.quiet)
    for note in r.notes:
        print(f"data: {note}")
    print(
        f"trained {r.step} steps in {r.seconds:.0f}s ({r.frames_per_s:.0f} frames/s); "
        f"loss {r.loss:.4f}, val pred {r.val_pred_loss:.4f}; checkpoint: {r.out / 'checkpoint'}"
    )


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a JEPA world model (episode store or sensor table)")
    t.add_argument(
        "--dataset",
        help="HDF5 episode store (from `ami-cli collect`), cmapss:FILE, csv:FILE or parquet:FILE",
    )
    t.add_argument("--architecture", help="model family: jepa-world-model")
    t.add_argument("--latent-dim", type=int, help="latent state size, e.g. 64 or 8192")
    t.add_argument("--objective", help="training objective: latent-state-prediction")
    t.add_argument(
        "--action-conditioning",
        type=boolean,
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
    t.add_argument("--context", type=int, help="sensors: rows of history per observation (30)")
    t.add_argument("--time-col", help="csv/parquet: time column (default: row order)")
    t.add_argument("--group-col", help="csv/parquet: unit or episode column (default: one)")
    t.add_argument("--action-cols", type=_names, help="csv/parquet: comma-separated actions")
    t.add_argument("--sensor-cols", type=_names, help="csv/parquet: comma-separated sensors")
    t.add_argument("--missing", help="missing cells: error (default) | ffill | drop")
    t.set_defaults(func=cmd_train)
