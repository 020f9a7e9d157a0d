"""Learning from memory: fine-tune a world model on the transitions its agent remembered.

Design (measured in ``benchmarks/learn.py``): the **encoder stays frozen** and only the
predictor is fine-tuned, on latent windows rebuilt from the memory's records (consecutive times
of one episode) mixed with a **rehearsal** sample of the original training data, encoded once
with the same frozen encoder. Because the encoder does not change, every latent already in the
memory stays valid for the new checkpoint: nothing has to be re-encoded, and the store can be
reopened by the new model (`compatible_fingerprints` lists the fingerprints whose latents it
shares). Training runs in latent space, so it is cheap (no image is decoded after the replay
sample is encoded). `memorize` writes experience from an episode store into a memory store, with
``frame_ref`` = the row of each frame in that store (kept for a future encoder fine-tune).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from amiwm.checkpoint import load_checkpoint, read_json, resolve, save_checkpoint
from amiwm.config import TrainConfig
from amiwm.data.store import EpisodeStore
from amiwm.data.windows import WindowDataset, context_windows
from amiwm.errors import AmiError
from amiwm.memory.cache import Records
from amiwm.memory.layout import checkpoint_fingerprint
from amiwm.memory.store import MemoryStore
from amiwm.models.world_model import WorldModel
from amiwm.rundir import RunDir
from amiwm.training.batches import Batch, step_generator
from amiwm.training.loop import Loop, run_loop
from amiwm.training.loss import latent_prediction_loss
from amiwm.training.metrics import MetricsSink

ENCODER = "frozen"  # what learn does to the encoder (the memory's latents stay valid)


@dataclass
class LearnConfig:
    """How `learn` fine-tunes: steps, batch, optimiser and the rehearsal mix."""

    steps: int = 500
    batch_size: int = 64
    lr: float = 3e-4
    warmup_steps: int = 20
    replay_fraction: float = 0.5  # share of each batch drawn from the original training data
    replay_windows: int = 4096  # windows of the training data encoded once for rehearsal
    rollout_weight: float = 1.0
    holdout: float = 0.1  # share of memory episodes kept out of training to report on
    grad_clip: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise AmiError("--steps and --batch-size must be >= 1")
        if not self.lr > 0:
            raise AmiError(f"--lr must be positive, got {self.lr}")
        if not 0.0 <= self.replay_fraction < 1.0:
            raise AmiError(f"--replay-fraction must be in [0, 1), got {self.replay_fraction}")
        if not 0.0 <= self.holdout < 1.0:
            raise AmiError(f"--holdout must be in [0, 1), got {self.holdout}")
        if self.replay_windows < 1:
            raise AmiError(f"--replay-windows must be >= 1, got {self.replay_windows}")


@dataclass
class LearnResult:
    out: Path
    records: int  # memory records read
    episodes: int  # memory episodes read
    windows: int  # memory windows trained on
    window: int  # latents per window
    replay: str | None  # the rehearsal data, None without rehearsal
    replay_windows: int
    steps: int
    before: dict[str, float]  # normalised 1-step error: memory / held_out / replay
    after: dict[str, float]
    seconds: float
    encoder: str = ENCODER
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what was learned from and the error before -> after."""
        src = f"{self.records} records in {self.episodes} episodes ({self.windows} windows)"
        if self.replay:
            src += f" + rehearsal of {self.replay_windows} windows of {self.replay}"
        errs = ", ".join(
            f"{k.replace('_', '-')} {self.before[k]:.4f} -> {self.after[k]:.4f}"
            for k in self.before
        )
        return (
            f"learned from {src}; encoder {self.encoder}; 1-step error {errs}; "
            f"{self.steps} steps in {self.seconds:.0f}s; checkpoint: {self.out / 'checkpoint'}"
        )


# ---------------------------------------------------------------------------- fingerprints
def compatible_fingerprints(checkpoint: Path | str) -> list[str]:
    """Fingerprints of memory stores whose latents this checkpoint's encoder produces: its own,
    then those of the checkpoints it was learned from with the encoder frozen."""
    ckpt = resolve(Path(checkpoint))
    out = [checkpoint_fingerprint(ckpt)]
    state = ckpt / "state.json"
    if state.is_file():
        learned = read_json(state).get("learn") or {}
        out += [str(f) for f in learned.get("memory_fingerprints", []) if str(f) not in out]
    return out


