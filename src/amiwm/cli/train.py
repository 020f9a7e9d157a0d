"""`ami-cli train`."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from amiwm.cli import boolean, boolean_for, names
from amiwm.errors import AmiError

ROBOT_FLAGS = (
    "frame_size",
    "resize",
    "camera",
    "frameskip",
    "action_combine",
    "frames_key",
    "actions_key",
    "state_key",
    "episodes_key",
)


# flags that set a config field (``--set SECTION.KEY=VALUE`` reaches every other field)
FLAG_KEYS = {
    "dataset": "dataset",
    "architecture": "model.architecture",
    "latent_dim": "model.latent_dim",
    "objective": "train.objective",
    "action_conditioning": "model.action_conditioning",
    "proprio": "model.proprio",
    "precision": "train.precision",
    "steps": "train.steps",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "seed": "train.seed",
    "context": "model.context",
    "time_col": "data.time_col",
    "group_col": "data.group_col",
    "action_cols": "data.action_cols",
    "sensor_cols": "data.sensor_cols",
    "missing": "data.missing",
    **{k: f"data.{k}" for k in ROBOT_FLAGS},
}


def cmd_train(args: argparse.Namespace) -> int | None:
    from amiwm.checkpoint import read_json
    from amiwm.config import RunConfig, load_config_file
    from amiwm.training import distributed
    from amiwm.training.trainer import train

    out = args.out
    if out is None:
        if args.resume:
            raise AmiError("--resume needs --out DIR, the run to continue")
        out = Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise AmiError(f"--max-minutes must be positive, got {args.max_minutes}")
    if args.nproc is not None:
        if args.nproc < 1:
            raise AmiError(f"--nproc must be >= 1, got {args.nproc}")
        if "WORLD_SIZE" not in os.environ and args.nproc > 1:
            distributed.check_devices(args.device, args.nproc)
            # one run directory for every process, decided here
            argv = _without_nproc(args.argv[1:]) + ([] if args.out else ["--out", str(out)])
            return distributed.launch(args.nproc, "amiwm.cli", ["train", *argv])
        if int(os.environ.get("WORLD_SIZE", "1")) != args.nproc:
            raise AmiError(
                f"--nproc {args.nproc} but torchrun started {os.environ['WORLD_SIZE']} processes"
            )
    if args.config is not None:
        cfg = load_config_file(args.config)
    elif args.resume and (out / "config.json").exists():
        cfg = RunConfig.from_dict(read_json(out / "config.json"))
    else:
        cfg = RunConfig()
    for flag, key in FLAG_KEYS.items():
        if getattr(args, flag) is not None:
            cfg.set(key, getattr(args, flag))
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise AmiError(f"--set {item!r}: write SECTION.KEY=VALUE, e.g. train.lr=3e-4")
        cfg.set(key.strip(), value.strip())
    r = train(
        cfg,
        out,
        resume=args.resume,
        progress=not args.quiet,
        device=args.device,
        max_seconds=None if args.max_minutes is None else args.max_minutes * 60,
    )
    if distributed.launched_rank() != 0:
        return None
    for note in r.notes:
        print(f"data: {note}")
    print(
        f"trained {r.step} steps in {r.seconds:.0f}s ({r.frames_per_s:.0f} frames/s); "
        f"loss {r.loss:.4f}, val pred {r.val_pred_loss:.4f}; checkpoint: {r.out / 'checkpoint'}"
    )


def add_corpus_flags(p: argparse.ArgumentParser, import_flags: bool = True) -> None:
    """Flags of robot corpora (``--dataset DIR``); ``ami-cli data inspect`` takes the keys."""
    if import_flags:
        p.add_argument("--frame-size", type=int, help="robot corpora: model frames are NxN (64)")
        p.add_argument(
            "--resize", help="fit camera frames to --frame-size: crop (default) | pad | stretch"
        )
        p.add_argument(
            "--frameskip", type=int, help="robot corpora: keep every k-th frame (default 1)"
        )
        p.add_argument(
            "--action-combine",
            help="with --frameskip k, the k actions between kept frames: concat (an action "
            "block, default) | sum (delta actions) | mean | first",
        )
    p.add_argument("--camera", help="camera of a multi-camera dataset (default: the first)")
    p.add_argument("--frames-key", help="hdf5/npz corpora: array of frames")
    p.add_argument("--actions-key", help="hdf5/npz corpora: array of actions")
    p.add_argument("--state-key", help="hdf5/npz corpora: array of robot state")
    p.add_argument("--episodes-key", help="hdf5 corpora: group whose children are episodes")


def _without_nproc(argv: list[str]) -> list[str]:
    """The flags for each process: --nproc is the launcher's (and clashes with torchrun's)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a JEPA world model (episode store or sensor table)")
    t.add_argument(
        "--dataset",
        help="HDF5 episode store (from `ami-cli collect`), cmapss:FILE, csv:FILE, parquet:FILE, "
        "tep:PATH, or a robot corpus folder (LeRobot v2.1/v3.0, videos or images with action logs, "
        "HDF5/NPZ files; force a layout with lerobot:, videos:, images:, hdf5:, npz:)",
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
    t.add_argument(
        "--proprio",
        type=boolean_for("--proprio"),
        metavar="true|false",
        help="also feed the robot state (/states, e.g. joint readings) to the encoder (false)",
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
    t.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="any config field, e.g. --set train.lr=3e-4 --set model.predictor=transformer",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--context", type=int, help="sensors: rows of history per observation (30)")
    t.add_argument("--time-col", help="csv/parquet: time column (default: row order)")
    t.add_argument("--group-col", help="csv/parquet: unit or episode column (default: one)")
    t.add_argument("--action-cols", type=names, help="csv/parquet: comma-separated actions")
    t.add_argument("--sensor-cols", type=names, help="csv/parquet: comma-separated sensors")
    t.add_argument("--missing", help="missing cells: error (default) | ffill | drop")
    add_corpus_flags(t)
    t.add_argument(
        "--nproc",
        type=int,
        help="train on N processes of this machine (torchrun + DistributedDataParallel); "
        "--batch-size stays the global batch",
    )
    t.add_argument(
        "--max-minutes",
        type=float,
        help="stop with a checkpoint after this long (a job's time limit); --resume continues",
    )
    t.add_argument(
        "--device", default="auto", help="auto (a GPU when there is one) | cpu | cuda | cuda:N"
    )
    t.set_defaults(func=cmd_train)
