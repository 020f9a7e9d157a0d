"""The agent on toy models whose answer is known: latent = position, actions add to it."""

import numpy as np
import pytest
import torch

from amiwm.config import ModelConfig
from amiwm.errors import AmiError
from amiwm.planning import CEMPlanner, DiscretePlanner, GradientPlanner, MPPIPlanner
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.graph import LatentGraph


class PointModel(torch.nn.Module):
    """Latent = 2-D position; rollout integrates the actions (a perfect world model)."""

    def __init__(self, conditioned: bool = True) -> None:
        super().__init__()
        self.config = ModelConfig(
            modality="sensors",
            obs_shape=[2],
            latent_dim=2,
            action_dim=2,
            action_conditioning=conditioned,
            action_low=[-1.0, -1.0],
            action_high=[1.0, 1.0],
        )

    def encode(self, obs):
        return torch.as_tensor(obs, dtype=torch.float32)

    def rollout_latents(self, latents, actions):
        a = torch.as_tensor(actions, dtype=torch.float32)
        return latents[:, -1:] + a.cumsum(1)


def run(agent, start, goal, steps=30):
    pos = np.array(start, dtype=np.float32)
    closest = np.inf
    for _ in range(steps):
        a = agent.choose_action(pos, np.array(goal, dtype=np.float32))
        assert np.all(a >= agent.low.numpy() - 1e-6) and np.all(a <= agent.high.numpy() + 1e-6)
        pos = pos + a
        closest = min(closest, float(np.linalg.norm(pos - np.asarray(goal))))
    return pos, closest


@pytest.mark.parametrize(
    "planner", [CEMPlanner(100, 10, 5), MPPIPlanner(100, 5), GradientPlanner(30, restarts=4)]
)
def test_agent_reaches_goal_with_each_planner(planner):
    agent = WorldModelAgent(PointModel(), planner, horizon=4, replan_every=2, cost="summed")
    pos, _ = run(agent, [0, 0], [5, -3], steps=12)
    assert np.linalg.norm(pos - np.array([5, -3])) < 0.3  # reached and stays
    assert len(agent.plan_ms) == 6  # replans every 2 steps
    agent = WorldModelAgent(PointModel(), planner, horizon=4, replan_every=1, cost="final")
    _, closest = run(agent, [0, 0], [5, -3], steps=12)
    assert closest < 1.0  # final-step cost: passes near the goal, need not stay
    assert agent.encode_goal(torch.tensor([5.0, -3.0])).tolist() == [5.0, -3.0]


def test_warm_start_and_reset():
    agent = WorldModelAgent(PointModel(), CEMPlanner(50, 5, 3), horizon=4, replan_every=1)
    agent.choose_action(np.zeros(2, np.float32), np.array([3.0, 0.0], np.float32))
    assert agent.last_plan is not None and agent.last_imagined.shape == (4, 2)
    agent.reset()
    assert agent.last_plan is None and agent.last_imagined is None


def test_named_actions():
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    names = ["push", "lift", "rotate", "wait"]
    agent = WorldModelAgent(
        PointModel(), DiscretePlanner(values, names), horizon=3, action_names=names, cost="summed"
    )
    chosen = [agent.choose_action(np.zeros(2, np.float32), np.array([0.0, 3.0], np.float32))]
    assert chosen == ["lift"]
    pos = np.zeros(2)
    for _ in range(3):
        a = agent.choose_action(pos.astype(np.float32), np.array([2.0, 0.0], np.float32))
        pos += values[names.index(a)].numpy()
    assert pos.tolist() == [2.0, 0.0]


def test_unconditioned_model_cannot_plan():
    with pytest.raises(AmiError, match="without actions"):
        WorldModelAgent(PointModel(conditioned=False), CEMPlanner())


def test_bad_settings():
    with pytest.raises(AmiError, match="cost"):
        WorldModelAgent(PointModel(), CEMPlanner(), cost="manhattan")
    with pytest.raises(AmiError, match="replan_every"):
        WorldModelAgent(PointModel(), CEMPlanner(), horizon=3, replan_every=5)


