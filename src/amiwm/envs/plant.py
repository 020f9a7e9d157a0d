"""``amiwm/Plant-v0``: a jacketed exothermic CSTR with two flow controls and labelled faults.

First-order reaction A -> B (Arrhenius rate) in a gravity-drained tank with a cooling jacket.
True state ``(level h [m], C_A [kmol/m3], T [K], Tj [K])``::

    F_out = Cv * sqrt(h - h_out)             outlet nozzle at h_out; no outflow below it
    dh/dt   = (F - F_out) / A                V = A * h
    dC_A/dt = F / V * (C_Af - C_A) - r       r = k0 * exp(-E/R / T) * C_A
    dT/dt   = F / V * (T_f - T) + (-dH) * r / (rho cp) - UA * (T - Tj) / (rho cp V)
    dTj/dt  = Fc / Vj * (Tc_in - Tj) + UA * (T - Tj) / (rho_c cp_c Vj)

Controls: feed flow F in [0.05, 0.15] and coolant flow Fc in [0.01, 0.25] m3/min. One step is
``dt`` = 1 min of fixed-step RK4 (4 sub-steps). Every (F, Fc) in the box has one steady state,
and it is stable; T spans about 316-380 K over the box and 327-375 K at the nominal feed
0.1 m3/min, so any setpoint in :data:`SETPOINT_RANGE` is reachable with the coolant alone.
Observations: 7 noisy sensors (:data:`CHANNELS`, units :data:`UNITS`, Gaussian noise
:data:`NOISE_STD`). Reward: ``-(T - setpoint)**2`` with the true T.

Faults (see :mod:`amiwm.envs.faults`), active on observations ``start <= t < end``:
sensor faults corrupt one reading; ``actuator_degradation`` scales the flow an actuator
delivers by ``1 - magnitude`` (the flow meters read the delivered flow); ``process_fault``
scales UA (``"fouling"``) or k0 (``"catalyst"``) by ``1 - magnitude`` over the intervals that
end in an active observation. Sensor magnitudes are in the channel's units (default: bias 4
noise std, drift 0.05 noise std per step); plant magnitudes are fractions in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from scipy.optimize import brentq

from amiwm.envs.faults import (
    DEFAULT_MAGNITUDES,
    FAULT_KINDS,
    Fault,
    SensorFaultStream,
    channel_index,
    random_fault,
)
from amiwm.errors import AmiError

# Process constants (units: m, m3, min, K, kmol, kJ).
AREA, CV, H_OUT = 1.0, 0.1, 0.2  # tank cross-section, outlet coefficient, outlet nozzle height
CA_FEED, T_FEED, TC_IN = 2.0, 340.0, 300.0  # feed concentration and temperature, coolant inlet
E_R = 8000.0  # activation energy / R
K0 = 0.1 * math.exp(E_R / 350.0)  # k = 0.1 / min at 350 K
DH = 1.0e5  # heat of reaction (exothermic), kJ/kmol: adiabatic rise 50 K
RHO_CP, RHO_CP_C = 4000.0, 4184.0  # reactor and coolant heat capacity, kJ/(m3 K)
UA = 500.0  # heat transfer, kJ/(min K)
V_JACKET = 0.2
NOMINAL_FEED = 0.1
SETPOINT_RANGE = (330.0, 370.0)  # reactor temperatures reachable at the nominal feed


def outflow(h: float) -> float:
    """Gravity outflow (m3/min) at level ``h``."""
    return CV * math.sqrt(max(h - H_OUT, 0.0))


def derivatives(
    x: tuple[float, ...], f: float, fc: float, ua: float, k0: float
) -> tuple[float, float, float, float]:
    """d(h, C_A, T, Tj)/dt for feed ``f``, coolant ``fc`` and parameters ``ua``, ``k0``."""
    h, ca, t, tj = x
    v = AREA * h
    r = k0 * math.exp(-E_R / t) * ca
    q = ua * (t - tj)
    return (
        (f - outflow(h)) / AREA,
        f / v * (CA_FEED - ca) - r,
        f / v * (T_FEED - t) + DH * r / RHO_CP - q / (RHO_CP * v),
        fc / V_JACKET * (TC_IN - tj) + q / (RHO_CP_C * V_JACKET),
    )


def rk4(x: tuple, dt: float, n: int, f: float, fc: float, ua: float, k0: float) -> tuple:
    """``n`` fixed RK4 sub-steps covering ``dt`` minutes."""
    h = dt / n
    for _ in range(n):
        k1 = derivatives(x, f, fc, ua, k0)
        k2 = derivatives(_axpy(x, 0.5 * h, k1), f, fc, ua, k0)
        k3 = derivatives(_axpy(x, 0.5 * h, k2), f, fc, ua, k0)
        k4 = derivatives(_axpy(x, h, k3), f, fc, ua, k0)
        slope = tuple(b + 2.0 * c + 2.0 * d + e for b, c, d, e in zip(k1, k2, k3, k4, strict=True))
        x = _axpy(x, h / 6.0, slope)
    return x


def _axpy(x: tuple, a: float, y: tuple) -> tuple:
    return tuple(xi + a * yi for xi, yi in zip(x, y, strict=True))


class PlantEnv(gym.Env):
    """Jacketed CSTR: hold or move the reactor temperature with feed and coolant flows.

    ``reset(options=...)`` keys: ``setpoint`` (K; else uniform in :data:`SETPOINT_RANGE`),
    ``initial_action`` (start at its steady state; else a random one from the middle half of
    the action box), ``fault`` (a dict ``{"kind", "start", "channel", "magnitude", "end"}``,
    ``"random"`` or None; overrides the constructor's ``fault``). A fault's channel defaults to
    ``reactor_temp`` (sensor faults), ``coolant_flow`` (actuator) or ``fouling`` (process).
    ``info``: ``state`` (true state), ``setpoint``, ``fault`` (kind or None), ``fault_active``,
    ``fault_spec`` (the resolved fault as a dict, or None). Channel and action names are the
    class constants :attr:`CHANNELS` and :attr:`ACTIONS` (also ``channels``, ``action_names``).
    """

    metadata = {"render_modes": [], "render_fps": 1}
    CHANNELS = (
        "reactor_temp",
        "jacket_temp",
        "conc_a",
        "level",
        "feed_flow",
        "coolant_flow",
        "outlet_flow",
    )
    UNITS = ("K", "K", "kmol/m3", "m", "m3/min", "m3/min", "m3/min")
    NOISE_STD = (0.2, 0.2, 0.01, 0.005, 0.001, 0.002, 0.001)
    ACTIONS = ("feed_flow", "coolant_flow")
    ACTION_LOW = (0.05, 0.01)
    ACTION_HIGH = (0.15, 0.25)
    STATES = ("level", "conc_a", "reactor_temp", "jacket_temp")
    PROCESS_FAULTS = ("fouling", "catalyst")  # UA or k0 scaled by 1 - magnitude
    _OPTIONS = ("setpoint", "initial_action", "fault")

    def __init__(
        self,
        max_steps: int = 500,
        dt: float = 1.0,
        substeps: int = 4,
        noise_scale: float = 1.0,
        fault: Mapping[str, Any] | Fault | str | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise AmiError(f"render_mode={render_mode!r} is not supported; the plant has sensors")
        if max_steps < 1 or substeps < 1 or not 0.0 < dt <= 0.5 * substeps or noise_scale < 0:
            raise AmiError(
                "need max_steps >= 1, noise_scale >= 0 and 0 < dt <= 0.5 * substeps "
                "(RK4 sub-steps of at most 0.5 min)"
            )
        self.max_steps, self.dt, self.substeps = int(max_steps), float(dt), int(substeps)
        self.noise_scale, self.render_mode = float(noise_scale), render_mode
        self.channels, self.action_names = list(self.CHANNELS), list(self.ACTIONS)
        self.units = list(self.UNITS)
        self.noise_std = np.asarray(self.NOISE_STD, np.float64) * self.noise_scale
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (len(self.CHANNELS),), np.float32)
        self.action_space = gym.spaces.Box(
            np.array(self.ACTION_LOW, np.float32), np.array(self.ACTION_HIGH, np.float32)
        )
        self._low = np.asarray(self.ACTION_LOW, np.float64)
        self._high = np.asarray(self.ACTION_HIGH, np.float64)
        self.default_fault = fault
        if fault is not None and fault != "random":
            self._resolve_fault(fault)  # fail at construction, not at the first reset
        self.fault: Fault | None = None
        self.setpoint = float(np.mean(SETPOINT_RANGE))
        self._x: tuple[float, ...] = (1.2, 1.0, 340.0, 320.0)
        self._flows = (NOMINAL_FEED, 0.1)
        self._t = 0
        self._stream: SensorFaultStream | None = None

    # ------------------------------------------------------------------ steady states
    def steady_state(self, action: Any) -> np.ndarray:
        """The (unique, stable) healthy steady state ``(h, C_A, T, Tj)`` for constant flows."""
        f, fc = self._flows_of(action)
        h = H_OUT + (f / CV) ** 2
        v = AREA * h

        def balance(t: float) -> float:  # heat in - heat out at reactor temperature t
            ca = f * CA_FEED / (f + K0 * math.exp(-E_R / t) * v)
            tj = (fc * RHO_CP_C * TC_IN + UA * t) / (fc * RHO_CP_C + UA)
            gen = DH * K0 * math.exp(-E_R / t) * ca * v
            return f * RHO_CP * (T_FEED - t) + gen - UA * (t - tj)

        t = brentq(balance, TC_IN, T_FEED + DH * CA_FEED / RHO_CP + 1.0, xtol=1e-10)
        ca = f * CA_FEED / (f + K0 * math.exp(-E_R / t) * v)
        tj = (fc * RHO_CP_C * TC_IN + UA * t) / (fc * RHO_CP_C + UA)
        return np.array([h, ca, t, tj])

    def steady_action(self, setpoint: float, feed_flow: float = NOMINAL_FEED) -> np.ndarray:
        """Flows (feed, coolant) that hold the reactor at ``setpoint`` K in steady state."""
        sp, f = float(setpoint), float(feed_flow)
        if not (math.isfinite(sp) and self._low[0] <= f <= self._high[0]):
            raise AmiError(f"need a finite setpoint and feed_flow in [0.05, 0.15], got {f}")
        v = AREA * (H_OUT + (f / CV) ** 2)
        k = K0 * math.exp(-E_R / sp) if sp > 0 else 0.0
        ca = f * CA_FEED / (f + k * v)
        q = f * RHO_CP * (T_FEED - sp) + DH * k * ca * v  # heat the jacket must remove
        tj = sp - q / UA
        fc = q / (RHO_CP_C * (tj - TC_IN)) if q > 0 and tj > TC_IN else math.inf
        if not self._low[1] <= fc <= self._high[1]:
            lo, hi = self.setpoint_range(f)
            raise AmiError(
                f"setpoint {sp:g} K is not reachable at feed_flow {f:g}; use {lo:.1f}..{hi:.1f} K"
            )
        return np.array([f, fc], np.float32)

    def setpoint_range(self, feed_flow: float = NOMINAL_FEED) -> tuple[float, float]:
        """Lowest and highest steady reactor temperature (K) reachable at ``feed_flow``."""
        lo = self.steady_state([feed_flow, self._high[1]])[2]
        hi = self.steady_state([feed_flow, self._low[1]])[2]
        return float(lo), float(hi)

    def sensors(self, state: Any, flows: Any) -> np.ndarray:
        """Noise-free sensor vector for a true state and delivered flows."""
        h, ca, t, tj = (float(v) for v in np.asarray(state, np.float64).reshape(4))
        f, fc = (float(v) for v in np.asarray(flows, np.float64).reshape(2))
        return np.array([t, tj, ca, h, f, fc, outflow(h)], np.float64)

    def goal_observation(
        self, setpoint: float | None = None, feed_flow: float = NOMINAL_FEED
    ) -> np.ndarray:
        """Noise-free steady-state sensors at ``setpoint`` (default: the episode's) and
        ``feed_flow``: a goal for planners."""
        sp = self.setpoint if setpoint is None else setpoint
        action = self.steady_action(sp, feed_flow).astype(np.float64)
        return self.sensors(self.steady_state(action), action).astype(np.float32)

    # ------------------------------------------------------------------ faults
    def _resolve_fault(self, spec: Mapping[str, Any] | Fault | str) -> Fault:
        """A Fault with the channel as a name and the magnitude filled in."""
        if spec == "random":
            targets = {"actuator_degradation": self.ACTIONS, "process_fault": self.PROCESS_FAULTS}
            spec = random_fault(
                self.np_random,
                self.max_steps,
                self.noise_std,
                kinds=FAULT_KINDS,
                targets=targets,
                channels=self.CHANNELS,
            )
        if isinstance(spec, str):
            raise AmiError(f"fault must be a dict, 'random' or None, got {spec!r}")
        f = Fault.from_spec(spec)
        m = f.magnitude
        if f.is_sensor:
            c = channel_index(
                0 if f.channel is None else f.channel, self.CHANNELS, len(self.CHANNELS)
            )
            if m is None:
                m = DEFAULT_MAGNITUDES[f.kind] * float(self.noise_std[c])
            return Fault(f.kind, f.start, self.CHANNELS[c], m, f.end)
        if f.kind == "actuator_degradation":
            c = channel_index(
                "coolant_flow" if f.channel is None else f.channel, self.ACTIONS, len(self.ACTIONS)
            )
            name = self.ACTIONS[c]
        else:
            name = "fouling" if f.channel is None else f.channel
            if name not in self.PROCESS_FAULTS:
                valid = ", ".join(self.PROCESS_FAULTS)
                raise AmiError(f"unknown process fault {name!r}; use one of {valid}")
        m = DEFAULT_MAGNITUDES[f.kind] if m is None else m
        if not 0.0 <= m <= 1.0:
            raise AmiError(f"{f.kind} magnitude is a fraction in [0, 1], got {m}")
        return Fault(f.kind, f.start, name, m, f.end)

    def _params(self, t: int) -> tuple[float, float, float, float]:
        """Feed gain, coolant gain, UA and k0 for the interval ending at observation ``t``."""
        g = [1.0, 1.0, UA, K0]
        f = self.fault
        if f is not None and not f.is_sensor and f.active(t):
            m = float(f.magnitude or 0.0)
            if f.kind == "actuator_degradation":
                g[self.ACTIONS.index(str(f.channel))] = 1.0 - m
            else:
                g[2 if f.channel == "fouling" else 3] *= 1.0 - m
        return g[0], g[1], g[2], g[3]

    # ------------------------------------------------------------------ gym API
    def _flows_of(self, action: Any) -> tuple[float, float]:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (2,):
            raise ValueError(f"action must have shape (2,), got {np.shape(action)}")
        if not np.isfinite(a).all():
            raise ValueError(f"action must be finite, got {a.tolist()}")
        a = np.clip(a, self._low, self._high)
        return float(a[0]), float(a[1])

    def _observe(self) -> np.ndarray:
        clean = self.sensors(self._x, self._flows)
        obs = (clean + self.noise_std * self.np_random.standard_normal(clean.size)).astype(
            np.float32
        )
        return obs if self._stream is None else self._stream(self._t, obs)

    def _info(self) -> dict[str, Any]:
        f = self.fault
        return {
            "state": np.asarray(self._x, np.float32),
            "setpoint": self.setpoint,
            "fault": None if f is None else f.kind,
            "fault_active": bool(f is not None and f.active(self._t)),
            "fault_spec": None if f is None else f.to_dict(),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start at a steady state; draw the setpoint and (``'random'``) fault unless given."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - set(self._OPTIONS))
        if unknown:
            raise AmiError(f"unknown reset option(s) {', '.join(unknown)}; use {self._OPTIONS}")
        rng = self.np_random
        span = self._high - self._low
        u0 = rng.uniform(self._low + 0.25 * span, self._high - 0.25 * span)
        sp = float(rng.uniform(*SETPOINT_RANGE))
        if "initial_action" in options:
            try:
                u0 = np.asarray(self._flows_of(options["initial_action"]))
            except ValueError as e:
                raise AmiError(f"bad initial_action: {e}") from e
        if options.get("setpoint") is not None:
            sp = options["setpoint"]
            number = isinstance(sp, int | float | np.number) and not isinstance(sp, bool)
            if not number or not math.isfinite(sp):
                raise AmiError(f"setpoint must be a finite temperature in K, got {sp!r}")
        spec = options.get("fault", self.default_fault)
        self.fault = None if spec is None else self._resolve_fault(spec)
        self._stream = None
        if self.fault is not None and self.fault.is_sensor:
            index = self.CHANNELS.index(str(self.fault.channel))
            self._stream = SensorFaultStream(self.fault, index)
        self.setpoint, self._t = float(sp), 0
        self._x = tuple(float(v) for v in self.steady_state(u0))
        self._flows = (float(u0[0]), float(u0[1]))
        return self._observe(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply the flows (clipped to the box) for ``dt`` minutes."""
        f, fc = self._flows_of(action)
        gain_f, gain_c, ua, k0 = self._params(self._t + 1)
        self._flows = (f * gain_f, fc * gain_c)
        self._x = rk4(self._x, self.dt, self.substeps, *self._flows, ua, k0)
        self._t += 1
        obs = self._observe()
        reward = -((self._x[2] - self.setpoint) ** 2)
        return obs, float(reward), False, self._t >= self.max_steps, self._info()


__all__ = ["NOMINAL_FEED", "SETPOINT_RANGE", "PlantEnv", "derivatives", "outflow", "rk4"]