def open_memory(memory: Path | str, checkpoint: Path | str, model: WorldModel) -> MemoryStore:
    """Open `memory` read-only, checking it was written by `checkpoint`'s encoder."""
    store = MemoryStore(memory, readonly=True)
    h = store.header
    accepted = compatible_fingerprints(checkpoint)
    cfg = model.config
    problem = None
    if h.fingerprint and h.fingerprint not in accepted:
        problem = (
            f"memory store {memory} was written by model {h.fingerprint}, not by {checkpoint} "
            f"({accepted[0]}); its latents mean nothing to this encoder"
        )
    elif h.latent_dim != cfg.latent_dim:
        problem = (
            f"memory store {memory} holds {h.latent_dim}-dim latents, the model {cfg.latent_dim}"
        )
    elif cfg.action_dim and h.action_dim != cfg.action_dim:
        problem = (
            f"memory store {memory} holds {h.action_dim}-dim actions, the model {cfg.action_dim}"
        )
    if problem:
        store.close()
        raise AmiError(problem)
    return store


# ---------------------------------------------------------------------------- data
def memory_windows(recs: Records, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latent windows (N, length, D), actions (N, length - 1, A) and episode of each, from runs
    of `length - 1` records of one episode at consecutive times."""
    k = length - 1
    order = np.lexsort((recs.time, recs.episode))
    ep, t = recs.episode[order], recs.time[order]
    m = len(order) - k + 1
    if m <= 0:
        d, a = recs.latent.shape[1], recs.action.shape[1]
        return np.zeros((0, length, d), np.float32), np.zeros((0, k, a), np.float32), ep[:0]
    ok = np.ones(m, bool)
    for j in range(1, k):
        ok &= (ep[j : m + j] == ep[:m]) & (t[j : m + j] == t[:m] + j)
    rows = order[np.nonzero(ok)[0][:, None] + np.arange(k)]
    z = np.concatenate([recs.latent[rows], recs.next_latent[rows[:, -1:]]], axis=1)
    return z.astype(np.float32), recs.action[rows].astype(np.float32), recs.episode[rows[:, 0]]


@torch.no_grad()
def encode_windows(
    model: WorldModel, path: Path, length: int, count: int, episodes: list[int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`count` random windows of an episode store as (latents, actions), frozen encoder."""
    proprio = model.config.proprio
    data = WindowDataset(
        path, length, episodes=episodes, context=model.config.rows_per_obs, with_states=proprio
    )
    if len(data) == 0:
        raise AmiError(f"{path}: no episode has {length} steps to replay")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:count].tolist()
    zs, acts = [], []
    for i in range(0, len(idx), 64):
        batch = data.get_batch(sorted(idx[i : i + 64]))
        z = model.encode(batch["obs"], batch["states"] if proprio else None)
        zs.append(z.float().numpy())
        a = batch.get("actions")
        acts.append(np.zeros((len(zs[-1]), length - 1, 1), np.float32) if a is None else a.numpy())
    return np.concatenate(zs), np.concatenate(acts).astype(np.float32)


# ---------------------------------------------------------------------------- errors
@torch.no_grad()
def step_error(
    model: WorldModel, z: np.ndarray, a: np.ndarray, nxt: np.ndarray, var: float
) -> float:
    """Mean squared 1-step prediction error (latent, raw action -> next latent) / `var`."""
    if not len(z):
        return float("nan")
    total = 0.0
    for i in range(0, len(z), 4096):
        zi = torch.from_numpy(z[i : i + 4096])[:, None]
        ai = model._actions(torch.from_numpy(_acts(model, a[i : i + 4096])))[:, None]
        pred = model._predict(zi, ai)[:, 0]
        total += (pred - torch.from_numpy(nxt[i : i + 4096])).square().mean(-1).sum().item()
    return total / len(z) / var


def _acts(model: WorldModel, a: np.ndarray) -> np.ndarray:
    """Actions as the model takes them (a model without actions gets one zero column)."""
    if model.config.action_dim:
        return a
    return np.zeros((*a.shape[:-1], 1), np.float32)


# ---------------------------------------------------------------------------- learn
def check_out(out: Path, checkpoint: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AmiError(f"--out {out} exists and is not empty; learn writes a new directory")
    ckpt = resolve(checkpoint).resolve()
    if out.resolve() in (ckpt, *ckpt.parents):
        raise AmiError(f"--out {out} would overwrite the input checkpoint {checkpoint}")


def learn(
    checkpoint: Path | str,
    memory: Path | str,
    out: Path | str,
    cfg: LearnConfig | None = None,
    *,
    replay: Path | str | None = None,
    progress: bool = True,
) -> LearnResult:
    """Fine-tune `checkpoint`'s predictor on `memory` (+ rehearsal of `replay`, by default the
    checkpoint's training data) and write a new run directory `out` atomically."""
    cfg = cfg or LearnConfig()
    cfg.validate()
    checkpoint, memory, out = Path(checkpoint), Path(memory), Path(out)
    check_out(out, checkpoint)
    t0 = time.perf_counter()
    model_cfg, weights = load_checkpoint(checkpoint)
    model = WorldModel(model_cfg)
    model.load_state_dict(weights)
    model.eval()
    notes: list[str] = []
    with open_memory(memory, checkpoint, model) as store:
        if not store.header.fingerprint:
            notes.append(f"{memory} has no model fingerprint: assumed written by this encoder")
        ids = store.ids()
        if not len(ids):
            raise AmiError(f"memory store {memory} holds no records; nothing to learn from")
        recs = store.records(ids)
    rundir = RunDir(checkpoint)
    data_path, run = rundir.data_path, rundir.config
    length = run.train.window
    z_mem, a_mem, ep_mem = memory_windows(recs, length)
    if not len(z_mem):
        length = 2
        z_mem, a_mem, ep_mem = memory_windows(recs, length)
        notes.append(f"no {run.train.window - 1} consecutive records: trained on single steps")
    episodes = np.unique(recs.episode)
    held = _held_out(episodes, cfg.holdout, cfg.seed)
    train_rows = ~np.isin(ep_mem, held)
    z_tr, a_tr = z_mem[train_rows], a_mem[train_rows]
    var = float(recs.latent.var(0).mean()) or 1.0
    in_held = np.isin(recs.episode, held)

    replay_path = Path(replay) if replay is not None else data_path
    z_rep = a_rep = None
    if cfg.replay_fraction > 0:
        if replay_path is None or not replay_path.is_file():
            raise AmiError(
                f"the rehearsal data {replay_path} is not here; pass --replay FILE (the training "
                "data or a sample of it) or --replay-fraction 0 (risks forgetting)"
            )
        if replay is not None:
            with EpisodeStore(replay_path) as es:
                train_eps = list(range(es.num_episodes))
        else:
            train_eps = rundir.split[0]
        z_rep, a_rep = encode_windows(
            model, replay_path, length, cfg.replay_windows, train_eps, cfg.seed
        )

    def errors() -> dict[str, float]:
        e = {"memory": step_error(model, *_steps(recs, ~in_held), var)}
        if in_held.any():
            e["held_out"] = step_error(model, *_steps(recs, in_held), var)
        if z_rep is not None:
            e["replay"] = step_error(model, z_rep[:, 0], a_rep[:, 0], z_rep[:, 1], var)
        return e

    before = errors()
    tmp = out.parent / f".{out.name}.learn-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _fit(model, cfg, z_tr, a_tr, z_rep, a_rep, tmp / "metrics.jsonl", progress)
        model.eval()
        after = errors()
        result = LearnResult(
            out=out,
            records=len(recs),
            episodes=len(episodes),
            windows=len(z_tr),
            window=length,
            replay=str(replay_path) if z_rep is not None else None,
            replay_windows=0 if z_rep is None else len(z_rep),
            steps=cfg.steps,
            before=before,
            after=after,
            seconds=time.perf_counter() - t0,
            notes=notes,
        )
        state = {
            "step": cfg.steps,
            "learn": {
                **{k: v for k, v in asdict(result).items() if k != "out"},
                "parent": str(resolve(checkpoint).resolve()),
                "memory": str(memory.resolve()),
                "held_out_episodes": [int(e) for e in held],
                "config": asdict(cfg),
                "memory_fingerprints": compatible_fingerprints(checkpoint),
            },
        }
        saved = read_json(resolve(checkpoint) / "config.json")
        run_dict = {k: v for k, v in saved.items() if k != "model"}
        save_checkpoint(
            tmp / "checkpoint", model.config, model.state_dict(), run=run_dict, state=state
        )
        (tmp / "learn.json").write_text(json.dumps(state["learn"], indent=2) + "\n")
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _steps(recs: Records, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return recs.latent[mask], recs.action[mask], recs.next_latent[mask]


def _held_out(episodes: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Memory episodes kept out of training (none when fewer than 5 episodes)."""
    if fraction <= 0 or len(episodes) < 5:
        return episodes[:0]
    n = max(1, int(round(len(episodes) * fraction)))
    return np.sort(np.random.default_rng(seed).permutation(episodes)[:n])


def _fit(
    model: WorldModel,
    cfg: LearnConfig,
    z_mem: np.ndarray,
    a_mem: np.ndarray,
    z_rep: np.ndarray | None,
    a_rep: np.ndarray | None,
    log_path: Path,
    progress: bool,
) -> None:
    """The training loop on the predictor only; each batch mixes memory and rehearsal
    windows of latents (the frozen encoder made them once)."""
    if not len(z_mem):
        raise AmiError("no memory windows left to train on (all episodes held out?)")
    model.encoder.requires_grad_(False)
    model.predictor.train()
    params = list(model.predictor.parameters())
    n_rep = (
        0 if z_rep is None or a_rep is None else int(round(cfg.replay_fraction * cfg.batch_size))
    )
    n_mem = max(1, cfg.batch_size - n_rep)
    zm, am = torch.from_numpy(z_mem), torch.from_numpy(_acts(model, a_mem))
    if n_rep and z_rep is not None and a_rep is not None:
        zr, ar = torch.from_numpy(z_rep), torch.from_numpy(_acts(model, a_rep))

    def draw(step: int) -> tuple[torch.Generator, Batch]:
        g = step_generator(cfg.seed, step)
        i = torch.randint(len(zm), (n_mem,), generator=g)
        z, a = zm[i], am[i]
        if n_rep:
            j = torch.randint(len(zr), (n_rep,), generator=g)
            z, a = torch.cat([z, zr[j]]), torch.cat([a, ar[j]])
        return g, {"latents": z, "actions": a}

    tc = TrainConfig(rollout_weight=cfg.rollout_weight)
    loop = Loop(
        step_loss=lambda batch, g: latent_prediction_loss(model, batch, tc, None),
        params=params,
        optimizer=torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0),
        draw=draw,
        total=cfg.steps,
        lr=cfg.lr,
        warmup=cfg.warmup_steps,
        grad_clip=cfg.grad_clip,
        frames=lambda b: b["latents"].shape[0] * b["latents"].shape[1],
    )
    metrics = MetricsSink(log_path)
    try:
        run_loop(loop, metrics=metrics, progress=progress, description="learn")
    finally:
        metrics.close()


# ---------------------------------------------------------------------------- memorize
@torch.no_grad()
def memorize(
    model: WorldModel,
    episodes_path: Path | str,
    memory: Path | str,
    *,
    fingerprint: str = "",
    capacity: int = 1_000_000,
    episode_offset: int = 0,
) -> int:
    """Encode every episode of an episode store into the memory store `memory` (created if
    needed); ``frame_ref`` is the row of each frame in `episodes_path`. Returns records added."""
    path = Path(episodes_path)
    cfg = model.config
    added = 0
    with EpisodeStore(path) as es:
        a_dim = es.action_dim if es.has_actions else 1
        mem = MemoryStore.open_or_create(
            memory,
            cfg.latent_dim,
            a_dim,
            capacity,
            fingerprint=fingerprint,
            meta={"frames": str(path.resolve())},
        )
        with mem:
            for e in range(es.num_episodes):
                ep = es.episode(e)
                obs = ep["observations"]
                if cfg.rows_per_obs > 1:
                    obs = context_windows(obs, cfg.rows_per_obs)
                st = ep["states"] if cfg.proprio else None
                z = torch.cat(
                    [
                        model.encode(obs[i : i + 256], None if st is None else st[i : i + 256])
                        for i in range(0, len(obs), 256)
                    ]
                )
                z = z.float().numpy()
                n = len(z) - 1
                if n < 1:
                    continue
                acts = ep["actions"][:n] if "actions" in ep else np.zeros((n, 1), np.float32)
                start = int(es.episode_starts[e])
                t = np.arange(n)
                mem.extend(z[:-1], acts, z[1:], np.full(n, episode_offset + e), t, start + t)
                added += n
    return added