def corridor_graph() -> LatentGraph:
    """A U-shaped corridor: (0..9, 0) -> (9, 0..9) -> (9..0, 9). Straight line (0,0)->(0,9) is
    blocked; the graph must send the agent around."""
    pts = [(x, 0) for x in range(10)] + [(9, y) for y in range(1, 10)]
    pts += [(x, 9) for x in range(8, -1, -1)]
    z = torch.tensor(pts, dtype=torch.float32)
    src = np.arange(len(pts) - 1)
    return LatentGraph(z, np.r_[src, src + 1], np.r_[src + 1, src], np.ones(2 * len(src)))


def test_graph_subgoals_follow_the_corridor():
    g = corridor_graph()
    start, goal = torch.tensor([0.0, 0.0]), torch.tensor([0.0, 9.0])
    assert g.steps_to_goal(start, goal) == 27
    assert g.subgoal(start, goal, 3).tolist() == [3.0, 0.0]
    assert g.subgoal(torch.tensor([9.0, 4.2]), goal, 5).tolist() == [9.0, 9.0]
    assert torch.equal(g.subgoal(torch.tensor([2.0, 9.0]), goal, 5), goal)  # near: the goal


def test_agent_with_graph_goes_around_the_wall():
    agent = WorldModelAgent(
        PointModel(), CEMPlanner(100, 10, 5), horizon=3, graph=corridor_graph(), cost="summed"
    )
    pos = np.zeros(2, np.float32)
    ys_at_x0 = []
    for _ in range(40):
        a = agent.choose_action(pos, np.array([0.0, 9.0], np.float32))
        pos = pos + a
        if pos[0] < 5:
            ys_at_x0.append(pos[1])
    assert np.linalg.norm(pos - np.array([0.0, 9.0])) < 0.5
    assert max(agent.subgoal.tolist()) <= 9.0
    assert min(ys_at_x0[:3]) < 1.0  # it left along y = 0, not straight up through the wall


def test_graph_save_load(tmp_path):
    g = corridor_graph()
    g.save(tmp_path / "g.safetensors")
    h = LatentGraph.load(tmp_path / "g.safetensors")
    assert h.num_nodes == g.num_nodes and h.num_edges == g.num_edges
    goal = torch.tensor([0.0, 9.0])
    assert h.steps_to_goal(torch.zeros(2), goal) == g.steps_to_goal(torch.zeros(2), goal)


def test_agent_searches_within_the_actions_its_data_held():
    """A model trained on actions in [-0.5, 0.3] x [-1, 1] plans inside that range unless told
    to use the env's whole space; a config without the range plans in the env's space."""
    model = PointModel()
    model.config.action_seen_low, model.config.action_seen_high = [-0.5, -2.0], [0.3, 1.0]
    agent = WorldModelAgent(model, CEMPlanner(100, 10, 5), horizon=3)
    assert agent.low.tolist() == [-0.5, -1.0] and agent.high.tolist() == pytest.approx([0.3, 1.0])
    pos, _ = run(agent, [0, 0], [5, -3], steps=10)  # every action checked against those bounds
    assert pos[0] == pytest.approx(3.0, abs=0.05)  # 10 steps of at most 0.3 toward x = 5
    wide = WorldModelAgent(model, CEMPlanner(100, 10, 5), horizon=3, within_data=False)
    assert wide.low.tolist() == [-1.0, -1.0] and wide.high.tolist() == [1.0, 1.0]
    assert WorldModelAgent(PointModel(), CEMPlanner(8, 2, 1)).high.tolist() == [1.0, 1.0]


class MomentumModel(PointModel):
    """Latent = position of a body that keeps its velocity: x' = x + (x - x_prev) + a. One
    latent does not tell the velocity; two do. Its predictor reads history (not Markov)."""

    def __init__(self) -> None:
        super().__init__()
        self.config.history = 3
        self.predictor = type("History", (), {"markov": False})()

    def rollout_latents(self, latents, actions):
        seq = list(latents.unbind(1))
        v = seq[-1] - seq[-2] if len(seq) > 1 else torch.zeros_like(seq[-1])
        a = torch.as_tensor(actions, dtype=torch.float32)
        for k in range(a.shape[1] - (len(seq) - 1)):
            seq.append(seq[-1] + v + a[:, len(latents[0]) - 1 + k])
            v = seq[-1] - seq[-2]
        return torch.stack(seq[latents.shape[1] :], 1)


