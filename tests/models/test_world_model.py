import pytest
import torch

from amiwm.config import ModelConfig
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel


def small(**kw) -> ModelConfig:
    base = dict(
        obs_shape=[32, 32, 3],
        latent_dim=16,
        encoder_width=8,
        predictor_dim=32,
        predictor_depth=2,
        predictor_heads=2,
        history=3,
    )
    base.update(kw)
    return ModelConfig(**base)


@pytest.mark.parametrize("encoder", ["conv", "vit"])
@pytest.mark.parametrize("predictor", ["transformer", "mlp"])
def test_shapes(encoder, predictor):
    torch.manual_seed(0)
    m = WorldModel(small(encoder=encoder, predictor=predictor)).eval()
    obs = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8)
    z = m.encode(obs)
    assert z.shape == (2, 4, 16)
    assert m.predict(z, torch.randn(2, 4, 2)).shape == (2, 4, 16)
    assert m.rollout(obs[:, :2], torch.randn(2, 1 + 5, 2)).shape == (2, 5, 16)


def test_predictor_is_causal():
    torch.manual_seed(0)
    m = WorldModel(small(predictor="transformer")).eval()
    z = torch.randn(1, 3, 16)
    a = torch.randn(1, 3, 2)
    p1 = m.predict(z, a)
    z2, a2 = z.clone(), a.clone()
    z2[:, 2] += 5.0
    a2[:, 2] += 5.0
    p2 = m.predict(z2, a2)
    assert torch.allclose(p1[:, :2], p2[:, :2], atol=1e-5)
    assert not torch.allclose(p1[:, 2], p2[:, 2], atol=1e-3)


def test_rollout_matches_teacher_forcing_on_own_predictions():
    torch.manual_seed(0)
    m = WorldModel(small()).eval()
    z0 = torch.randn(2, 1, 16)
    a = torch.randn(2, 3, 2)
    roll = m.rollout_latents(z0, a)
    seq = torch.cat([z0, roll[:, :2]], dim=1)
    assert torch.allclose(m.predict(seq, a), roll, atol=1e-5)


@pytest.mark.parametrize("predictor", ["transformer", "mlp"])
def test_actions_change_predictions_unless_unconditioned(predictor):
    torch.manual_seed(0)
    z = torch.randn(1, 1, 16)
    for cond in (True, False):
        m = WorldModel(small(action_conditioning=cond, predictor=predictor)).eval()
        for blk in getattr(m.predictor, "blocks", []):  # AdaLN gates start at zero; open them
            torch.nn.init.normal_(blk.modulation[1].weight, std=0.1)
        d = (m.predict(z, torch.ones(1, 1, 2)) - m.predict(z, -torch.ones(1, 1, 2))).abs().max()
        assert (d > 1e-4) == cond


def test_save_and_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = WorldModel(small(action_mean=[0.5, -0.5], action_std=[2.0, 2.0])).eval()
    obs = torch.randint(0, 256, (3, 32, 32, 3), dtype=torch.uint8)
    m.save_pretrained(tmp_path / "ckpt")
    m2 = WorldModel.from_pretrained(tmp_path / "ckpt")
    assert m2.config == m.config
    assert torch.equal(m.encode(obs), m2.encode(obs))
    a = torch.randn(3, 1, 2)
    assert torch.equal(m.predict(m.encode(obs)[:, None], a), m2.predict(m2.encode(obs)[:, None], a))


def test_large_latent_dim():
    m = WorldModel(small(latent_dim=8192)).eval()
    z = m.encode(torch.zeros(2, 32, 32, 3, dtype=torch.uint8))
    assert z.shape == (2, 8192)
    assert m.rollout_latents(z[:, None], torch.zeros(2, 2, 2)).shape == (2, 2, 8192)


def test_bad_inputs_raise_clear_errors():
    m = WorldModel(small()).eval()
    with pytest.raises(AmiError, match="shape"):
        m.encode(torch.zeros(2, 64, 64, 3, dtype=torch.uint8))
    with pytest.raises(AmiError, match="NaN"):
        m.encode(torch.full((1, 32, 32, 3), float("nan")))
    with pytest.raises(AmiError, match="dimensions"):
        m.predict(torch.zeros(1, 1, 16), torch.zeros(1, 1, 3))
    with pytest.raises(AmiError, match="NaN"):
        m.predict(torch.zeros(1, 1, 16), torch.full((1, 1, 2), float("inf")))


def test_markov_rollout_shortcut_gives_the_same_latents():
    torch.manual_seed(0)
    model = WorldModel(ModelConfig(obs_shape=[32, 32, 3], history=3)).eval()
    z, a = torch.randn(4, 3, model.config.latent_dim), torch.randn(4, 7, 2)
    with torch.no_grad():
        fast = model.rollout_latents(z, a)
        model.predictor.markov = False  # feed the whole history, keep the last output
        slow = model.rollout_latents(z, a)
    assert torch.allclose(fast, slow, atol=1e-6)
