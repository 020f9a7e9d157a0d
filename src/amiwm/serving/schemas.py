"""Request and response bodies of the HTTP API (they make the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    WithJsonSchema,
)

ARRAY_DOC = (
    "An array in one of three forms: a nested JSON list of numbers; a raw array "
    '{"dtype": "uint8" | "float32" | "float64", "shape": [...], "data": base64 of the '
    "little-endian C-order bytes}; or, for frame models only, a base64 PNG string standing for "
    "one H x W x C frame (allowed wherever a frame is expected, e.g. a list of PNG strings is a "
    "batch of frames). Frames are integers 0..255; every float must be finite."
)


def array(what: str) -> str:
    return f"{what}. {ARRAY_DOC}"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RawArray(Body):
    """A raw array: little-endian C-order bytes, base64-encoded."""

    dtype: Literal["uint8", "float32", "float64"]
    shape: Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(max_length=8)]
    data: str


def _array(value: Any) -> Any:
    """Accept the three array forms; a raw array becomes a plain checked dict."""
    if isinstance(value, dict):
        try:
            return RawArray.model_validate(value).model_dump()
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"raw array {where}: {err['msg']}") from None
    if isinstance(value, list | str):
        return value
    raise ValueError("must be an array: a nested list, a raw array object or a PNG string")


def _optional_array(value: Any) -> Any:
    return None if value is None else _array(value)


_ARRAY_SCHEMA = {
    "description": ARRAY_DOC,
    "anyOf": [
        {"type": "array", "items": {}},
        RawArray.model_json_schema(),
        {"type": "string", "contentEncoding": "base64", "contentMediaType": "image/png"},
    ],
}
Array = Annotated[Any, BeforeValidator(_array), WithJsonSchema(_ARRAY_SCHEMA)]
OptionalArray = Annotated[
    Any,
    BeforeValidator(_optional_array),
    WithJsonSchema({**_ARRAY_SCHEMA, "anyOf": [*_ARRAY_SCHEMA["anyOf"], {"type": "null"}]}),
]


STATE_DOC = "robot states (raw units) of a model trained with --proprio true (only then)"


class EncodeRequest(Body):
    observations: Array = Field(description=array("(B, *obs_shape) observations"))
    states: OptionalArray = Field(None, description=array(f"(B, S) {STATE_DOC}"))


class EncodeResponse(BaseModel):
    latents: list[list[float]] = Field(description="(B, latent_dim)")


class PredictRequest(Body):
    latents: OptionalArray = Field(None, description=array("(B, h, latent_dim) context latents"))
    observations: OptionalArray = Field(
        None, description=array("(B, h, *obs_shape) context observations, encoded first")
    )
    states: OptionalArray = Field(
        None, description=array(f"(B, h, S) {STATE_DOC}, with the observations")
    )
    actions: Array = Field(
        description=array(
            "(B, h - 1 + n, action_dim): the h - 1 actions inside the context, then the n actions "
            "to imagine (raw units)"
        )
    )


class PredictResponse(BaseModel):
    latents: list[list[list[float]]] = Field(description="(B, n, latent_dim) imagined latents")


class SurpriseRequest(Body):
    observations: Array = Field(
        description=array("(B, h + 1, *obs_shape) consecutive observations")
    )
    actions: Array = Field(description=array("(B, h, action_dim) the actions taken between them"))
    states: OptionalArray = Field(None, description=array(f"(B, h + 1, S) {STATE_DOC}"))


class SurpriseResponse(BaseModel):
    surprise: list[float] = Field(
        description="(B,) squared latent distance between predicted and observed last "
        "observation, divided by latent_dim"
    )


class Budget(Body):
    samples: Annotated[StrictInt, Field(ge=1)] | None = Field(None, description="CEM samples")
    elites: Annotated[StrictInt, Field(ge=1)] | None = Field(None, description="CEM elites")
    iterations: Annotated[StrictInt, Field(ge=1)] | None = None
    horizon: Annotated[StrictInt, Field(ge=1)] | None = Field(None, description="planned steps")


class PlanRequest(Body):
    observation: Array = Field(description=array("current observation (*obs_shape)"))
    goal: Array = Field(description=array("goal observation (*obs_shape)"))
    state: OptionalArray = Field(None, description=array(f"(S,) {STATE_DOC}: the current one"))
    goal_state: OptionalArray = Field(None, description=array(f"(S,) {STATE_DOC}: the goal's"))
    budget: Budget = Field(default_factory=Budget, description="planner budget (server maxima)")
    seed: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] = Field(
        0, description="noise seed: the same request gives the same plan"
    )
    graph: StrictBool = Field(True, description="use the latent subgoal graph if loaded")
    free_state: list[StrictInt] = Field(
        default_factory=list,
        max_length=64,
        description="indices of goal_state entries that may take any value (a proprio model; "
        "e.g. a reacher's joint velocities [2, 3]): the plan reaches the rest of the goal",
    )


class PlanResponse(BaseModel):
    actions: list[list[float]] = Field(description="(horizon, action_dim) within action bounds")
    cost: float = Field(description="latent distance of the plan's end to the (sub)goal")
    plan_ms: float = Field(description="compute time of the batch that planned this request")
    queue_ms: float = Field(description="time the request waited for the model")
    batch: int = Field(description="requests planned together in that batch")
    subgoal: bool = Field(description="whether a graph subgoal replaced a far goal")


class ErrorResponse(BaseModel):
    error: str = Field(description="one-line message")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model: dict[str, Any] = Field(
        description="modality, shapes, action bounds (the env's; plan_low/plan_high: the range "
        "plans search), proprio and state_dim, state_cost and state_cost_entries (what plans add "
        "to the latent distance)"
    )
    graph_nodes: int = Field(description="latent subgoal graph size (0: no graph)")
    limits: dict[str, Any]
    plan_defaults: dict[str, int]
