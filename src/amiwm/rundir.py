"""A training run or checkpoint directory that answers for itself: which config, which
training data (or none any more), which train/validation split of it."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from amiwm.checkpoint import read_json, resolve
from amiwm.config import RunConfig
from amiwm.data.spec import DatasetSpec
from amiwm.data.store import EpisodeStore
from amiwm.data.windows import split_episodes
from amiwm.errors import AmiError


class RunDir:
    """``RunDir(path)``: a checkpoint directory, or a run directory holding ``checkpoint/``."""

    def __init__(self, path: str | Path) -> None:
        self.given = Path(path)
        self.checkpoint = resolve(self.given)
        self.config = RunConfig.from_dict(read_json(self.checkpoint / "config.json"))

    @property
    def root(self) -> Path:
        """The run directory: where imported data (``data.h5``) and logs live."""
        return self.checkpoint.parent

    @property
    def spec(self) -> DatasetSpec | None:
        """What the run was trained on (None for a bare saved model)."""
        return DatasetSpec.parse(self.config.dataset) if self.config.dataset else None

    @property
    def data_path(self) -> Path | None:
        """The episode store the model was trained on (imported data: ``RUN/data.h5``); it may
        no longer exist, see `training_data`."""
        spec = self.spec
        if spec is None:
            return None
        return self.root / "data.h5" if spec.imported else Path(spec.path)

    @property
    def training_data(self) -> Path | None:
        """The training store when it is still a file here, else None."""
        path = self.data_path
        return path if path is not None and path.is_file() else None

    def require_training_data(self, why: str, instead: str) -> Path:
        """The training store, or a one-line error saying why it is needed and what to pass."""
        path = self.training_data
        if path is None:
            where = f" ({self.data_path})" if self.data_path else ""
            raise AmiError(
                f"the training data of {self.given}{where} is not here {why}; pass {instead}"
            )
        return path

    @property
    def env_id(self) -> str | None:
        """The environment the training data was collected in, when the store says so."""
        path = self.training_data
        if path is None:
            return None
        with EpisodeStore(path) as store:
            env = store.attrs.get("env_id")
        return str(env) if env else None

    @property
    def action_block(self) -> int:
        """Env steps per model step of the training data (``collect --action-block``), 1 when
        the store does not say."""
        path = self.training_data
        if path is None:
            return 1
        with EpisodeStore(path) as store:
            meta = store.attrs.get("metadata_json") or {}
        return int(meta.get("action_block") or 1)

    @cached_property
    def split(self) -> tuple[list[int], list[int]]:
        """(train, validation) episode indices of the training store, as training drew them."""
        path = self.require_training_data("to split", "the data explicitly")
        with EpisodeStore(path) as store:
            n = store.num_episodes
        return split_episodes(n, self.config.train.val_fraction, self.config.train.seed)
