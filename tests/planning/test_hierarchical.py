"""Hierarchical planning on a point world with a wall whose answer is known, plus the macro
predictor's training and persistence and `ami-cli eval --planner hierarchical`."""

import json

import numpy as np
import pytest
import torch

from amiwm.config import ModelConfig
from amiwm.data.store import EpisodeWriter
from amiwm.errors import AmiError
from amiwm.planning import CEMPlanner
from amiwm.planning.agent import WorldModelAgent
from amiwm.planning.graph import LatentGraph
from amiwm.planning.hierarchical import HierarchicalAgent, MacroPredictor, train_macro

WALL_Y = 2.0  # wall on x = 0 for |y| <= WALL_Y


class PointModel(torch.nn.Module):
    """Latent = 2-D position; free-space rollout (it does not know the wall)."""

    def __init__(self) -> None:
        super().__init__()
        self.config = ModelConfig(
            modality="sensors",
            obs_shape=[2],
            latent_dim=2,
            action_dim=2,
            action_low=[-1.0, -1.0],
            action_high=[1.0, 1.0],
        )

    def encode(self, obs):
        return torch.as_tensor(obs, dtype=torch.float32)

    def rollout_latents(self, latents, actions):
        return latents[:, -1:] + torch.as_tensor(actions, dtype=torch.float32).cumsum(1)


def blocked(z: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """Moves z -> new stopped just before the wall."""
    cross = (z[..., 0] * new[..., 0]) < 0
    t = z[..., 0] / (z[..., 0] - new[..., 0]).where(cross, torch.ones_like(z[..., 0]))
    y = z[..., 1] + t * (new[..., 1] - z[..., 1])
    stop = cross & (y.abs() <= WALL_Y)
    wall_pos = torch.stack([z[..., 0].sign() * 0.05, y], -1)
    return torch.where(stop[..., None], wall_pos, new)


class WallMacro(MacroPredictor):
    """A perfect macro model of the walled world: k steps of the mean action, stopped by walls."""

    def forward(self, z, action):
        return blocked(z, z + self.k * action)


def walk(agent, start, goal, steps):
    pos = torch.tensor(start)
    closest = np.inf
    for _ in range(steps):
        a = torch.as_tensor(agent.choose_action(pos.numpy(), np.array(goal, np.float32)))
        pos = blocked(pos, pos + a.clamp(-1, 1))
        closest = min(closest, float((pos - torch.tensor(goal)).norm()))
    return closest


def low_agent():
    return WorldModelAgent(PointModel(), CEMPlanner(64, 8, 4), horizon=3, seed=0)


def test_macro_high_level_leads_around_the_wall():
    start, goal = [-3.0, 0.0], [3.0, 0.0]
    assert walk(low_agent(), start, goal, 40) > 2.5  # flat MPC gets stuck at the wall
    agent = HierarchicalAgent(
        low_agent(), WallMacro(2, 2, k=3), planner=CEMPlanner(200, 20, 6), high_horizon=6
    )
    assert walk(agent, start, goal, 40) < 1.0
    assert agent.high_plans >= 5 and len(agent.plan_ms) == 40
    assert agent.imagined_high.shape == (6, 2)
    agent.reset()
    assert agent.subgoal is None and agent.high_plan is None


def test_graph_high_level_leads_around_the_wall():
    ys = np.linspace(0, 6, 13)
    path = [(-3.0, 0.0)] + [(-1.0, y) for y in ys] + [(1.0, y) for y in ys[::-1]] + [(3.0, 0.0)]
    z = torch.tensor(path)
    n = len(z)
    src = np.arange(n - 1)
    graph = LatentGraph(
        z, np.concatenate([src, src + 1]), np.concatenate([src + 1, src]), np.ones(2 * (n - 1))
    )
    agent = HierarchicalAgent(low_agent(), graph, lookahead=2, every=2)
    assert walk(agent, [-3.0, 0.0], [3.0, 0.0], 60) < 1.0
    with pytest.raises(AmiError, match="needs a planner"):
        HierarchicalAgent(low_agent(), WallMacro(2, 2, k=3))


def point_store(path, episodes=20, length=30, seed=0):
    rng = np.random.default_rng(seed)
    with EpisodeWriter(path, obs_shape=(2,), obs_dtype=np.float32, action_dim=2) as w:
        for _ in range(episodes):
            a = rng.uniform(-1, 1, (length, 2)).astype(np.float32)
            pos = np.concatenate([rng.uniform(-5, 5, (1, 2)), a[:-1]]).cumsum(0)
            w.add_episode(pos.astype(np.float32), a)
    return path


def test_macro_predictor_trains_and_round_trips(tmp_path):
    store = point_store(tmp_path / "points.h5")
    macro, stats = train_macro(PointModel(), store, k=4, steps=300, batch=128)
    assert stats["val_mse"] < 0.1 * stats["copy_mse"]  # learned z + 4 * mean action
    z, a = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, -0.25]])
    assert torch.allclose(macro(z, a), torch.tensor([[3.0, 1.0]]), atol=0.5)
    macro.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["macro.json", "macro.safetensors"]
    again = MacroPredictor.load(tmp_path / "m")
    assert again.k == 4 and json.loads((tmp_path / "m" / "macro.json").read_text())["k"] == 4
    assert torch.equal(again(z, a), macro(z, a))
    assert again.rollout(z, a[:, None].repeat(1, 3, 1)).shape == (1, 3, 2)
    with pytest.raises(AmiError, match="no macro predictor"):
        MacroPredictor.load(tmp_path / "missing")


def test_cli_eval_hierarchical(tmp_path, cli):
    r = cli("collect", "--env", "maze", "--episodes", "3", "--steps", "20", "--out", "d.h5",
            "--quiet", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    (tmp_path / "tiny.yaml").write_text(
        "model: {latent_dim: 16, encoder_width: 8, predictor_dim: 32, predictor_depth: 1,"
        " predictor_heads: 2}\ntrain: {window: 3, sigreg_projections: 32, checkpoint_every: 2}\n"
    )
    r = cli("train", "--dataset", "d.h5", "--steps", "2", "--batch-size", "4", "--out", "run",
            "--config", "tiny.yaml", "--quiet", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    from amiwm.models.world_model import WorldModel

    model = WorldModel.from_pretrained(tmp_path / "run")
    train_macro(model, tmp_path / "d.h5", k=8, steps=20)[0].save(tmp_path / "run" / "macro")
    common = ["eval", "--env", "maze", "--checkpoint", "run", "--planner", "hierarchical",
              "--episodes", "1", "--samples", "8", "--elites", "2", "--iterations", "1",
              "--json"]  # fmt: skip
    r = cli(*common, "--high", "macro", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["planner"] == "hierarchical" and report["episodes"] == 1
    assert report["replans"] == 400  # one plan per step until the maze's time limit
    agent = HierarchicalAgent.from_checkpoint(tmp_path / "run", "graph", data=tmp_path / "d.h5")
    assert agent.kind == "graph" and agent.high.num_nodes == 33  # 3 episodes x 11 of 21 frames
    obs = np.zeros((64, 64, 3), np.uint8)
    assert agent.choose_action(obs, obs).shape == (2,) and agent.subgoal.shape == (16,)
    r = cli(*common, "--high", "tree", cwd=tmp_path)
    assert r.returncode == 1 and "unknown high level 'tree'" in r.stderr
