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

    def __init__(self, state_dim: int = 2) -> None:
        super().__init__()
        self.config = ModelConfig(
            obs_shape=[16, 16, 3],
            latent_dim=state_dim,
            action_dim=2,
            action_low=[-1.0, -1.0],
            action_high=[1.0, 1.0],
            proprio=True,
            state_dim=state_dim,
            state_mean=[0.0] * state_dim,
            state_std=[1.0] * state_dim,
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


class MovingPointModel(StatePointModel):
    """A proprio model whose latent is its state (x, y, vx, vy): an action moves the point by
    itself and becomes its velocity. Counts its encode calls."""

    def __init__(self) -> None:
        super().__init__(state_dim=4)
        self.encodes = 0

    def encode(self, obs, state=None):
        self.encodes += 1
        return super().encode(obs, state)

    def rollout_latents(self, latents, actions):
        a = torch.as_tensor(actions, dtype=torch.float32)
        pos = latents[:, -1:, :2] + a.cumsum(1)
        return torch.cat([pos, a], -1)


def _reach(free_state: tuple[int, ...]) -> float:
    """Distance to the goal position after 12 steps, the goal asking for velocity (3, 3)."""
    model = MovingPointModel()
    agent = WorldModelAgent(model, CEMPlanner(64, 8, 4), horizon=3, cost="summed",
                            free_state=free_state)  # fmt: skip
    state, goal = np.zeros(4, np.float32), np.array([2.0, -1.0, 3.0, 3.0], np.float32)
    for _ in range(12):
        a = np.clip(agent.act({"pixels": FRAME, "state": state}, {"pixels": FRAME, "state": goal})
                    .action, -1, 1)  # fmt: skip
        state = np.concatenate([state[:2] + a, a]).astype(np.float32)
    return float(np.linalg.norm(state[:2] - goal[:2]))


def test_free_state_reaches_the_pose_at_any_velocity():
    # with the velocity left free the point stops on the goal; asked to match the goal's
    # velocity (out of reach) it keeps moving past it
    free, matched = _reach((2, 3)), _reach(())
    assert free < 0.3 and matched > 0.5 and free < matched / 3


def test_goal_set_starts_with_the_goal_and_is_encoded_once_per_goal():
    model = MovingPointModel()
    agent = WorldModelAgent(model, CEMPlanner(8, 2, 1), horizon=2, free_state=(2, 3))
    goal = {"pixels": FRAME, "state": np.array([1.0, 2.0, 0.5, -0.5], np.float32)}
    members = agent.encode_goal(goal)
    assert members.shape == (64, 4)
    assert torch.equal(members[0], torch.tensor([1.0, 2.0, 0.5, -0.5]))
    assert torch.equal(members[:, :2], members[:1, :2].expand(64, -1))  # the pose is kept
    assert members[1:, 2:].min() >= -2.0 and members[1:, 2:].max() <= 2.0  # mean +- 2 std
    assert members[1:, 2:].std(0).min() > 0.5  # spread over the range
    calls = model.encodes
    for _ in range(3):
        agent.act({"pixels": FRAME, "state": np.zeros(4, np.float32)}, goal)
    assert model.encodes == calls + 3  # the observations only: the goal set is reused
    assert agent.subgoal.shape == (4,)


@pytest.mark.parametrize(
    "model, free, message",
    [
        (tiny_proprio_model, (5,), "distinct indices in 0..2"),
        (tiny_proprio_model, (1, 1), "distinct indices"),
        (StatePointModel, (2,), "distinct indices in 0..1"),
    ],
)
def test_free_state_errors(model, free, message):
    with pytest.raises(AmiError, match=message):
        WorldModelAgent(model(), CEMPlanner(8, 2, 1), horizon=2, free_state=free)


def test_free_state_needs_a_proprio_model():
    cfg = tiny_proprio_model().config
    cfg.proprio, cfg.state_dim = False, 0
    with pytest.raises(AmiError, match="--proprio true"):
        WorldModelAgent(WorldModel(cfg), CEMPlanner(8, 2, 1), free_state=(0,))
