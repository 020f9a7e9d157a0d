"""Server limits, and request bodies -> checked engine payloads (shapes, dtypes, NaN/Inf, sizes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from amiwm.config import ModelConfig
from amiwm.errors import AmiError
from amiwm.serving import schemas
from amiwm.serving.arrays import decode, floats, frames, match, shape_text
from amiwm.serving.engine import Engine, PlanJob


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; everything beyond gets a 4xx before touching the model."""

    max_body_bytes: int = 4 << 20  # request body (413 beyond)
    max_batch: int = 64  # observations or sequences per request
    max_steps: int = 64  # time steps per sequence (predict, surprise)
    max_samples: int = 1024  # plan budget maxima
    max_iterations: int = 32
    max_horizon: int = 32
    max_plan_work: int = 20_480  # samples x iterations x horizon (16x the default budget)
    max_queue: int = 256  # queued requests before 503 "busy"
    batch_rows: int = 256  # observations/sequences stacked into one forward pass
    plan_batch: int = 32  # plans stacked into one batched planner call
    batch_wait_ms: float = 2.0  # how long the worker waits for requests already arriving
    timeout_s: float = 30.0  # a request waiting longer for the model gets 503

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise AmiError(f"server limit {name} must be > 0, got {value}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Validator:
    """Turns schema-valid bodies into engine payloads, or raises AmiError (-> 400)."""

    def __init__(self, engine: Engine, limits: Limits) -> None:
        self.engine = engine
        self.cfg: ModelConfig = engine.config
        self.limits = limits
        self.obs = tuple(self.cfg.obs_shape)
        self.shapes = [self.obs]
        camera = tuple(self.cfg.camera_shape)
        if self.cfg.modality == "frames" and camera and camera != self.obs:
            self.shapes.append(camera)  # frames as the camera delivers them; the model fits them
        self.frame = self.shapes if self.cfg.modality == "frames" else None
        self.a = max(self.cfg.action_dim, 1)

    def observations(self, value: Any, what: str, lead: tuple[str, ...]) -> np.ndarray:
        arr = decode(value, what, self.frame)
        arr = frames(arr, what) if self.frame is not None else floats(arr, what)
        for i, shape in enumerate(self.shapes):
            try:
                sizes = match(arr, what, (*lead, *shape))
                break
            except AmiError as e:
                if i == len(self.shapes) - 1:
                    if len(self.shapes) > 1:
                        want = " or ".join(shape_text((*lead, *s)) for s in self.shapes)
                        raise AmiError(
                            f"{what} has shape {shape_text(arr.shape)}, expected {want}"
                        ) from None
                    raise e from None
        self._sizes(what, sizes)
        if i > 0:  # camera-sized: fitted here, so batches hold the model's frames only
            arr = self.engine.model.camera_frames(arr).numpy()
        return np.ascontiguousarray(arr)

    def floats(self, value: Any, what: str, pattern: tuple[int | str, ...]) -> np.ndarray:
        arr = floats(decode(value, what), what)
        self._sizes(what, match(arr, what, pattern))
        return np.ascontiguousarray(arr)

    def states(
        self, value: Any, what: str, lead: tuple[int, ...], names: tuple[str, ...]
    ) -> np.ndarray | None:
        """Robot states (*lead, S) of the observations for a proprio model, else None.

        `names` spell the lead dimensions in the message when the states are missing."""
        if not self.cfg.proprio:
            if value is not None:
                raise AmiError(
                    f"{what}: this model was trained without robot state (--proprio); send no "
                    f"{what}"
                )
            return None
        s = self.cfg.state_dim
        if value is None:
            raise AmiError(
                "this model takes the robot state too (trained with --proprio true): pass "
                f"{what} {shape_text((*names, 'S')) if names else '(S,)'} with S={s} beside the "
                "observations"
            )
        return self.floats(value, what, (*lead, s))

    def _sizes(self, what: str, sizes: dict[str, int]) -> None:
        lim = self.limits
        caps = {"B": lim.max_batch, "h": lim.max_steps, "h+1": lim.max_steps + 1}
        caps["T"] = 2 * lim.max_steps
        for name, size in sizes.items():
            if name in caps and not 1 <= size <= caps[name]:
                raise AmiError(f"{what}: {name}={size} is outside 1..{caps[name]} (server limit)")

    # ------------------------------------------------------------------ endpoints
    def encode(self, req: schemas.EncodeRequest) -> tuple[tuple[Any, ...], bool, int]:
        obs = self.observations(req.observations, "observations", ("B",))
        states = self.states(req.states, "states", obs.shape[:1], ("B",))
        return (obs, states), states is not None, len(obs)

    def predict(self, req: schemas.PredictRequest) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        if (req.latents is None) == (req.observations is None):
            raise AmiError("give exactly one of latents or observations as the context")
        states = None
        if req.observations is not None:
            ctx = self.observations(req.observations, "observations", ("B", "h"))
            states = self.states(req.states, "states", ctx.shape[:2], ("B", "h"))
        elif req.states is not None:
            raise AmiError("states go with observations; latents already hold the state")
        else:
            ctx = self.floats(req.latents, "latents", ("B", "h", self.cfg.latent_dim))
        acts = self.floats(req.actions, "actions", ("B", "T", self.a))
        b, h = ctx.shape[:2]
        n = acts.shape[1] - (h - 1)
        if acts.shape[0] != b:
            raise AmiError(f"actions hold {acts.shape[0]} sequences, the context holds {b}")
        if not 1 <= n <= self.limits.max_steps:
            raise AmiError(
                f"actions: {acts.shape[1]} steps for a context of h={h} imagine n={n} steps; "
                f"need h - 1 + n steps with n in 1..{self.limits.max_steps}"
            )
        is_obs = req.observations is not None
        return (ctx, acts, is_obs, states), (is_obs, h, acts.shape[1], states is not None)

    def surprise(self, req: schemas.SurpriseRequest) -> tuple[tuple[Any, ...], int]:
        obs = self.observations(req.observations, "observations", ("B", "h+1"))
        if obs.shape[1] < 2:
            raise AmiError("observations: surprise needs h + 1 >= 2 steps per sequence")
        h = obs.shape[1] - 1
        acts = self.floats(req.actions, "actions", (obs.shape[0], h, self.a))
        states = self.states(req.states, "states", obs.shape[:2], ("B", "h+1"))
        return (obs, acts, states), (h, states is not None)

    def plan(self, req: schemas.PlanRequest) -> tuple[PlanJob, tuple[Any, ...]]:
        if not self.engine.can_plan:
            raise AmiError("this model was trained without actions; it cannot plan")
        lim, b = (
            self.limits,
            {**Engine.default_budget(), **req.budget.model_dump(exclude_none=True)},
        )
        for name, top in (
            ("samples", lim.max_samples),
            ("iterations", lim.max_iterations),
            ("horizon", lim.max_horizon),
        ):
            if b[name] > top:
                raise AmiError(f"budget.{name}={b[name]} exceeds the server maximum {top}")
        work = b["samples"] * b["iterations"] * b["horizon"]
        if work > lim.max_plan_work:
            raise AmiError(
                f"budget samples x iterations x horizon = {work} exceeds the server maximum "
                f"{lim.max_plan_work}; lower one of them"
            )
        if req.budget.elites is None:
            b["elites"] = min(b["elites"], b["samples"])
        if b["elites"] > b["samples"]:
            raise AmiError(f"budget.elites={b['elites']} exceeds budget.samples={b['samples']}")
        obs = self.observations(req.observation, "observation", ())
        goal = self.observations(req.goal, "goal", ())
        state = self.states(req.state, "state", (), ())
        goal_state = self.states(req.goal_state, "goal_state", (), ())
        free = tuple(req.free_state)
        if free:
            self.engine.free_goal(free)  # checks the indices against the model
        job = PlanJob(obs, goal, req.seed, req.graph, state, goal_state, free)
        key = (b["samples"], b["elites"], b["iterations"], b["horizon"], state is not None, free)
        return job, key
