"""Labelled faults: one description used by the plant simulator and on recorded sensor arrays.

A fault starts at row (step) ``start`` and stays active until ``end`` (exclusive; None: to the
end). Rows ``t`` with ``start <= t < end`` are labelled faulty. Sensor faults corrupt one
channel of a (T, D) array of readings; magnitudes are in the channel's own units:

- ``sensor_bias``: step offset, ``+magnitude`` from ``start``.
- ``sensor_drift``: linear ramp, ``+magnitude * (t - start + 1)`` (``magnitude`` per step).
- ``sensor_stuck``: the reading freezes at the last healthy value (row ``start - 1``; row 0
  when ``start == 0``); ``magnitude`` is ignored.

``actuator_degradation`` (an actuator delivers ``1 - magnitude`` of its command) and
``process_fault`` (a process parameter scaled by ``1 - magnitude``) change a simulated plant,
not recorded readings; the plant applies them itself.

:func:`random_fault` draws magnitudes relative to each channel's standard deviation ``std``
(the sensor noise for a simulator; the healthy spread for real data): bias 3-5 std (random
sign), drift 0.03-0.08 std per step (3-8 std after 100 steps), degradation 0.3-0.7, process
fault 0.2-0.5. :data:`DEFAULT_MAGNITUDES` holds the middle values used when none is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from amiwm.errors import AmiError

SENSOR_FAULTS = ("sensor_drift", "sensor_bias", "sensor_stuck")
PLANT_FAULTS = ("actuator_degradation", "process_fault")
FAULT_KINDS = SENSOR_FAULTS + PLANT_FAULTS

# Middle of the random_fault ranges: sensor faults in std units, plant faults as fractions.
DEFAULT_MAGNITUDES = {
    "sensor_drift": 0.05,
    "sensor_bias": 4.0,
    "sensor_stuck": 0.0,
    "actuator_degradation": 0.5,
    "process_fault": 0.35,
}
RANDOM_RANGES = {
    "sensor_drift": (0.03, 0.08),
    "sensor_bias": (3.0, 5.0),
    "sensor_stuck": (0.0, 0.0),
    "actuator_degradation": (0.3, 0.7),
    "process_fault": (0.2, 0.5),
}
_KEYS = ("kind", "start", "channel", "magnitude", "end")


@dataclass(frozen=True)
class Fault:
    """One labelled fault. ``channel``: a sensor name or index (sensor faults), an actuator
    (``actuator_degradation``) or a process parameter (``process_fault``); None lets the
    consumer pick its default. ``magnitude`` None: the consumer's default."""

    kind: str
    start: int
    channel: str | int | None = None
    magnitude: float | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise AmiError(f"unknown fault kind {self.kind!r}; use one of {', '.join(FAULT_KINDS)}")
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is None and name == "end":
                continue
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise AmiError(f"fault {name} must be an integer step, got {v!r}")
            object.__setattr__(self, name, int(v))
        if self.start < 0:
            raise AmiError(f"fault start must be >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise AmiError(f"fault end {self.end} must be > start {self.start}")
        if self.magnitude is not None:
            m = self.magnitude
            if isinstance(m, bool) or not isinstance(m, int | float | np.number):
                raise AmiError(f"fault magnitude must be a number, got {m!r}")
            if not math.isfinite(float(m)):
                raise AmiError(f"fault magnitude must be finite, got {m!r}")
            object.__setattr__(self, "magnitude", float(m))
        c = self.channel
        if isinstance(c, np.integer):
            object.__setattr__(self, "channel", int(c))
        elif c is not None and (isinstance(c, bool) or not isinstance(c, str | int)):
            raise AmiError(f"fault channel must be a name or an index, got {c!r}")

    @classmethod
    def from_spec(cls, spec: Fault | Mapping[str, Any]) -> Fault:
        """A Fault from itself or a dict with keys kind, start and optional channel,
        magnitude, end."""
        if isinstance(spec, Fault):
            return spec
        if not isinstance(spec, Mapping):
            raise AmiError(f"a fault must be a dict with 'kind' and 'start', got {spec!r}")
        unknown = sorted(set(spec) - set(_KEYS))
        if unknown:
            raise AmiError(f"unknown fault key(s) {', '.join(unknown)}; use {', '.join(_KEYS)}")
        if "kind" not in spec:
            raise AmiError("a fault needs a 'kind'; use one of " + ", ".join(FAULT_KINDS))
        return cls(**{"start": 0, **spec})

    @property
    def is_sensor(self) -> bool:
        return self.kind in SENSOR_FAULTS

    def active(self, t: int) -> bool:
        """Whether row / step ``t`` is faulty."""
        return self.start <= t and (self.end is None or t < self.end)

    def labels(self, length: int) -> np.ndarray:
        """(length,) bool: True on faulty rows."""
        t = np.arange(length)
        return (t >= self.start) & (t < (length if self.end is None else self.end))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (for store attributes and reports)."""
        return {k: getattr(self, k) for k in _KEYS}

    def inject(self, values: Any, channels: Sequence[str] | None = None) -> np.ndarray:
        """A copy of readings (T, D) with this (sensor) fault applied; see :func:`inject`."""
        return inject(
            values,
            self.kind,
            self.channel,
            self.start,
            self.magnitude,
            end=self.end,
            channels=channels,
        )


def channel_index(channel: str | int | None, channels: Sequence[str] | None, width: int) -> int:
    """Column of ``channel`` (a name in ``channels`` or an index, negative from the end)."""
    if channel is None:
        raise AmiError("a sensor fault needs a channel (name or index)")
    if isinstance(channel, str):
        names = list(channels or [])
        if channel not in names:
            valid = ", ".join(names) if names else "none given; pass channels= or an index"
            raise AmiError(f"unknown channel {channel!r}; channels: {valid}")
        return names.index(channel)
    if not -width <= channel < width:
        raise AmiError(f"channel index {channel} out of range for {width} channels")
    return channel % width


def sensor_offset(kind: str, magnitude: float, steps_in: Any) -> Any:
    """Added to a reading ``steps_in`` (0 at ``start``) rows into a bias or drift fault."""
    if kind == "sensor_bias":
        return magnitude + 0.0 * np.asarray(steps_in, dtype=np.float64)
    if kind == "sensor_drift":
        return magnitude * (np.asarray(steps_in, dtype=np.float64) + 1.0)
    raise AmiError(f"{kind!r} adds no offset; offsets exist for sensor_bias and sensor_drift")


def inject(
    values: Any,
    kind: str,
    channel: str | int | None,
    start: int,
    magnitude: float | None = None,
    *,
    end: int | None = None,
    channels: Sequence[str] | None = None,
) -> np.ndarray:
    """A corrupted copy of readings ``values`` (T, D): one sensor fault on one channel.

    ``magnitude`` is in the channel's units (bias: offset; drift: offset added per step);
    a stuck sensor ignores it. Rows before ``start`` and from ``end`` on are unchanged.
    """
    fault = Fault(kind, start, channel, magnitude, end)
    if not fault.is_sensor:
        raise AmiError(
            f"{kind!r} changes the plant, not its readings; inject handles "
            + ", ".join(SENSOR_FAULTS)
        )
    arr = np.array(values, dtype=np.result_type(np.asarray(values).dtype, np.float32))
    if arr.ndim != 2:
        raise AmiError(f"inject needs readings of shape (T, D), got {arr.shape}")
    c = channel_index(channel, channels, arr.shape[1])
    stop = arr.shape[0] if end is None else min(end, arr.shape[0])
    if start >= stop:
        return arr
    if kind == "sensor_stuck":
        arr[start:stop, c] = arr[max(start - 1, 0), c]
        return arr
    if magnitude is None:
        raise AmiError(f"{kind} needs a magnitude (in the channel's units)")
    offset = sensor_offset(kind, magnitude, np.arange(stop - start))
    arr[start:stop, c] = arr[start:stop, c] + offset.astype(arr.dtype)
    return arr


class SensorFaultStream:
    """Applies one sensor fault to readings that arrive one row at a time (a simulator).

    Gives the same rows as :func:`inject` on the whole array, given rows in order from t = 0.
    """

    def __init__(self, fault: Fault, index: int) -> None:
        if not fault.is_sensor:
            raise AmiError(f"{fault.kind!r} is not a sensor fault")
        if fault.kind != "sensor_stuck" and fault.magnitude is None:
            raise AmiError(f"{fault.kind} needs a magnitude (in the channel's units)")
        self.fault, self.index = fault, int(index)
        self._held: float | None = None

    def __call__(self, t: int, row: np.ndarray) -> np.ndarray:
        """Row ``t`` with the fault applied (a copy when changed)."""
        f, c = self.fault, self.index
        if t == max(f.start - 1, 0):
            self._held = float(row[c])  # the last healthy reading (row 0 when start == 0)
        if not f.active(t):
            return row
        out = row.copy()
        if f.kind == "sensor_stuck":
            if self._held is None:
                raise AmiError("a stuck-sensor stream must see the rows from t = 0 in order")
            out[c] = self._held
        else:
            out[c] = out[c] + out.dtype.type(sensor_offset(f.kind, f.magnitude, t - f.start))
        return out


def random_fault(
    rng: np.random.Generator | int,
    length: int,
    std: Sequence[float] | np.ndarray,
    *,
    kinds: Sequence[str] = SENSOR_FAULTS,
    targets: Mapping[str, Sequence[str]] | None = None,
    channels: Sequence[str] | None = None,
    start_range: tuple[float, float] = (0.2, 0.6),
) -> Fault:
    """A random labelled fault for a run of ``length`` rows with per-channel ``std`` (D,).

    Kind uniform over ``kinds``; start uniform over ``start_range`` fractions of ``length``;
    sensor faults pick a channel uniformly (its name when ``channels`` is given) and a
    magnitude from :data:`RANDOM_RANGES` times that channel's std; plant faults pick a target
    from ``targets[kind]`` and a fraction from :data:`RANDOM_RANGES`.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    kinds = tuple(kinds)
    if not kinds:
        raise AmiError("random_fault needs at least one fault kind")
    for k in kinds:
        Fault(k, 0)  # validates the kind
    scale = np.asarray(std, dtype=np.float64).reshape(-1)
    if scale.size == 0 or not np.isfinite(scale).all() or (scale < 0).any():
        raise AmiError("random_fault needs a finite, non-negative std per channel")
    if channels is not None and len(channels) != scale.size:
        raise AmiError(f"{len(channels)} channel names for {scale.size} std values")
    lo, hi = start_range
    if length < 2 or not 0.0 <= lo <= hi < 1.0:
        raise AmiError("random_fault needs length >= 2 and 0 <= start_range[0] <= [1] < 1")
    kind = kinds[int(gen.integers(len(kinds)))]
    start = int(gen.integers(int(lo * length), int(hi * length) + 1))
    start = min(max(start, 1), length - 1)
    a, b = RANDOM_RANGES[kind]
    size = float(gen.uniform(a, b))
    if kind in SENSOR_FAULTS:
        c = int(gen.integers(scale.size))
        sign = 1.0 if gen.random() < 0.5 else -1.0
        magnitude = 0.0 if kind == "sensor_stuck" else sign * size * float(scale[c])
        channel: str | int = channels[c] if channels is not None else c
        return Fault(kind, start, channel, magnitude)
    options = list((targets or {}).get(kind, ()))
    if not options:
        raise AmiError(f"random_fault needs targets[{kind!r}] (e.g. actuator names) for {kind}")
    return Fault(kind, start, options[int(gen.integers(len(options)))], size)


__all__ = [
    "DEFAULT_MAGNITUDES",
    "FAULT_KINDS",
    "PLANT_FAULTS",
    "RANDOM_RANGES",
    "SENSOR_FAULTS",
    "Fault",
    "SensorFaultStream",
    "channel_index",
    "inject",
    "random_fault",
    "sensor_offset",
]
