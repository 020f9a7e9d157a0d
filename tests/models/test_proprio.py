"""A world model that takes the robot state as a second encoder input (--proprio)."""

import numpy as np
import pytest
import torch

from amiwm.config import ModelConfig
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel


def proprio_config(**kw) -> ModelConfig:
    cfg = ModelConfig(
        obs_shape=[16, 16, 3],
        latent_dim=8,
        encoder_width=8,
        predictor_dim=32,
        predictor_depth=1,
        predictor_heads=2,
        proprio=True,
        state_dim=3,
        state_mean=[1.0, 0.0, -1.0],
        state_std=[2.0, 1.0, 0.5],
    )
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def frames(*lead):
    return torch.randint(0, 256, (*lead, 16, 16, 3), dtype=torch.uint8)


def test_encode_takes_state_and_uses_it():
    torch.manual_seed(0)
    model = WorldModel(proprio_config()).eval()
    obs = frames(2, 4)
    state = torch.randn(2, 4, 3)
    z = model.encode(obs, state)
    assert z.shape == (2, 4, 8)
    other = model.encode(obs, state + 1.0)
    assert not torch.allclose(z, other)  # the state reaches the latent
    # the same inputs give the same latents, whatever the batch layout
    assert torch.allclose(model.encode(obs[0], state[0]), z[0], atol=1e-5)


@pytest.mark.parametrize(
    "state, message",
    [
        (None, "takes the robot state too"),
        (torch.randn(2, 4, 2), "state has shape"),
        (torch.randn(2, 3, 3), "state has shape"),
        (torch.full((2, 4, 3), float("nan")), "NaN"),
    ],
)
def test_encode_refuses_missing_or_bad_state(state, message):
    model = WorldModel(proprio_config()).eval()
    with pytest.raises(AmiError, match=message):
        model.encode(frames(2, 4), state)


def test_model_without_proprio_refuses_a_state():
    model = WorldModel(proprio_config(proprio=False, state_dim=0, state_mean=[], state_std=[]))
    with pytest.raises(AmiError, match="without robot state"):
        model.encode(frames(1), torch.zeros(1, 3))


def test_proprio_needs_a_state_dim():
    with pytest.raises(AmiError, match="state_dim"):
        WorldModel(proprio_config(state_dim=0, state_mean=[], state_std=[]))


@pytest.mark.parametrize("encoder", ["conv", "vit"])
def test_save_load_roundtrip(tmp_path, encoder):
    torch.manual_seed(0)
    model = WorldModel(proprio_config(encoder=encoder)).eval()
    obs, state = frames(3), np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    model.save_pretrained(tmp_path / "m")
    back = WorldModel.from_pretrained(tmp_path / "m")
    assert back.config.proprio and back.config.state_std == [2.0, 1.0, 0.5]
    assert torch.equal(model.encode(obs, state), back.encode(obs, state))
    # rollout from observations + states works as before on the latents
    actions = torch.zeros(3, 1 + 2, 2)
    assert back.rollout(
        obs[:, None].expand(3, 2, 16, 16, 3), actions, np.stack([state] * 2, 1)
    ).shape == (3, 2, 8)


def test_sensor_model_with_state():
    cfg = ModelConfig(modality="sensors", obs_shape=[5, 4], latent_dim=8, proprio=True, state_dim=2)
    model = WorldModel(cfg).eval()
    assert model.encode(torch.randn(6, 5, 4), torch.randn(6, 2)).shape == (6, 8)
