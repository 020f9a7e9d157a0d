"""Training loop: deterministic per-step sampling, atomic checkpoints, bit-identical resume."""

from __future__ import annotations

import copy
import inspect
import json
import math
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amiwm.checkpoint import MANIFEST, load_tensors, read_json, resolve, save_checkpoint, verify
from amiwm.config import RunConfig
from amiwm.data.store import EpisodeStore
from amiwm.data.windows import WindowDataset, split_episodes
from amiwm.errors import AmiError, ReportedError
from amiwm.models.regularizers import effective_rank
from amiwm.models.world_model import WorldModel
from amiwm.training import distributed
from amiwm.training.imports import import_guard, removed_on_error
from amiwm.training.objective import Objective, build_regularizer, latent_prediction_loss
from amiwm.training.precision import bf16_note


@dataclass
class TrainResult:
    out: Path
    step: int
    loss: float
    val_pred_loss: float
    frames_per_s: float
    seconds: float
    notes: list[str] = field(default_factory=list)  # what importing the dataset changed


SENSOR_SPECS = ("cmapss:", "csv:", "parquet:")


def resolve_spec(spec: str) -> str:
    """A dataset spec with its path made absolute (checkpoints name their data unambiguously)."""
    kind, sep, path = spec.partition(":") if spec.startswith(SENSOR_SPECS) else ("", "", spec)
    return f"{kind}{sep}{Path(path).resolve()}"


def training_store(checkpoint: str | Path) -> tuple[Path, RunConfig]:
    """The episode store a checkpoint was trained on (an imported sensor table lives in the run
    directory as data.h5) and its run config. The store may no longer exist: callers check."""
    ckpt = resolve(Path(checkpoint))
    saved = read_json(ckpt / "config.json")
    run = RunConfig.from_dict({k: saved[k] for k in ("dataset", "train", "data") if k in saved})
    spec = run.dataset
    return (ckpt.parent / "data.h5" if spec.startswith(SENSOR_SPECS) else Path(spec)), run


def open_store(cfg: RunConfig, out: Path) -> EpisodeStore:
    """Open the dataset of a run: an HDF5 episode store, or a sensor table (``cmapss:PATH``,
    ``csv:PATH``, ``parquet:PATH``) imported once into ``out/data.h5`` (constant channels
    dropped). A fresh import is written to a temporary file: `adopt_store` moves it into the
    run once --out has been checked."""
    spec = cfg.dataset
    if not spec:
        raise AmiError(
            "no dataset given; pass --dataset PATH (an HDF5 store from `ami-cli collect`, "
            "or cmapss:PATH, csv:PATH, parquet:PATH)"
        )
    if not spec.startswith(SENSOR_SPECS):
        return EpisodeStore(Path(spec))
    cached = out / "data.h5"
    if cached.exists():
        store = EpisodeStore(cached)
        if store.attrs.get("dataset") == resolve_spec(spec):
            return store
        store.close()
        raise AmiError(f"{cached} was imported from another dataset; choose another --out")
    from amiwm.data.formats import drop_constant, read_sensors

    table = read_sensors(spec, **cfg.data.read_options())
    table, dropped = drop_constant(table)
    tmp = Path(tempfile.mkdtemp(prefix="amiwm-import-")) / "data.h5"
    notes = list(getattr(table, "notes", []))
    with removed_on_error(tmp.parent):
        table.to_store(
            tmp,
            attrs={"dataset": resolve_spec(spec), "dropped_channels": dropped, "notes": notes},
        )
        return EpisodeStore(tmp)


def adopt_store(store: EpisodeStore, out: Path) -> EpisodeStore:
    """Move a freshly imported sensor store into the run directory."""
    if store.path.name != "data.h5" or store.path.parent == out.resolve():
        return store
    if not store.path.parent.name.startswith("amiwm-import-"):
        return store
    store.close()
    shutil.move(store.path, out / "data.h5")
    store.path.parent.rmdir()
    return EpisodeStore(out / "data.h5")


