"""`train`: a world model from a dataset spec into a run directory, on one process or many.

Rank 0 prepares the run (`prepare`: import the data, take shapes and statistics from it,
check the run directory); then every rank builds the same model and runs the one training loop
(amiwm.training.loop) on its share of every batch, checkpointing with precise BN.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from amiwm.checkpoint import MANIFEST, read_json, verify
from amiwm.config import RunConfig
from amiwm.data.imports import adopt, guard, open_dataset
from amiwm.data.spec import DatasetSpec
from amiwm.data.stats import data_stats
from amiwm.data.store import EpisodeStore
from amiwm.data.windows import WindowDataset, split_episodes
from amiwm.errors import AmiError, ReportedError
from amiwm.models.regularizers import effective_rank
from amiwm.models.world_model import WorldModel
from amiwm.nn import broadcast_json, rank, world_size
from amiwm.training import distributed
from amiwm.training.batches import Batch, step_generator, window_draw
from amiwm.training.checkpointer import Checkpointer
from amiwm.training.loop import Loop, run_loop
from amiwm.training.loss import (
    WorldModelLoss,
    build_inverse,
    build_regularizer,
    build_state_readout,
    latent_prediction_loss,
)
from amiwm.training.metrics import MetricsSink
from amiwm.training.precision import bf16_note

LOGGED = ("loss", "pred", "rollout", "reg", "idm", "motion", "state", "state_rollout", "latent_std")
SUMMARY = ("step", "loss", "val_pred_loss", "frames_per_s", "seconds")  # of the last call


@dataclass
class TrainResult:
    out: Path
    step: int
    loss: float
    val_pred_loss: float
    frames_per_s: float
    seconds: float
    notes: list[str] = field(default_factory=list)  # what importing the dataset changed


def train(
    cfg: RunConfig,
    out: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    max_seconds: float | None = None,
    device: str = "cpu",
) -> TrainResult:
    """Train a world model on `cfg.dataset`, writing checkpoints and logs into `out`.

    Under torchrun (WORLD_SIZE > 1) this process joins the group and trains its shard of every
    batch with DistributedDataParallel: `cfg.train.batch_size` is the global batch, so N
    processes run the same training as one (to float rounding); rank 0 writes everything.
    """
    with distributed.session(device) as dev:
        prep = _share(lambda: prepare(cfg, Path(out), resume, progress and rank() == 0))
        return _train(prep, progress and rank() == 0, max_seconds, dev)


# ---------------------------------------------------------------------------- preparation
def fill_model_from_data(cfg: RunConfig, store: EpisodeStore) -> None:
    """Shapes, names and normalisation statistics come from the dataset, never from guesses;
    an encoder left on "auto" becomes the one that fits the data."""
    m = cfg.model
    states = m.proprio or cfg.train.state_weight > 0
    if states and not store.has_states:
        flag = "--proprio false" if m.proprio else "train.state_weight=0"
        raise AmiError(
            f"{store.path} has no robot state (/states); use {flag}, or import a "
            "corpus with its state (observation.state, --state-key)"
        )
    for key, value in data_stats(store, m.context, states=states).items():
        setattr(m, key, value)
    if m.modality == "frames" and (
        len(m.obs_shape) != 3 or m.obs_shape[0] % 16 or m.obs_shape[1] % 16
    ):
        raise AmiError(
            f"frames of shape {m.obs_shape} unsupported; use H, W multiples of 16, e.g. 64x64"
        )
    if m.action_conditioning and not store.has_actions:
        raise AmiError(
            f"{store.path} has no actions; use --action-conditioning false or other data"
        )
    m.encoder = m.resolved_encoder()
    m.check_encoder()


def prepare(cfg: RunConfig, out: Path, resume: bool, progress: bool = True) -> dict[str, Any]:
    """Rank 0: import/check the data, fill the model config, check the run directory; returns
    what every rank needs (JSON)."""
    cfg.validate()
    world = world_size()
    if cfg.train.batch_size % world:
        raise AmiError(
            f"--batch-size {cfg.train.batch_size} must be a multiple of the {world} processes"
        )
    if not cfg.dataset:
        raise AmiError(
            "no dataset given; pass --dataset PATH (an HDF5 store from `ami-cli collect`, a "
            "robot corpus folder, or cmapss:PATH, csv:PATH, parquet:PATH, tep:PATH)"
        )
    spec = DatasetSpec.parse(cfg.dataset)
    store = open_dataset(spec, out, cfg.data, progress=progress)
    with guard(store, spec):  # a refused run leaves no import behind
        cfg.dataset = spec.resolved()
        store.check_finite()
        fill_model_from_data(cfg, store)
        cfg.validate()
        start = check_run_dir(cfg, out, resume)
        store = adopt(store, out)
    if start > 0:
        verify(out / "checkpoint")
    cfg.save(out / "config.json")
    notes = [str(n) for n in store.attrs.get("notes", [])]
    store.close()
    return {
        "config": cfg.to_dict(),
        "out": str(out),
        "store": str(store.path),
        "start": start,
        "notes": notes,
    }


def check_run_dir(cfg: RunConfig, out: Path, resume: bool) -> int:
    """Check --out against the config; return the step to start from (0 for a new run)."""
    saved = out / "config.json"
    if not saved.exists():
        if out.exists() and any(out.iterdir()):
            raise AmiError(
                f"--out {out} exists, is not empty and holds no amiwm run; choose another"
            )
        out.mkdir(parents=True, exist_ok=True)
        return 0
    old = RunConfig.from_dict(read_json(saved))
    diff = _diff(old.to_dict(), cfg.to_dict())
    if not resume:
        what = f"a different config ({', '.join(diff[:4])})" if diff else "a run"
        raise AmiError(f"--out {out} already holds {what}; pass --resume or choose another --out")
    diff = [d for d in diff if d not in ("train.steps", "train.epochs")]
    if diff:
        raise AmiError(
            f"--resume with a different config ({', '.join(diff[:4])}); drop those flags"
        )
    if not (out / "checkpoint" / MANIFEST).exists():
        return 0
    return int(read_json(out / "checkpoint" / "state.json")["step"])


def _diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    out: list[str] = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def _share(work: Any) -> dict[str, Any]:
    """Rank 0 runs `work`; every rank gets its result, or the same error (none waits forever)."""
    prep: dict[str, Any] | None = None
    failure: BaseException | None = None
    if rank() == 0:
        try:
            prep = work()
        except Exception as exc:  # every rank must hear about it, then rank 0 re-raises
            failure = exc
            prep = {"error": str(exc) if isinstance(exc, AmiError) else f"rank 0 failed: {exc!r}"}
    prep = broadcast_json(prep)
    if failure is not None:
        raise failure
    if "error" in prep:
        raise ReportedError(prep["error"])
    return prep


# ---------------------------------------------------------------------------- training
def _train(
    prep: dict[str, Any], progress: bool, max_seconds: float | None, dev: torch.device
) -> TrainResult:
    from torch.nn.parallel import DistributedDataParallel

    cfg = RunConfig.from_dict(prep["config"])
    out, start, path = Path(prep["out"]), int(prep["start"]), prep["store"]
    world, lead = world_size(), rank() == 0
    tc = cfg.train
    shard = slice(rank() * tc.batch_size // world, (rank() + 1) * tc.batch_size // world)
    with EpisodeStore(path) as store:
        num_episodes = store.num_episodes
    train_eps, val_eps = split_episodes(num_episodes, tc.val_fraction, tc.seed)
    context = cfg.model.rows_per_obs
    # windows carry the robot state when the model takes it or reads it out in training
    states = cfg.model.proprio or tc.state_weight > 0
    data = WindowDataset(path, tc.window, train_eps, context=context, with_states=states)
    val = WindowDataset(path, tc.window, val_eps, context=context, with_states=states)
    if len(data) == 0:
        raise AmiError(f"{path}: no episode is long enough for windows of {tc.window} steps")
    total = tc.steps
    if tc.epochs is not None:
        total = max(1, math.ceil(tc.epochs * len(data) / tc.batch_size))

    torch.manual_seed(tc.seed)
    model = WorldModel(cfg.model)
    target = copy.deepcopy(model.encoder).requires_grad_(False) if tc.regularizer == "ema" else None
    inverse, readout = build_inverse(model, tc), build_state_readout(model, tc)
    loss = WorldModelLoss(model, tc, build_regularizer(tc), target, inverse, readout).to(dev)
    heads = [h for h in (inverse, readout) if h is not None]
    params = list(model.parameters()) + [p for h in heads for p in h.parameters()]
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    named = (("ema", target), ("idm", inverse), ("readout", readout))
    extras = {k: m for k, m in named if m is not None}
    saver = Checkpointer(out, cfg, model, opt, extras, data=data, shard=shard, lead=lead)
    if start > 0:
        saver.restore()
    # every rank computes identical buffers (global BatchNorm statistics): no per-step sync
    step_loss = DistributedDataParallel(loss, **_no_buffer_sync()) if world > 1 else loss
    val_idx = torch.randperm(len(val), generator=step_generator(tc.seed, -1))[:256].tolist()
    val_batch = _to(val.get_batch(val_idx), dev) if val_idx and lead else None
    held_out = {"pred": float("nan")}
    if lead and tc.precision == "bf16":  # said once: bf16 measured slower than fp32 here
        probe = _to(data.get_batch(list(range(min(8, len(data))))), dev)
        note = bf16_note(loss, probe, dev)
        if note:
            print(note, file=sys.stderr, flush=True)

    def on_interval(step: int, row: dict[str, Any]) -> str | None:
        saver.save(step)
        if val_batch is None:
            return None
        held_out["pred"], erank = evaluate_loss(model, val_batch, tc)
        row["val_pred"], row["effective_rank"] = held_out["pred"], erank
        model.train()
        warning = collapse_warning(row["latent_std"], erank, cfg.model.latent_dim)
        if warning:
            row["collapse"] = True
        return warning

    loop = Loop(
        step_loss=lambda batch, g: step_loss(_to(batch, dev), g),
        params=params,
        optimizer=opt,
        draw=window_draw(data, tc.batch_size, tc.seed, shard),
        total=total,
        lr=tc.lr,
        warmup=tc.warmup_steps,
        grad_clip=tc.grad_clip,
        terms=LOGGED,
        log_every=tc.log_every,
        interval=tc.checkpoint_every,
        on_interval=on_interval,
        after_step=(lambda: _ema_update(target, model.encoder, tc.ema_decay)) if target else None,
        frames=lambda b: b["obs"].shape[0] * b["obs"].shape[1],
        nan_hint="lower --lr or check the data",
    )
    model.train()
    metrics = MetricsSink(out / "metrics.jsonl", start, tensorboard=True) if lead else None
    try:
        r = run_loop(loop, start, metrics=metrics, progress=progress, max_seconds=max_seconds)
    finally:
        if metrics is not None:
            metrics.close()
    result = TrainResult(
        out, r.step, r.loss, held_out["pred"], r.frames_per_s, r.seconds, prep["notes"]
    )
    if lead:  # what a later reader of the run (a demo reusing it) can no longer measure
        summary = {k: getattr(result, k) for k in SUMMARY}
        (out / "train.json").write_text(json.dumps(summary, indent=1) + "\n")
    return result


def _no_buffer_sync() -> dict[str, bool]:
    """DDP's flag for "no per-step buffer broadcast" (renamed in torch 2.13)."""
    from torch.nn.parallel import DistributedDataParallel

    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return {
        "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers": False
    }


