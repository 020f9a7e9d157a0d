"""Where a run's numbers go: JSONL rows (and TensorBoard scalars) and a live progress bar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)


class MetricsSink:
    """Appends one JSON row per logged step to `path`; with `tensorboard` also writes every
    number as a TensorBoard scalar under ``DIR/tb``. On resume from step `start`, rows written
    after it are dropped first (they will be written again)."""

    def __init__(self, path: Path, start: int = 0, tensorboard: bool = False) -> None:
        if start:
            trim_log(path, start)
        self._log = path.open("a" if start else "w")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(path.parent / "tb"), purge_step=start or None)

    def write(self, row: dict[str, Any]) -> None:
        self._log.write(json.dumps(row) + "\n")
        self._log.flush()
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, int | float) and not isinstance(v, bool):
                    self._tb.add_scalar(k, v, row["step"])

    def close(self) -> None:
        self._log.close()
        if self._tb is not None:
            self._tb.close()


def trim_log(path: Path, step: int) -> None:
    """Drop log rows written after `step` (the checkpoint a run resumes from)."""
    if not path.exists():
        return
    keep = []
    for r in path.read_text().splitlines():
        try:
            if r.strip() and json.loads(r)["step"] <= step:
                keep.append(r)
        except (ValueError, KeyError, TypeError):
            continue
    path.write_text("".join(r + "\n" for r in keep))


def progress_bar(enabled: bool, description: str, total: int, start: int) -> tuple[Progress, Any]:
    """A rich bar showing loss and frames/s, and its task (disabled: draws nothing)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[fps]:.0f} frames/s"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )
    task = bar.add_task(description, total=total, completed=start, loss=float("nan"), fps=0.0)
    return bar, task
