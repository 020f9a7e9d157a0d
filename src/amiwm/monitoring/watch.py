"""Watch a sensor stream with a trained model: calibrate the alarm threshold, then score every
row (surprise, read-out residual, smoothed score, alarm, the worst-explained channel)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.data.formats import BadRow, read_sensors, stream_rows
from amiwm.data.formats.tep import KINDS as TEP_KINDS
from amiwm.models.world_model import WorldModel
from amiwm.monitoring.monitor import Monitor, score_stream, split_runs, table_runs, training_runs
from amiwm.rundir import RunDir


def trained_columns(checkpoint: str | Path, model: WorldModel, **given: Any) -> dict[str, Any]:
    """Column options for reading new data: those `given` (None: not given), else what the
    checkpoint was trained with."""
    data = RunDir(checkpoint).config.data
    cfg = model.config
    return {
        "time_col": given.get("time_col") or data.time_col,
        "group_col": given.get("group_col") or data.group_col,
        "sensor_cols": given.get("sensor_cols") or cfg.channels or data.sensor_cols or None,
        "action_cols": given.get("action_cols")
        or (cfg.action_names if cfg.action_conditioning else None)
        or None,
        "missing": given.get("missing") or data.missing,
    }


@dataclass
class Scored:
    """One row of the stream: a scored reading, or a bad row (`bad` set, numbers NaN)."""

    group: Any
    time: float
    surprise: float
    residual: float
    score: float
    alarm: bool
    suspect: str  # the channel the model explains worst, when in alarm
    top: list[str]  # the channels that depart most, when in alarm (dynamic read-out)
    sensors: np.ndarray | None = None
    bad: BadRow | None = None

    @property
    def status(self) -> str:
        if self.bad is not None:
            return f"bad row {self.bad.line}"
        return "warmup" if math.isnan(self.surprise) else "ok"


class Watch:
    """A model watching one stream (a file, or ``-`` for stdin). Calibrated on `calibrate`
    (normal operation; default: the checkpoint's held-out training episodes) at
    `false_alarm_rate`, unless a `threshold` is given. Iterate it for `Scored` rows."""

    def __init__(
        self,
        checkpoint: str | Path,
        data: str,
        *,
        fmt: str | None = None,
        calibrate: str | None = None,
        false_alarm_rate: float = 0.01,
        threshold: float | None = None,
        smoothing: float = 0.2,
        chunk: int = 512,
        **columns: Any,
    ) -> None:
        self.model = WorldModel.from_pretrained(checkpoint)
        cols = trained_columns(checkpoint, self.model, **columns)
        spec = RunDir(checkpoint).spec
        # TEP: the XMVs act with their own row, and the dynamic read-out scores the readings
        tep = spec is not None and spec.kind in TEP_KINDS
        self.monitor = Monitor(self.model, smoothing=smoothing, next_actions=tep, dynamic=tep)
        self.live, self.chunk = data == "-", chunk
        self.stream = stream_rows(data, fmt, **cols)  # bad columns fail before calibrating
        try:
            if calibrate is not None:
                fit, check = split_runs(table_runs(read_sensors(calibrate, **cols)))
                self.basis = calibrate
            else:
                fit, check = training_runs(Path(checkpoint))
                self.basis = "the checkpoint's held-out training episodes"
            self.monitor.calibrate(fit, check, false_alarm_rate)
        except BaseException:
            self.stream.close()
            raise
        if threshold is not None:
            self.monitor.threshold, self.basis = threshold, "given"
        self.channels = self.model.config.channels or self.stream.channels
        # the monitor's indices: sensors, then actions (a stuck actuator)
        self.names = [*self.channels, *self.model.config.action_labels]

    @property
    def threshold(self) -> float:
        return self.monitor.threshold

    def __iter__(self) -> Iterator[Scored]:
        nan = float("nan")
        with self.stream:
            rows = score_stream(self.monitor, iter(self.stream), self.chunk, self.live)
            for r, s, res, score, alarm, c, top in rows:
                if isinstance(r, BadRow):
                    yield Scored(None, nan, nan, nan, nan, False, "", [], bad=r)
                    continue
                suspect = self.names[c] if alarm and c >= 0 else ""
                names = [self.names[j] for j in top if j >= 0] if alarm else []
                yield Scored(r.group, r.time, s, res, score, bool(alarm), suspect, names, r.sensors)
