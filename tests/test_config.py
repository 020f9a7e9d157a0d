"""RunConfig.set: every config field reachable by name, with its type checked."""

import pytest

from amiwm.config import RunConfig
from amiwm.errors import AmiError


def test_set_converts_text_to_the_field_type():
    c = RunConfig()
    c.set("train.lr", "3e-4")
    c.set("model.predictor", "transformer")
    c.set("train.epochs", "2")
    c.set("data.action_cols", "valve, pump")
    c.set("model.action_conditioning", "false")
    c.set("train.reg_weight", "none")
    c.set("model.obs_shape", "32,32,3")
    c.set("dataset", "d.h5")
    assert (c.train.lr, c.model.predictor, c.train.epochs) == (3e-4, "transformer", 2.0)
    assert c.data.action_cols == ["valve", "pump"] and c.model.action_conditioning is False
    assert c.train.reg_weight is None and c.model.obs_shape == [32, 32, 3]
    assert c.dataset == "d.h5"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("train.steps", "many", "train.steps must be int"),
        ("train.steps", "2.5", "train.steps must be int"),
        ("train.nope", "1", "unknown setting 'train.nope'; train has: batch_size"),
        ("optimizer.lr", "1", "unknown setting 'optimizer.lr'"),
        ("model.action_conditioning", "maybe", "must be bool"),
    ],
)
def test_set_refuses_unknown_names_and_wrong_types(key, value, message):
    with pytest.raises(AmiError, match=message):
        RunConfig().set(key, value)
