"""RunDir answers which config, which training data and which split a run used."""

import pytest

from amiwm.errors import AmiError
from amiwm.rundir import RunDir
from amiwm.training.trainer import train


def test_rundir_of_a_trained_run(store, tmp_path):
    from amiwm.config import RunConfig

    cfg = RunConfig(dataset=str(store))
    cfg.train.steps, cfg.train.batch_size, cfg.train.val_fraction = 2, 4, 0.34
    cfg.model.latent_dim, cfg.model.encoder_width = 8, 8
    train(cfg, tmp_path / "run", progress=False)
    run = RunDir(tmp_path / "run")
    assert run.checkpoint == tmp_path / "run" / "checkpoint" and run.root == tmp_path / "run"
    assert run.training_data == store.resolve() and run.spec.kind == "store"
    fit, val = run.split
    assert sorted(fit + val) == list(range(6)) and len(val) == 2
    store.unlink()
    assert RunDir(tmp_path / "run").training_data is None
    with pytest.raises(AmiError, match="is not here to calibrate on; pass --calibrate"):
        RunDir(tmp_path / "run").require_training_data("to calibrate on", "--calibrate FILE")
