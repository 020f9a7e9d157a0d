"""The agent on sensor models: one row at a time in, windows kept by the RowWindow wrapper."""

import numpy as np
import torch

from amiwm.config import ModelConfig
from amiwm.models.world_model import WorldModel
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.cem import CEMPlanner
from amiwm.planning.wrappers import RowWindow


def sensor_agent() -> RowWindow:
    torch.manual_seed(0)
    cfg = ModelConfig(
        modality="sensors", obs_shape=[4, 3], context=4, encoder="temporal", action_dim=2
    )
    cfg.action_low, cfg.action_high = [0.0, 0.0], [1.0, 1.0]
    model = WorldModel(cfg).eval()
    agent = WorldModelAgent(model, CEMPlanner(samples=16, elites=4, iterations=2), horizon=3)
    return RowWindow(agent, model)


def test_rows_build_the_window_and_reset_clears_it():
    agent = sensor_agent()
    rows = np.arange(18, dtype=np.float32).reshape(6, 3)
    goal = np.ones(3, np.float32)
    a = agent.choose_action(rows[0], goal)
    assert a.shape == (2,) and (a >= 0).all() and (a <= 1).all()
    assert torch.equal(torch.stack(agent.rows), torch.as_tensor(rows[[0, 0, 0, 0]]))
    for r in rows[1:]:
        agent.choose_action(r, goal)
    assert torch.equal(torch.stack(agent.rows), torch.as_tensor(rows[2:6]))
    agent.reset()
    assert agent.rows == []


def test_goal_row_means_stay_there_and_windows_pass_through():
    agent = sensor_agent()
    goal = np.array([1.0, 2.0, 3.0], np.float32)
    want = agent.model.encode(np.repeat(goal[None, None], 4, axis=1))[0]
    agent.choose_action(np.zeros(3, np.float32), goal)
    assert torch.allclose(agent.agent.subgoal, want)  # the goal latent planned toward
    agent.reset()
    window = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    agent.choose_action(window, goal)  # a whole window is used as it is
    assert agent.rows == []
