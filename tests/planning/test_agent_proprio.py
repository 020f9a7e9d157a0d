"""Agents given observations and goals as {"pixels": frame, "state": vector} (proprio models)."""

import numpy as np
import pytest
import torch

from amiwm.config import ModelConfig
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.planning import CEMPlanner
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.observations import encode_observation


class StatePointModel(torch.nn.Module):
    """A proprio model whose latent is the robot state itself (the frame is ignored); actions
    add to it: planning from the dict's state must reach the goal's state."""

    def __init__(self) -> None:
        super().__init__()
        self.config = ModelConfig(
            obs_shape=[16, 16, 3],
            latent_dim=2,
            action_dim=2,
            action_low=[-1.0, -1.0],
            action_high=[1.0, 1.0],
            proprio=True,
            state_dim=2,
        )

    def encode(self, obs, state=None):
        if state is None:
            raise AmiError("needs state")
        return torch.as_tensor(state, dtype=torch.float32)

    def rollout_latents(self, latents, actions):
        return latents[:, -1:] + torch.as_tensor(actions, dtype=torch.float32).cumsum(1)


FRAME = np.zeros((16, 16, 3), np.uint8)


def test_agent_plans_from_state_in_dict_observations():
    agent = WorldModelAgent(StatePointModel(), CEMPlanner(100, 10, 4), horizon=4, cost="summed")
    pos, goal = np.array([-3.0, 2.0], np.float32), np.array([2.0, -1.0], np.float32)
    for _ in range(20):
        d = agent.act({"pixels": FRAME, "state": pos}, {"pixels": FRAME, "state": goal})
        pos = pos + np.clip(d.action, -1, 1)
    assert np.linalg.norm(pos - goal) < 0.5


def tiny_proprio_model() -> WorldModel:
    torch.manual_seed(0)
    cfg = ModelConfig(
        obs_shape=[16, 16, 3],
        latent_dim=8,
        encoder_width=8,
        predictor_dim=32,
        predictor_depth=1,
        predictor_heads=2,
        history=1,
        action_low=[-1.0, -1.0],
        action_high=[1.0, 1.0],
        proprio=True,
        state_dim=3,
    )
    return WorldModel(cfg).eval()


def test_real_model_encodes_frame_and_state():
    model = tiny_proprio_model()
    obs = {"pixels": FRAME, "state": np.ones(3, np.float32)}
    z = encode_observation(model, obs)
    assert z.shape == (8,)
    assert torch.equal(z, model.encode(FRAME[None], np.ones((1, 3), np.float32))[0])
    assert not torch.allclose(z, encode_observation(model, {**obs, "state": np.zeros(3)}))
    agent = WorldModelAgent(model, CEMPlanner(16, 4, 2), horizon=3)
    d = agent.act(obs, {"pixels": FRAME, "state": np.zeros(3, np.float32)})
    assert d.imagined.shape == (3, 8) and np.all(np.abs(d.action) <= 1.0)
    agent.reset()
    assert agent.act(obs, z).action.shape == (2,)  # a goal latent still works


@pytest.mark.parametrize(
    "obs, message",
    [
        (FRAME, "pass each observation and goal as"),
        ({"pixels": FRAME}, "no 'state'"),
        ({"pixels": FRAME, "state": np.zeros(2)}, "state has shape"),
        ({"pixels": FRAME, "state": np.full(3, np.nan)}, "NaN"),
        ({"frame": FRAME, "state": np.zeros(3)}, "needs keys"),
    ],
)
def test_bad_observations_are_refused(obs, message):
    agent = WorldModelAgent(tiny_proprio_model(), CEMPlanner(16, 4, 2), horizon=3)
    with pytest.raises(AmiError, match=message):
        agent.act(obs, {"pixels": FRAME, "state": np.zeros(3)})
    with pytest.raises(AmiError, match=message):
        agent.encode_goal(obs)


def test_model_without_state_takes_the_dict_pixels():
    model = tiny_proprio_model()
    cfg = model.config
    cfg.proprio, cfg.state_dim = False, 0
    plain = WorldModel(cfg).eval()
    z = encode_observation(plain, {"pixels": FRAME, "state": np.zeros(3)})
    assert torch.equal(z, plain.encode(FRAME[None])[0])
