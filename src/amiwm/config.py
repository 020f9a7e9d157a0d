"""Typed configs: the single source of truth, saved as JSON inside every checkpoint."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amiwm.errors import AmiError

ARCHITECTURES = ("jepa-world-model",)
OBJECTIVES = ("latent-state-prediction",)
PRECISIONS = ("fp32", "bf16")
ENCODERS = ("auto", "conv", "vit", "mlp", "temporal")
FRAME_ENCODERS = ("conv", "vit")
PREDICTORS = ("transformer", "mlp")
REGULARIZERS = ("sigreg", "vicreg", "ema")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise AmiError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")


@dataclass
class ModelConfig:
    """What a world model is: architecture, shapes and the data statistics it normalises with."""

    architecture: str = "jepa-world-model"
    modality: str = "frames"  # "frames" (uint8 H x W x C) or "sensors" (float vector)
    obs_shape: list[int] = field(default_factory=lambda: [64, 64, 3])  # sensors: [context, D]
    context: int = 30  # sensors only: rows of history the encoder sees per observation
    channels: list[str] = field(default_factory=list)  # sensors only: column names, in order
    action_names: list[str] = field(default_factory=list)
    action_dim: int = 2
    action_conditioning: bool = True
    latent_dim: int = 64
    encoder: str = "auto"  # frames: conv; sensors: temporal over a window, mlp for one row
    encoder_width: int = 32
    predictor: str = "mlp"  # measured: as accurate as the transformer on two-rooms, 4x faster plans
    predictor_dim: int = 128
    predictor_depth: int = 3
    predictor_heads: int = 4
    history: int = 3  # latents the predictor attends to (train.window - 1 by default)
    action_low: list[float] = field(default_factory=list)  # bounds the env accepts
    action_high: list[float] = field(default_factory=list)
    # the range of the training data's actions: planners search inside it (planning_bounds)
    action_seen_low: list[float] = field(default_factory=list)
    action_seen_high: list[float] = field(default_factory=list)
    action_mean: list[float] = field(default_factory=list)
    action_std: list[float] = field(default_factory=list)
    obs_mean: list[float] = field(default_factory=list)  # sensors only: per-channel
    obs_std: list[float] = field(default_factory=list)
    # frames from a robot corpus: the camera's (H, W, C) and the policy that fits it to
    # obs_shape (amiwm.frames.fit_frames); empty = frames must arrive at obs_shape already
    camera_shape: list[int] = field(default_factory=list)
    resize: str = ""
    # robot state (joint readings) as a second encoder input (`--proprio true`); the state's
    # size and per-dimension mean/std come from the training data (amiwm.data.stats)
    proprio: bool = False
    state_dim: int = 0
    state_mean: list[float] = field(default_factory=list)
    state_std: list[float] = field(default_factory=list)

    @property
    def action_labels(self) -> list[str]:
        """The action names, or a0, a1, ... where the data named none."""
        return list(self.action_names or [f"a{i}" for i in range(self.action_dim)])

    @property
    def rows_per_obs(self) -> int:
        """Rows of sensor history in one observation (temporal encoder); 1 otherwise."""
        return (
            int(self.obs_shape[0]) if self.modality == "sensors" and len(self.obs_shape) == 2 else 1
        )

    def planning_bounds(self, within_data: bool = True) -> tuple[list[float], list[float]]:
        """Per-dimension (low, high) a planner searches: the env's bounds ([-1, 1] where none
        were recorded), narrowed to the training data's range unless ``within_data`` is False
        (a model has not learnt what actions it never saw do)."""
        a = max(self.action_dim, 1)
        low = list(self.action_low or [-1.0] * a)
        high = list(self.action_high or [1.0] * a)
        if within_data and len(self.action_seen_low) == len(low) == len(self.action_seen_high):
            low = [max(b, s) for b, s in zip(low, self.action_seen_low, strict=True)]
            high = [min(b, s) for b, s in zip(high, self.action_seen_high, strict=True)]
        return low, high

    def resolved_encoder(self) -> str:
        """The encoder to build: the one named, or for "auto" the one that fits the data."""
        if self.encoder != "auto":
            return self.encoder
        if self.modality == "frames":
            return "conv"
        return "temporal" if self.rows_per_obs > 1 else "mlp"

    def check_encoder(self) -> None:
        """Refuse an encoder named for another kind of observation than the data's."""
        name = self.resolved_encoder()
        if (self.modality == "frames") != (name in FRAME_ENCODERS):
            fits = "conv or vit" if self.modality == "frames" else "temporal or mlp"
            raise AmiError(f"encoder {name!r} does not take {self.modality}; use {fits}")
        if name == "temporal" and self.rows_per_obs < 2:
            raise AmiError("the temporal encoder needs a window of rows: model.context >= 2")

    def validate(self) -> None:
        _choice("--architecture", self.architecture, ARCHITECTURES)
        _choice("encoder", self.encoder, ENCODERS)
        _choice("predictor", self.predictor, PREDICTORS)
        if self.latent_dim < 1:
            raise AmiError(f"--latent-dim must be a positive integer, got {self.latent_dim}")
        if self.context < 1:
            raise AmiError(f"model.context must be >= 1, got {self.context}")
        if self.history < 1:
            raise AmiError(f"model.history must be >= 1, got {self.history}")
        if self.resize:
            _choice("model.resize", self.resize, ("crop", "pad", "stretch"))
        if self.predictor_dim % self.predictor_heads:
            raise AmiError("model.predictor_dim must be divisible by model.predictor_heads")
        if self.state_dim < 0:
            raise AmiError(f"model.state_dim must be >= 0, got {self.state_dim}")
        for name in ("state_mean", "state_std"):
            if getattr(self, name) and len(getattr(self, name)) != self.state_dim:
                raise AmiError(f"model.{name} must have model.state_dim={self.state_dim} values")


