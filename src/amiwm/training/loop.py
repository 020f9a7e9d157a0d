"""The one training loop, shared by `train` (whole model, frame or sensor windows) and
`learn` (predictor only, remembered latents mixed with rehearsal): which parameters, which
batches and which loss are its configuration."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from amiwm.errors import AmiError
from amiwm.nn import average, world_size
from amiwm.training.batches import Batch, Draw, Prefetcher
from amiwm.training.metrics import MetricsSink, progress_bar

StepLoss = Callable[[Batch, torch.Generator], dict[str, torch.Tensor]]
"""A batch and its step's generator -> loss terms; "loss" is the one minimised."""


def lr_at(step: int, total: int, peak: float, warmup: int, spent: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak, by the share of the steps done or
    `spent`, the share of a time budget used, whichever is further (a run cut by the clock
    still ends annealed)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = max((step - warmup) / max(1, total - warmup), spent)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


@dataclass
class Loop:
    """How to train: what to minimise over which parameters, on which batches, for how long.

    `terms` are the loss terms logged (averaged over ranks). `on_interval(step, row)` runs every
    `interval` steps and at the last one (checkpoints, held-out evaluation: it may add entries
    to the logged row, and return a warning to print); `after_step()` runs after each optimizer
    step (EMA).
    `frames(batch)` counts what frames/s reports.
    """

    step_loss: StepLoss
    params: Sequence[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    draw: Draw
    total: int
    lr: float
    warmup: int
    grad_clip: float
    terms: tuple[str, ...] = ("loss",)
    log_every: int = 10
    interval: int | None = None
    on_interval: Callable[[int, dict[str, Any]], str | None] | None = None
    after_step: Callable[[], None] | None = None
    frames: Callable[[Batch], int] = lambda b: len(next(iter(b.values())))
    nan_hint: str = "lower --lr"


@dataclass
class LoopResult:
    step: int
    loss: float
    frames_per_s: float  # over the whole run
    seconds: float


def run_loop(
    loop: Loop,
    start: int = 0,
    *,
    metrics: MetricsSink | None = None,
    progress: bool = False,
    description: str = "train",
    max_seconds: float | None = None,
    lead: bool = True,
) -> LoopResult:
    """Run `loop` from step `start` to `loop.total` (or until `max_seconds`, decided by the
    lead rank and shared with the others in the same reduction as the logged terms)."""
    world = world_size()
    reader = Prefetcher(loop.draw, start, loop.total)
    bar, task = progress_bar(progress, description, loop.total, start)
    t0 = time.perf_counter()
    frames, loss, step = 0, float("nan"), start
    spent = 0.0  # the lead's share of max_seconds used, shared so every rank sets the same lr
    try:
        bar.start()
        while step < loop.total:
            ts = time.perf_counter()
            g, batch = reader.next(step)
            lr = lr_at(step, loop.total, loop.lr, loop.warmup, spent)
            for group in loop.optimizer.param_groups:
                group["lr"] = lr
            terms = loop.step_loss(batch, g)
            used = (time.perf_counter() - t0) / max_seconds if lead and max_seconds else 0.0
            # one reduction per step: the logged terms (averaged), the lead's decision to stop
            # and its share of the time budget used
            shared = torch.stack([terms[k].detach().float() for k in loop.terms])
            flag = torch.tensor([float(used > 1.0) * world, used * world], device=shared.device)
            shared = average(torch.cat([shared, flag])).tolist()
            spent = shared[-1]
            values = dict(zip(loop.terms, shared[:-2], strict=True))
            if not math.isfinite(values["loss"]):
                raise AmiError(
                    f"loss became {values['loss']} at step {step + 1}; stopped without saving "
                    f"(the last checkpoint is intact); {loop.nan_hint}"
                )
            loop.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(loop.params, loop.grad_clip)
            loop.optimizer.step()
            if loop.after_step is not None:
                loop.after_step()
            step += 1
            n = world * loop.frames(batch)
            frames += n
            fps = n / (time.perf_counter() - ts)
            loss = values["loss"]
            bar.update(task, completed=step, loss=loss, fps=fps)
            last = step == loop.total or shared[-2] > 0
            row = {"step": step, "lr": lr, "frames_per_s": fps, **values}
            if loop.on_interval is not None and (
                last or (loop.interval and step % loop.interval == 0)
            ):
                reader.idle()  # the store is read by one thread at a time
                warning = loop.on_interval(step, row)
                if warning:
                    bar.console.print(f"warning: step {step}: {warning}", style="yellow")
            if metrics is not None and (step % loop.log_every == 0 or last):
                metrics.write(row)
            if last:
                break
    finally:
        reader.close()
        bar.stop()
    seconds = time.perf_counter() - t0
    return LoopResult(step, loss, frames / seconds if seconds else 0.0, seconds)