def fill_model_from_data(cfg: RunConfig, store: EpisodeStore) -> None:
    """Shapes and normalisation statistics come from the dataset, never from guesses."""
    m = cfg.model
    m.modality = store.modality
    m.obs_shape = [int(s) for s in store.obs_shape]
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
    m.action_dim = store.action_dim if store.has_actions else 0
    mean, std = _action_stats(store) if store.has_actions else ([0.0], [1.0])
    m.action_mean, m.action_std = mean, std
    m.action_low, m.action_high = _action_bounds(store, m.action_dim)
    if m.modality == "sensors":
        if len(store.obs_shape) != 1:
            raise AmiError(f"{store.path}: sensor observations must be rows (N, D)")
        d = int(store.obs_shape[0])
        m.obs_shape = [m.context, d] if m.context > 1 else [d]
        m.encoder = "temporal" if m.context > 1 else "mlp"
        m.obs_mean, m.obs_std = _obs_stats(store)
        names = store.attrs.get("channels")
        m.channels = [str(c) for c in names] if names else [f"s{i}" for i in range(d)]
        names = store.attrs.get("action_names")
        m.action_names = [str(c) for c in names] if names else []


def _obs_stats(store: EpisodeStore) -> tuple[list[float], list[float]]:
    """Per-channel mean and std over every row: global, so slow drift is not normalised away."""
    total = np.zeros(store.obs_shape, np.float64)
    sq = np.zeros(store.obs_shape, np.float64)
    n = 0
    for start in range(0, store.num_steps, 65536):
        x = store.read(start, min(store.num_steps, start + 65536))["observations"]
        x = x.astype(np.float64)
        total += x.sum(0)
        sq += (x * x).sum(0)
        n += len(x)
    mean = total / max(n, 1)
    std = np.sqrt(np.maximum(sq / max(n, 1) - mean * mean, 0.0))
    return mean.tolist(), np.maximum(std, 1e-6).tolist()


def _action_stats(store: EpisodeStore) -> tuple[list[float], list[float]]:
    rows = []
    for s, n in zip(store.episode_starts, store.episode_lengths, strict=True):
        if n > 1:
            rows.append(store.read(int(s), int(s + n - 1))["actions"])  # last row is padding
    a = np.concatenate(rows).astype(np.float64)
    mean = a.mean(0)
    # a constant action (e.g. C-MAPSS setting3) must not blow up a slightly different value
    return mean.tolist(), np.maximum(a.std(0), 1e-3 * np.maximum(np.abs(mean), 1.0)).tolist()


def _action_bounds(store: EpisodeStore, dim: int) -> tuple[list[float], list[float]]:
    """Bounds from the store's action space; else the observed range of the actions."""
    space = store.attrs.get("action_space")
    if dim and isinstance(space, dict) and "low" in space and "high" in space:
        low = np.broadcast_to(np.asarray(space["low"], dtype=np.float64), (dim,))
        high = np.broadcast_to(np.asarray(space["high"], dtype=np.float64), (dim,))
        if np.isfinite(low).all() and np.isfinite(high).all():
            return low.tolist(), high.tolist()
    if not dim:
        return [], []
    stats = store.summary()["action_stats"] or {"min": [-1.0] * dim, "max": [1.0] * dim}
    return list(stats["min"]), list(stats["max"])