@dataclass
class TrainConfig:
    """How a world model is trained."""

    objective: str = "latent-state-prediction"
    regularizer: str = "vicreg"  # measured best on two-rooms; see README "Choosing the defaults"
    reg_weight: float | None = None  # None: 0.1 for sigreg (as LeWorldModel), 1.0 for vicreg
    sigreg_projections: int = 256
    sigreg_knots: int = 17
    ema_decay: float = 0.99
    window: int = 4  # frames per training window: teacher forcing on window-1 transitions
    rollout_weight: float = 1.0  # weight of the multi-step (autoregressive) rollout loss
    idm_weight: float = 0.0  # weight of the inverse-dynamics term (amiwm.training.loss)
    motion_weight: float = 0.0  # weight of the within-window variance term (same module)
    motion_std: float = 0.5  # each latent dimension's std within a window that it asks for
    # weight of a training-only linear read-out of the recorded robot state from each latent:
    # the state is a target, never an input (the model still plans from frames alone); the
    # entries in state_angles are angles, read as (cos, sin); state_entries: the entries read
    # out (empty: all; a velocity, which one frame cannot show, can be left out)
    state_weight: float = 0.0
    state_angles: list[int] = field(default_factory=list)
    state_entries: list[int] = field(default_factory=list)
    # weight of the same read-out from the rollout's imagined latents against the recorded
    # future states: the predictor answers for the state's future (where a push leaves a block)
    state_rollout_weight: float = 0.0
    steps: int = 1000
    epochs: float | None = None  # if set, overrides steps
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0
    precision: str = "fp32"
    checkpoint_every: int = 200
    log_every: int = 10
    val_fraction: float = 0.1

    @property
    def reg_scale(self) -> float:
        if self.reg_weight is not None:
            return self.reg_weight
        return {"sigreg": 0.1, "vicreg": 1.0}.get(self.regularizer, 0.0)

    def validate(self) -> None:
        _choice("--objective", self.objective, OBJECTIVES)
        _choice("--precision", self.precision, PRECISIONS)
        _choice("regularizer", self.regularizer, REGULARIZERS)
        if self.window < 2:
            raise AmiError(f"train.window must be >= 2, got {self.window}")
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise AmiError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise AmiError(f"--lr must be positive, got {self.lr}")
        if not self.idm_weight >= 0:
            raise AmiError(f"train.idm_weight must be >= 0, got {self.idm_weight}")
        if self.idm_weight > 0 and self.window < 3:
            raise AmiError("train.idm_weight > 0 needs train.window >= 3 (3 latents per action)")
        for name in ("motion_weight", "motion_std", "state_weight", "state_rollout_weight"):
            if not getattr(self, name) >= 0:
                raise AmiError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("state_angles", "state_entries"):
            idx = getattr(self, name)
            if len(set(idx)) != len(idx) or any(i < 0 for i in idx):
                raise AmiError(f"train.{name} must be distinct indices >= 0: {idx}")
        if self.state_entries and not set(self.state_angles) <= set(self.state_entries):
            raise AmiError(
                f"train.state_angles {self.state_angles} must be among train.state_entries "
                f"{self.state_entries}"
            )
        if self.state_rollout_weight > 0 and not self.state_weight > 0:
            raise AmiError("train.state_rollout_weight needs the read-out: train.state_weight > 0")
        if self.epochs is not None and self.epochs <= 0:
            raise AmiError(f"--epochs must be positive, got {self.epochs}")


MISSING = ("error", "ffill", "drop")