def test_agent_imagines_from_the_latents_and_actions_of_the_episode():
    """With a history-reading predictor the agent imagines from the last `history` latents and
    the actions between them: what it imagines for the next step is what happens."""
    agent = WorldModelAgent(MomentumModel(), CEMPlanner(64, 8, 3), horizon=3, seed=0)
    assert agent.context == 3 and WorldModelAgent(PointModel(), CEMPlanner(8, 2, 1)).context == 1
    goal = np.array([4.0, -2.0], np.float32)
    prev = pos = np.zeros(2, np.float32)
    for t in range(6):
        d = agent.act(pos, goal)
        prev, pos = pos, pos + (pos - prev) + d.action
        np.testing.assert_allclose(d.imagined[0].numpy(), pos, atol=1e-5)  # the velocity seen
        assert len(agent._past) == len(agent._taken) == min(t + 1, 3)  # the last awaits its step
    agent.reset()
    assert agent._past == [] and agent._taken == []


class BlockPointModel(PointModel):
    """Latent = 2-D position; one action is a block of 3 moves, the position moves by all three."""

    def __init__(self) -> None:
        super().__init__()
        self.config.action_dim = 6
        self.config.action_low, self.config.action_high = [-1.0] * 6, [1.0] * 6

    def rollout_latents(self, latents, actions):
        a = torch.as_tensor(actions, dtype=torch.float32)
        moves = a.reshape(*a.shape[:2], 3, 2).sum(2)
        return latents[:, -1:] + moves.cumsum(1)


def test_replanning_inside_blocks_shifts_the_plan_by_the_env_steps_run():
    """execute=1 of blocks of 3: the warm start is the previous plan moved on by one env action
    (not one block), and the agent reaches the goal running one env action per plan."""
    from amiwm.planning.base import PlanResult

    inits = []

    class Echo:  # returns a fixed plan, records the warm start it was given
        def plan(self, objective, horizon, low, high, init, generator):
            inits.append(init)
            return PlanResult(torch.arange(horizon * 6.0).reshape(horizon, 6) / 100, 0.0)

    agent = WorldModelAgent(BlockPointModel(), Echo(), horizon=2, block=3, execute=1)
    for _ in range(2):
        agent.act(np.zeros(2, np.float32), np.ones(2, np.float32))
    flat = (torch.arange(12.0) / 100).reshape(6, 2)
    expected = torch.cat([flat[1:], flat[-1:]]).reshape(2, 6)
    assert inits[0] is None and torch.equal(inits[1], expected)

    agent = WorldModelAgent(
        BlockPointModel(), CEMPlanner(64, 8, 4), horizon=2, block=3, execute=1, cost="summed"
    )
    pos, goal = np.zeros(2, np.float32), np.array([4.0, -2.5], np.float32)
    for _ in range(12):
        pos = pos + agent.choose_action(pos, goal)[:2]  # the env runs the block's first move
    assert np.linalg.norm(pos - goal) < 0.5 and len(agent.plan_ms) == 12


def test_replanning_inside_blocks_needs_a_markov_predictor():
    with pytest.raises(AmiError, match="needs a Markov predictor"):
        WorldModelAgent(MomentumModel(), CEMPlanner(8, 2, 1), block=2, execute=1)
    with pytest.raises(AmiError, match="--block-steps must be an integer from 1 to"):
        WorldModelAgent(BlockPointModel(), CEMPlanner(8, 2, 1), block=3, execute=4)
    with pytest.raises(AmiError, match="6 action values are not blocks of 4"):
        WorldModelAgent(BlockPointModel(), CEMPlanner(8, 2, 1), block=4, execute=1)
    agent = WorldModelAgent(MomentumModel(), CEMPlanner(8, 2, 1), block=2, execute=2)
    assert agent.context == 3  # the whole block: history as before