def lr_at(step: int, total: int, cfg: Any) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def step_generator(seed: int, step: int) -> torch.Generator:
    """Everything random in a step derives from (seed, step): resume needs no RNG state."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v for i, st in sd["state"].items() for k, v in st.items()}
    return tensors, sd["param_groups"]


def _load_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def prepare_out(cfg: RunConfig, out: Path, resume: bool) -> int:
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
    keys = sorted(set(a) | set(b))
    out: list[str] = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


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
        return _train(
            cfg, Path(out), resume, progress and distributed.rank() == 0, max_seconds, dev
        )


def _prepare(cfg: RunConfig, out: Path, resume: bool) -> dict[str, Any]:
    """Rank 0: import/check the data, fill the model config, check --out; what all ranks need."""
    cfg.validate()
    world = distributed.world_size()
    if cfg.train.batch_size % world:
        raise AmiError(
            f"--batch-size {cfg.train.batch_size} must be a multiple of the {world} processes"
        )
    store = open_store(cfg, out)
    with import_guard(store, cfg.dataset):  # a failed import leaves nothing behind
        cfg.dataset = resolve_spec(cfg.dataset)
        store.check_finite()
        fill_model_from_data(cfg, store)
        cfg.validate()
        start = prepare_out(cfg, out, resume)
        store = adopt_store(store, out)
    if start > 0:
        verify(out / "checkpoint")
    cfg.save(out / "config.json")
    _trim_log(out / "metrics.jsonl", start)
    notes = [str(n) for n in store.attrs.get("notes", [])]
    store.close()
    return {
        "config": cfg.to_dict(),
        "out": str(out),
        "store": str(store.path),
        "start": start,
        "notes": notes,
    }


def _share_preparation(cfg: RunConfig, out: Path, resume: bool) -> dict[str, Any]:
    """Rank 0 prepares; every rank gets the result, or the same error (none waits forever)."""
    prep: dict[str, Any] | None = None
    failure: BaseException | None = None
    if distributed.rank() == 0:
        try:
            prep = _prepare(cfg, out, resume)
        except Exception as exc:  # every rank must hear about it, then rank 0 re-raises
            failure = exc
            prep = {"error": str(exc) if isinstance(exc, AmiError) else f"rank 0 failed: {exc!r}"}
    prep = distributed.broadcast_json(prep)
    if failure is not None:
        raise failure
    if "error" in prep:
        raise ReportedError(prep["error"])
    return prep


def _train(
    cfg: RunConfig,
    out: Path,
    resume: bool,
    progress: bool,
    max_seconds: float | None,
    dev: torch.device,
) -> TrainResult:
    from torch.nn.parallel import DistributedDataParallel

    prep = _share_preparation(cfg, out, resume)
    cfg = RunConfig.from_dict(prep["config"])
    out, start = Path(prep["out"]), int(prep["start"])
    world, rank = distributed.world_size(), distributed.rank()
    lead = rank == 0
    tc = cfg.train
    shard = slice(rank * tc.batch_size // world, (rank + 1) * tc.batch_size // world)
    with EpisodeStore(prep["store"]) as store:
        num_episodes = store.num_episodes
    train_eps, val_eps = split_episodes(num_episodes, tc.val_fraction, tc.seed)
    context = cfg.model.rows_per_obs
    data = WindowDataset(prep["store"], tc.window, episodes=train_eps, context=context)
    val = WindowDataset(prep["store"], tc.window, episodes=val_eps, context=context)
    if len(data) == 0:
        raise AmiError(
            f"{prep['store']}: no episode is long enough for windows of {tc.window} steps"
        )
    total = tc.steps
    if tc.epochs is not None:
        total = max(1, math.ceil(tc.epochs * len(data) / tc.batch_size))

    torch.manual_seed(tc.seed)
    model = WorldModel(cfg.model)
    target = copy.deepcopy(model.encoder).requires_grad_(False) if tc.regularizer == "ema" else None
    if start > 0:
        ckpt = out / "checkpoint"
        model.load_state_dict(load_tensors(ckpt / "model.safetensors"))
        if target is not None:
            target.load_state_dict(load_tensors(ckpt / "ema.safetensors"))
    objective = Objective(model, tc, build_regularizer(tc), target).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    if start > 0:
        _load_optimizer(
            opt,
            load_tensors(out / "checkpoint" / "optimizer.safetensors"),
            read_json(out / "checkpoint" / "state.json")["param_groups"],
        )
    # every rank computes identical buffers (global BatchNorm statistics): no per-step sync
    step_loss = DistributedDataParallel(objective, **_no_buffer_sync()) if world > 1 else objective

    tb = None
    if lead:
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(str(out / "tb"), purge_step=start if start else None)
    val_idx = torch.randperm(len(val), generator=step_generator(tc.seed, -1))[:256].tolist()
    val_batch = _to(val.get_batch(val_idx), dev) if val_idx and lead else None
    if lead and tc.precision == "bf16":  # said once: bf16 measured slower than fp32 here
        probe = _to(data.get_batch(list(range(min(8, len(data))))), dev)
        note = bf16_note(objective, probe, dev)
        if note:
            print(note, file=sys.stderr, flush=True)

    def load(step: int) -> tuple[torch.Generator, dict[str, torch.Tensor]]:
        """Step's generator (its state after drawing the batch goes to the loss) and batch."""
        g = step_generator(tc.seed, step)
        idx = torch.randint(len(data), (tc.batch_size,), generator=g).tolist()
        return g, data.get_batch(idx[shard])

    # the next step's windows are read in a thread while this step computes
    loader = ThreadPoolExecutor(1, thread_name_prefix="amiwm-batches")
    pending = loader.submit(load, start)

    def checkpoint(step: int) -> None:
        pending.result()  # the store is read by one thread at a time
        recalibrate_batchnorm(model, data, tc, step, shard)
        if not lead:
            return
        opt_tensors, groups = _optimizer_tensors(opt)
        tensors = {"optimizer": _cpu(opt_tensors)}
        if target is not None:
            tensors["ema"] = _cpu(target.state_dict())
        save_checkpoint(
            out / "checkpoint",
            cfg.model,
            _cpu(model.state_dict()),
            run=_run_dict(cfg),
            tensors=tensors,
            state={"step": step, "param_groups": groups},
        )

    bar = _progress(progress, total, start)
    t0 = time.perf_counter()
    frames, loss_v, val_v, fps = 0, float("nan"), float("nan"), 0.0
    step = start
    model.train()
    log = (out / "metrics.jsonl").open("a") if lead else None
    names = ("loss", "pred", "rollout", "reg", "latent_std")
    try:
        task = bar.add_task("train", total=total, completed=start, loss=float("nan"), fps=0.0)
        bar.start()
        while step < total:
            ts = time.perf_counter()
            g, batch = pending.result()
            batch = _to(batch, dev)
            if step + 1 < total:
                pending = loader.submit(load, step + 1)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, tc)
            terms = step_loss(batch, g)
            out_of_time = bool(lead and max_seconds and time.perf_counter() - t0 > max_seconds)
            # one reduction per step: the logged terms (averaged) and rank 0's decision to stop
            shared = torch.stack([terms[k].detach().float() for k in names])
            flag = torch.tensor([float(out_of_time) * world], device=shared.device)
            shared = distributed.average(torch.cat([shared, flag])).tolist()
            values = dict(zip(names, shared[:-1], strict=True))
            if not math.isfinite(values["loss"]):
                raise AmiError(
                    f"loss became {values['loss']} at step {step + 1}; stopped without saving "
                    "(the last checkpoint is intact); lower --lr or check the data"
                )
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            if target is not None:
                _ema_update(target, model.encoder, tc.ema_decay)
            step += 1
            n = tc.batch_size * batch["obs"].shape[1]
            frames += n
            fps = n / (time.perf_counter() - ts)
            loss_v = values["loss"]
            bar.update(task, completed=step, loss=loss_v, fps=fps)
            last = step == total or shared[-1] > 0
            row = {"step": step, "lr": lr_at(step - 1, total, tc), "frames_per_s": fps, **values}
            if step % tc.checkpoint_every == 0 or last:
                checkpoint(step)
                if val_batch is not None:
                    val_v, erank = evaluate_loss(model, val_batch, tc)
                    row["val_pred"], row["effective_rank"] = val_v, erank
                    model.train()
                    warning = collapse_warning(row["latent_std"], erank, cfg.model.latent_dim)
                    if warning:
                        row["collapse"] = True
                        bar.console.print(f"warning: step {step}: {warning}", style="yellow")
            if log is not None and tb is not None and (step % tc.log_every == 0 or last):
                log.write(json.dumps(row) + "\n")
                log.flush()
                for k, v in row.items():
                    if k != "step":
                        tb.add_scalar(k, v, step)
            if last:
                break
    finally:
        loader.shutdown(cancel_futures=True)
        bar.stop()
        if log is not None:
            log.close()
        if tb is not None:
            tb.close()
    seconds = time.perf_counter() - t0
    return TrainResult(out, step, loss_v, val_v, frames / seconds, seconds, prep["notes"])