def _to(batch: Batch, dev: torch.device) -> Batch:
    if dev.type == "cpu":
        return batch
    return {k: v.to(dev, non_blocking=True) for k, v in batch.items()}


def evaluate_loss(model: WorldModel, batch: Batch, tc: Any) -> tuple[float, float]:
    """Held-out teacher-forced prediction MSE and effective rank of the latents (eval mode)."""
    model.eval()
    with torch.no_grad():
        pred = latent_prediction_loss(model, batch, tc, None)["pred"].item()
        states = batch["states"][:, 0] if model.config.proprio else None
        erank = effective_rank(model.encode(batch["obs"][:, 0], states))
    return pred, erank


def collapse_warning(latent_std: float, erank: float, dim: int) -> str | None:
    """A message when the latents look collapsed (tiny spread or rank near 1), else None."""
    if latent_std < 1e-2:
        return f"representation collapse: latent std {latent_std:.2g} (regularizer too weak?)"
    if dim >= 8 and erank < 2.0:
        return f"representation collapse: effective rank {erank:.2f} of {dim}"
    return None


def _ema_update(target: torch.nn.Module, online: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pt, po in zip(target.parameters(), online.parameters(), strict=True):
            pt.lerp_(po, 1.0 - decay)
        for bt, bo in zip(target.buffers(), online.buffers(), strict=True):
            bt.copy_(bo)
