"""Is bf16 fast here? A quick timed check, so `--precision bf16` on a CPU without fast bf16
kernels is honoured but says once what fp32 would give."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import torch
from torch import nn

SLOWER = 1.15  # bf16 steps this much slower than fp32 get a note
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bf16_flags() -> list[str]:
    """The bf16 instruction-set flags /proc/cpuinfo lists (empty when it lists none or on
    systems without /proc/cpuinfo)."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [f for f in BF16_FLAGS if f in words]


def _seconds(loss: nn.Module, batch: dict[str, torch.Tensor]) -> float:
    start = time.perf_counter()
    loss(batch, torch.Generator().manual_seed(0))["loss"].backward()
    return time.perf_counter() - start


def bf16_slowdown(loss: nn.Module, batch: dict[str, torch.Tensor], reps: int = 3) -> float:
    """Time of a bf16 forward + backward over that of fp32 (best of `reps` each, alternating)
    on a copy of the loss module (the model's weights, BatchNorm statistics and gradients are
    untouched)."""
    probe = copy.deepcopy(loss)
    cfg = probe.cfg
    best = {"fp32": float("inf"), "bf16": float("inf")}
    for _ in range(reps + 1):  # the first round warms up both
        for precision in best:
            probe.cfg = dataclasses.replace(cfg, precision=precision)
            best[precision] = min(best[precision], _seconds(probe, batch))
            probe.zero_grad(set_to_none=True)
    return best["bf16"] / best["fp32"]


def bf16_note(loss: nn.Module, batch: dict[str, torch.Tensor], device: torch.device) -> str | None:
    """One line when training bf16 on a CPU where it measures slower than fp32, else None."""
    if loss.cfg.precision != "bf16" or device.type != "cpu":
        return None
    ratio = bf16_slowdown(loss, batch)
    if ratio < SLOWER:
        return None
    flags = cpu_bf16_flags()
    has = f"it lists {', '.join(flags)}, " if flags else "no avx512_bf16/amx_bf16, "
    return (
        f"note: --precision bf16 kept as asked, but this CPU runs it slowly ({has}a bf16 step "
        f"took {ratio:.1f}x an fp32 step in a quick check): --precision fp32 would train about "
        f"{ratio:.1f}x faster"
    )