def _no_buffer_sync() -> dict[str, bool]:
    """DDP's flag for "no per-step buffer broadcast" (renamed in torch 2.13)."""
    from torch.nn.parallel import DistributedDataParallel

    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return {
        "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers": False
    }


def _to(batch: dict[str, torch.Tensor], dev: torch.device) -> dict[str, torch.Tensor]:
    if dev.type == "cpu":
        return batch
    return {k: v.to(dev, non_blocking=True) for k, v in batch.items()}


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in tensors.items()}


@torch.no_grad()
def recalibrate_batchnorm(
    model: WorldModel,
    data: WindowDataset,
    tc: Any,
    step: int,
    shard: slice = slice(None),
    batches: int = 8,
) -> None:
    """Re-estimate BatchNorm running statistics with the current weights ("precise BN").

    The running averages lag fast-changing weights; eval-mode latents were measured off by
    several standard deviations without this. Batches derive from (seed, step): resumable.
    Under torch.distributed each rank encodes its shard of every batch (global statistics).
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    g = step_generator(tc.seed, -2 - step)
    for _ in range(batches):
        idx = torch.randint(len(data), (tc.batch_size,), generator=g).tolist()
        obs = data.get_batch(idx[shard])["obs"]
        model.encode(obs.to(model.action_mean.device))
    for m, mom in zip(norms, momenta, strict=True):
        m.momentum = mom


def evaluate_loss(
    model: WorldModel, batch: dict[str, torch.Tensor], tc: Any
) -> tuple[float, float]:
    """Held-out teacher-forced prediction MSE and effective rank of the latents (eval mode)."""
    model.eval()
    with torch.no_grad():
        pred = latent_prediction_loss(model, batch, tc, None)["pred"].item()
        rank = effective_rank(model.encode(batch["obs"][:, 0]))
    return pred, rank


def collapse_warning(latent_std: float, rank: float, dim: int) -> str | None:
    """A message when the latents look collapsed (tiny spread or rank near 1), else None."""
    if latent_std < 1e-2:
        return f"representation collapse: latent std {latent_std:.2g} (regularizer too weak?)"
    if dim >= 8 and rank < 2.0:
        return f"representation collapse: effective rank {rank:.2f} of {dim}"
    return None


def _ema_update(target: torch.nn.Module, online: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pt, po in zip(target.parameters(), online.parameters(), strict=True):
            pt.lerp_(po, 1.0 - decay)
        for bt, bo in zip(target.buffers(), online.buffers(), strict=True):
            bt.copy_(bo)


def _run_dict(cfg: RunConfig) -> dict[str, Any]:
    d = cfg.to_dict()
    return {"dataset": d["dataset"], "train": d["train"], "data": d["data"]}


def _trim_log(path: Path, step: int) -> None:
    """On resume, drop log rows written after the checkpoint we restart from."""
    if not path.exists():
        return
    rows = [r for r in path.read_text().splitlines() if r.strip()]
    keep = []
    for r in rows:
        try:
            if json.loads(r)["step"] <= step:
                keep.append(r)
        except (ValueError, KeyError):
            continue
    path.write_text("".join(r + "\n" for r in keep))


def _progress(enabled: bool, total: int, start: int):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[fps]:.0f} frames/s"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )
