"""Checkpoints of a training run: weights, optimizer state, training-only modules (an EMA
target encoder, an inverse-dynamics head), the step; written atomically and checksummed
(amiwm.checkpoint), after the precise-BN step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from amiwm.checkpoint import load_tensors, read_json, save_checkpoint
from amiwm.config import RunConfig
from amiwm.models.world_model import WorldModel
from amiwm.training.batches import Indexable, step_generator


class Checkpointer:
    """Saves and restores `model`, `optimizer` and the training-only modules of `extras`
    (name -> module, saved as ``NAME.safetensors``: "ema", "idm", "readout") under
    ``DIR/checkpoint``. Before saving, BatchNorm statistics are re-estimated (`precise_bn`) on
    batches of `data` drawn from ``(seed, step)``; under torch.distributed every rank takes
    part in that step and rank 0 (`lead`) writes."""

    def __init__(
        self,
        directory: Path,
        cfg: RunConfig,
        model: WorldModel,
        optimizer: torch.optim.Optimizer,
        extras: dict[str, torch.nn.Module] | None = None,
        *,
        data: Indexable | None = None,
        shard: slice = slice(None),
        lead: bool = True,
    ) -> None:
        self.path = directory / "checkpoint"
        self.cfg, self.model, self.optimizer = cfg, model, optimizer
        self.extras = dict(extras or {})
        self.data, self.shard, self.lead = data, shard, lead

    def restore(self) -> None:
        """Load weights, training-only modules and optimizer state of the saved checkpoint."""
        self.model.load_state_dict(load_tensors(self.path / "model.safetensors"))
        for name, module in self.extras.items():
            module.load_state_dict(load_tensors(self.path / f"{name}.safetensors"))
        tensors = load_tensors(self.path / "optimizer.safetensors")
        groups = read_json(self.path / "state.json")["param_groups"]
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, v in tensors.items():
            i, name = key.split(".", 1)
            state.setdefault(int(i), {})[name] = v
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})

    def save(self, step: int) -> None:
        if self.data is not None:
            tc = self.cfg.train
            precise_bn(self.model, self.data, tc.batch_size, tc.seed, step, self.shard)
        if not self.lead:
            return
        sd = self.optimizer.state_dict()
        opt = {f"{i}.{k}": v for i, st in sd["state"].items() for k, v in st.items()}
        tensors = {"optimizer": _cpu(opt)}
        for name, module in self.extras.items():
            tensors[name] = _cpu(module.state_dict())
        d = self.cfg.to_dict()
        save_checkpoint(
            self.path,
            self.cfg.model,
            _cpu(self.model.state_dict()),
            run={"dataset": d["dataset"], "train": d["train"], "data": d["data"]},
            tensors=tensors,
            state={"step": step, "param_groups": sd["param_groups"]},
        )


def _cpu(tensors: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in tensors.items()}


@torch.no_grad()
def precise_bn(
    model: WorldModel,
    data: Indexable,
    batch_size: int,
    seed: int,
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
    g = step_generator(seed, -2 - step)
    for _ in range(batches):
        idx = torch.randint(len(data), (batch_size,), generator=g).tolist()
        batch = data.get_batch(idx[shard])
        dev = model.action_mean.device
        states = batch["states"].to(dev) if model.config.proprio else None
        model.encode(batch["obs"].to(dev), states)
    for m, mom in zip(norms, momenta, strict=True):
        m.momentum = mom
