"""Planning in the state a model's read-out reads (amiwm.planning.state_cost)."""

import math

import numpy as np
import pytest
import torch

from amiwm.config import ModelConfig
from amiwm.errors import AmiError
from amiwm.models.readout import StateReadout
from amiwm.planning import CEMPlanner
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.build import make_agent
from amiwm.planning.costs import distances
from amiwm.planning.state_cost import StateCost
from amiwm.training.trainer import train
from tests.training.test_state_readout import tiny


def readout(latent_dim: int = 4, state_dim: int = 3, angles=(1,), entries=()) -> StateReadout:
    cfg = ModelConfig(latent_dim=latent_dim, state_dim=state_dim)
    cfg.state_mean, cfg.state_std = [0.0] * state_dim, [1.0] * state_dim
    return StateReadout(cfg, angles, entries)


def test_rows_name_the_entries_outputs():
    head = readout(state_dim=4, angles=(1, 3))  # rows: entry 0, entry 2, cos 1, cos 3, sin 1, sin 3
    assert head.rows([0]) == [0] and head.rows([2]) == [1]
    assert head.rows([1]) == [2, 4] and head.rows([3, 0]) == [3, 5, 0]
    with pytest.raises(AmiError, match=r"entry 2 is not read out; the read-out reads \[0, 1\]"):
        readout(state_dim=4, entries=(0, 1)).rows([2])


def test_extended_distance_is_latent_plus_weighted_readout_distance():
    torch.manual_seed(0)
    head = readout(latent_dim=6, state_dim=3, angles=(1,))
    cost = StateCost(head, [1], weight=7.0)  # the angle: its cos and sin rows
    z, g = torch.randn(5, 3, 6), torch.randn(6)
    got = distances(cost.extend(z), cost.extend(g))
    w = head.net.weight.detach()[[2, 3]]  # rows: entry 0, entry 2, cos 1, sin 1
    want = distances(z, g) + 7.0 * ((z - g) @ w.T).square().sum(-1)
    torch.testing.assert_close(got, want)
    assert StateCost(head, [], 1.0).entries == [0, 1, 2]  # default: all the read-out reads


@pytest.mark.parametrize("weight", [-1.0, 0.0, math.nan, math.inf])
def test_weight_must_be_positive_and_finite(weight):
    with pytest.raises(AmiError, match="--state-cost must be a positive weight"):
        StateCost(readout(), [0], weight)


class RippleModel(torch.nn.Module):
    """A point moved by its actions, whose latent (x, y, 4 sin 3x, 4 cos 3x) has false minima in
    x every 2.1 units: latent distance alone stops at one, the read-out of x does not."""

    def __init__(self) -> None:
        super().__init__()
        self.config = ModelConfig(latent_dim=4, action_dim=2, action_low=[-1.0, -1.0],
                                  action_high=[1.0, 1.0])  # fmt: skip

    @staticmethod
    def latent(p: torch.Tensor) -> torch.Tensor:
        x = p[..., :1]
        return torch.cat([p, 4 * torch.sin(3 * x), 4 * torch.cos(3 * x)], -1)

    def encode(self, obs):
        return self.latent(torch.as_tensor(obs, dtype=torch.float32))

    def rollout_latents(self, latents, actions):
        return self.latent(latents[:, -1:, :2] + torch.as_tensor(actions).cumsum(1))


def _final_x(weight: float) -> float:
    head = readout(latent_dim=4, state_dim=2, angles=())
    with torch.no_grad():
        head.net.weight.copy_(torch.eye(2, 4))  # reads (x, y)
    cost = StateCost(head, [0], weight) if weight else None
    agent = WorldModelAgent(RippleModel(), CEMPlanner(64, 8, 4), horizon=3, cost="summed",
                            state_cost=cost, within_data=False)  # fmt: skip
    pos, goal = np.array([2.3, 0.0], np.float32), RippleModel.latent(torch.zeros(2))
    for _ in range(10):
        pos = pos + np.clip(agent.choose_action(pos, goal), -1, 1)
    return float(abs(pos[0]))


def test_the_read_out_leads_the_plan_out_of_a_false_minimum():
    stuck, reached = _final_x(0.0), _final_x(100.0)
    assert stuck > 1.5 and reached < 0.3


def test_from_checkpoint_reads_the_runs_head_and_refuses_a_run_without_one(store, tmp_path):
    train(tiny(store), tmp_path / "read", progress=False)  # state (x, y): x an angle here
    cost = StateCost.from_checkpoint(tmp_path / "read", 10.0, [0])
    assert cost.projection.shape == (2, 16) and cost.entries == [0]
    agent = make_agent(tmp_path / "read", graph=False, samples=8, elites=2, iterations=1,
                       state_cost=10.0, state_cost_entries=[1])  # fmt: skip
    assert agent.state_cost.projection.shape == (1, 16)
    frame = np.zeros((32, 32, 3), np.uint8)
    assert np.isfinite(agent.plan(frame, frame).cost)
    with pytest.raises(AmiError, match="state entry 5 is not read out"):
        StateCost.from_checkpoint(tmp_path / "read", 10.0, [5])

    train(tiny(store, state_weight=0.0, state_angles=[]), tmp_path / "plain", progress=False)
    with pytest.raises(AmiError, match="has no state read-out.*--state-cost needs one"):
        make_agent(tmp_path / "plain", graph=False, state_cost=1.0)


def test_the_hierarchical_agent_refuses_a_state_cost(tmp_path):
    with pytest.raises(AmiError, match="--state-cost applies to a flat agent"):
        make_agent(tmp_path / "unused", "hierarchical", state_cost=1.0)


def test_weight_zero_is_no_state_cost_and_takes_no_entries(tmp_path):
    assert StateCost.optional(tmp_path / "unused", 0.0) is None  # nothing read: latent alone
    with pytest.raises(AmiError, match="--state-cost-entries needs a --state-cost weight"):
        StateCost.optional(tmp_path / "unused", 0.0, [0])


def test_a_corrupt_read_out_is_refused(store, tmp_path):
    train(tiny(store), tmp_path / "read", progress=False)
    head = tmp_path / "read" / "checkpoint" / "readout.safetensors"
    head.write_bytes(head.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(AmiError, match="readout.safetensors is corrupt or truncated"):
        StateCost.from_checkpoint(tmp_path / "read", 1.0)