@dataclass
class DataConfig:
    """How sensor tables (``cmapss:``, ``csv:``, ``parquet:`` datasets) are read."""

    time_col: str | None = None
    group_col: str | None = None
    action_cols: list[str] = field(default_factory=list)
    sensor_cols: list[str] = field(default_factory=list)
    missing: str = "error"  # error | ffill (within a group) | drop (the row)
    # robot corpora (a folder, lerobot:DIR, videos:DIR, images:DIR, hdf5:PATH, npz:PATH)
    frame_size: int = 64  # the model's frames are frame_size x frame_size
    resize: str = "crop"  # crop | pad | stretch (amiwm.frames)
    camera: str | None = None  # a multi-camera dataset's camera (default: the first)
    frameskip: int = 1  # keep every k-th frame
    action_combine: str = "concat"  # the k actions between kept frames: concat | sum | mean | first
    frames_key: str | None = None  # hdf5/npz: the arrays holding frames, actions, state
    actions_key: str | None = None
    state_key: str | None = None
    episodes_key: str | None = None  # hdf5: the group whose children are episodes

    def validate(self) -> None:
        _choice("--missing", self.missing, MISSING)
        _choice("--resize", self.resize, ("crop", "pad", "stretch"))
        _choice("--action-combine", self.action_combine, ("concat", "sum", "mean", "first"))
        if self.frameskip < 1:
            raise AmiError(f"--frameskip must be >= 1, got {self.frameskip}")
        if self.frame_size < 16 or self.frame_size % 16:
            raise AmiError(f"--frame-size must be a multiple of 16, got {self.frame_size}")

    def import_options(self) -> dict[str, Any]:
        """Options of ``amiwm.data.formats.robot.cached_import``."""
        keys = {
            "frames": self.frames_key,
            "actions": self.actions_key,
            "state": self.state_key,
            "episodes": self.episodes_key,
        }
        return {
            "frame_size": self.frame_size,
            "resize": self.resize,
            "camera": self.camera,
            "frameskip": self.frameskip,
            "action_combine": self.action_combine,
            "keys": keys,
        }

    def read_options(self) -> dict[str, Any]:
        return {
            "time_col": self.time_col,
            "group_col": self.group_col,
            "action_cols": self.action_cols or None,
            "sensor_cols": self.sensor_cols or None,
            "missing": self.missing,
        }


@dataclass
class RunConfig:
    """A training run: dataset, model and training settings."""

    dataset: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> None:
        self.model.validate()
        self.train.validate()
        self.data.validate()
        if self.train.idm_weight > 0 and not self.model.action_conditioning:
            raise AmiError("train.idm_weight > 0 needs actions: --action-conditioning true")
        t, dim = self.train, self.model.state_dim
        for name in ("state_angles", "state_entries"):
            idx = getattr(t, name)
            if t.state_weight > 0 and dim and any(i >= dim for i in idx):
                raise AmiError(f"train.{name} {idx}: the state has {dim} entries")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        data = dict(data)
        unknown = set(data) - {"dataset", "model", "train", "data"}
        if unknown:
            raise AmiError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        return cls(
            dataset=str(data.get("dataset", "")),
            model=_build(ModelConfig, data.get("model", {}), "model"),
            train=_build(TrainConfig, data.get("train", {}), "train"),
            data=_build(DataConfig, data.get("data", {}), "data"),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def set(self, key: str, value: Any) -> None:
        """Set ``dataset`` or ``SECTION.FIELD`` (e.g. ``train.lr``), checking the name and the
        type; text is converted (``3e-4``, ``true``, ``a,b`` for a list, ``none``)."""
        section, _, name = key.partition(".")
        if key == "dataset":
            target, name = self, "dataset"
        elif section in ("model", "train", "data") and name:
            target = getattr(self, section)
        else:
            raise AmiError(f"unknown setting {key!r}; use dataset or model.X, train.X, data.X")
        fields = {f.name: f for f in dataclasses.fields(target)}
        if name not in fields:
            raise AmiError(f"unknown setting {key!r}; {section} has: {', '.join(sorted(fields))}")
        current = getattr(target, name)
        value = _coerce(key, value, current, fields[name].type)
        setattr(target, name, value)


def _coerce(key: str, value: Any, current: Any, annotation: Any) -> Any:
    """`value` (a text from the command line, or a YAML value) as the field's type."""
    text = str(annotation)
    if isinstance(value, str) and value.strip().lower() in ("none", "null") and "None" in text:
        return None
    try:
        if "list" in text:
            items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
            if isinstance(items, list):
                of = int if "int" in text else float if "float" in text else str
                return [of(v) for v in items if v != ""]
        elif "bool" in text:
            if isinstance(value, bool):
                return value
            words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
            return words[str(value).strip().lower()]
        elif "float" in text:
            if not isinstance(value, bool):
                return float(value)
        elif "int" in text:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                return int(value)
        elif "str" in text:
            return str(value)
    except (KeyError, ValueError):
        pass
    kind = type(current).__name__ if current is not None else text
    raise AmiError(f"{key} must be {kind}, got {value!r}")


def _build(cls: type, data: dict[str, Any], section: str) -> Any:
    if not isinstance(data, dict):
        raise AmiError(f"config section {section!r} must be a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise AmiError(
            f"unknown key(s) in config section {section!r}: {', '.join(sorted(unknown))}"
        )
    return cls(**data)


def load_config_file(path: Path) -> RunConfig:
    """Read a YAML (or JSON) config file into a RunConfig."""
    import yaml

    if not path.is_file():
        raise AmiError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise AmiError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise AmiError(f"{path} must hold a mapping with sections dataset/model/train/data")
    return RunConfig.from_dict(data)
