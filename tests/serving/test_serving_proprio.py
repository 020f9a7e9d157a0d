"""A model trained with robot state (--proprio) served: states travel beside the observations."""

import json

import numpy as np
import pytest
import torch

from amiwm.client import Client, raw
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.planning import CEMPlanner
from amiwm.planning.agent import WorldModelAgent
from amiwm.serving.engine import Engine, PlanJob

SIZE, S = 16, 3
TOKEN = "test-token-0123456789abcdef"  # as conftest's token fixture
TOL = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(scope="module")
def model(proprio_ckpt):
    return WorldModel.from_pretrained(proprio_ckpt)


def frames(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, SIZE, SIZE, 3), dtype=np.uint8)


def states(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, (*shape, S)).astype(np.float32)


def test_health_reports_proprio(proprio_server, server):
    with Client(proprio_server.url, TOKEN) as c:
        info = c.health()["model"]
    assert info["proprio"] is True and info["state_dim"] == S
    with Client(server.url, TOKEN) as c:
        info = c.health()["model"]
    assert info["proprio"] is False and info["state_dim"] == 0


def test_round_trips_with_states_match_the_model(proprio_server, model):
    obs, st = frames(3), states(3)
    seq, seq_st = frames(2, 3, seed=1), states(2, 3, seed=1)
    acts = np.random.default_rng(2).uniform(-1, 1, (2, 4, 2)).astype(np.float32)
    with torch.no_grad():
        want = model.encode(torch.from_numpy(obs), torch.from_numpy(st)).numpy()
        other = model.encode(torch.from_numpy(obs), torch.from_numpy(st + 1)).numpy()
        imagined = model.rollout(seq[:, :2], acts, seq_st[:, :2]).numpy()
        surprise = model.surprise(seq, acts[:, :2], seq_st).numpy()
    assert not np.allclose(want, other, **TOL)  # the state reaches the latent
    with Client(proprio_server.url, TOKEN) as c:
        np.testing.assert_allclose(c.encode(obs, st), want, **TOL)
        np.testing.assert_allclose(c.encode(obs[1], st[1]), want[1], **TOL)
        got = c.predict(acts, observations=seq[:, :2], states=seq_st[:, :2])
        np.testing.assert_allclose(got, imagined, **TOL)
        np.testing.assert_allclose(c.surprise(seq, acts[:, :2], seq_st), surprise, **TOL)
    body = json.dumps({"observations": obs.tolist(), "states": st.tolist()})  # nested lists
    status, answer = proprio_server.post("/v1/encode", body)
    assert status == 200
    np.testing.assert_allclose(answer["latents"], want, **TOL)


def test_plan_uses_both_states(proprio_server, model):
    obs, goal = frames(2, seed=3)
    st, goal_st = states(2, seed=3)
    with Client(proprio_server.url, TOKEN) as c:
        plan = c.plan(obs, goal, st, goal_st, seed=3, horizon=4)
        assert plan.actions.shape == (4, 2) and np.isfinite(plan.cost)
        assert (np.abs(plan.actions) <= 1.0).all()
        again = c.plan(obs, goal, st, goal_st, seed=3, horizon=4)
        moved = c.plan(obs, goal, st + 3, goal_st, seed=3, horizon=4)
        far = c.plan(obs, goal, st, goal_st + 3, seed=3, horizon=4)
    np.testing.assert_array_equal(plan.actions, again.actions)
    assert not np.allclose(plan.actions, moved.actions)  # another current state, another plan
    assert not np.allclose(plan.actions, far.actions)  # the goal is encoded with goal_state
    agent = WorldModelAgent(model, CEMPlanner(64, 8, 4), horizon=4, seed=3)
    want = agent.plan({"pixels": obs, "state": st}, {"pixels": goal, "state": goal_st})
    with Client(proprio_server.url, TOKEN) as c:
        same = c.plan(obs, goal, st, goal_st, seed=3, horizon=4, samples=64, elites=8)
    np.testing.assert_allclose(same.actions, want.actions.numpy(), atol=1e-5)
    assert same.cost == pytest.approx(want.cost, rel=1e-4, abs=1e-6)


def test_plan_with_free_goal_state_matches_the_agent(proprio_server, model):
    obs, goal = frames(2, seed=5)
    st, goal_st = states(2, seed=5)
    agent = WorldModelAgent(model, CEMPlanner(64, 8, 4), horizon=4, seed=5, free_state=(1, 2))
    want = agent.plan({"pixels": obs, "state": st}, {"pixels": goal, "state": goal_st})
    with Client(proprio_server.url, TOKEN) as c:
        got = c.plan(obs, goal, st, goal_st, seed=5, horizon=4, samples=64, elites=8,
                     free_state=[1, 2])  # fmt: skip
        pinned = c.plan(obs, goal, st, goal_st, seed=5, horizon=4, samples=64, elites=8)
    np.testing.assert_allclose(got.actions, want.actions.numpy(), atol=1e-5)
    assert got.cost == pytest.approx(want.cost, rel=1e-4, abs=1e-6)
    assert got.cost <= pinned.cost + 1e-6  # the set holds the pinned goal: never farther
    plan = {"observation": raw(obs), "goal": raw(goal), "state": raw(st), "goal_state":
            raw(goal_st)}  # fmt: skip
    assert "distinct indices in 0..2" in refused(proprio_server, "/v1/plan",
                                                 {**plan, "free_state": [3]})  # fmt: skip
    assert "distinct indices" in refused(proprio_server, "/v1/plan", {**plan, "free_state": [1, 1]})


def test_engine_batches_states_in_request_order(proprio_ckpt, model):
    engine = Engine.load(proprio_ckpt)
    obs, st = frames(5, seed=4), states(5, seed=4)
    parts = [(obs[:2], st[:2]), (obs[2:3], st[2:3]), (obs[3:], st[3:])]
    out = engine.run("encode", True, parts)
    with torch.no_grad():
        want = model.encode(obs, st).numpy()
    np.testing.assert_allclose(np.concatenate(out), want, **TOL)
    jobs = [PlanJob(obs[i], obs[4 - i], i, True, st[i], st[4 - i]) for i in range(3)]
    batched = engine.run("plan", (32, 4, 2, 3, True), jobs)
    alone = [engine.run("plan", (32, 4, 2, 3, True), [j])[0] for j in jobs]
    assert all(b["batch"] == 3 for b in batched)
    for b, a in zip(batched, alone, strict=True):
        np.testing.assert_allclose(b["actions"], a["actions"], atol=1e-5)
    with pytest.raises(ValueError, match="mixes"):
        engine.run("encode", True, [parts[0], (obs[:1], None)])


def refused(srv, path, body):
    status, answer = srv.post(path, json.dumps(body))
    assert status == 400, (path, status, answer)
    assert set(answer) == {"error"} and "\n" not in answer["error"]
    return answer["error"]


def test_bad_states_get_one_line_400s(proprio_server):
    srv = proprio_server
    obs, st = frames(2), states(2)
    seq, seq_st = frames(2, 3), states(2, 3)
    acts = np.zeros((2, 2, 2), np.float32)
    o = raw(obs)
    # a proprio model without states
    msg = refused(srv, "/v1/encode", {"observations": o})
    assert "takes the robot state too" in msg and "states (B, S) with S=3" in msg
    msg = refused(srv, "/v1/predict", {"observations": raw(seq[:, :2]), "actions": raw(acts)})
    assert "states (B, h, S)" in msg
    msg = refused(srv, "/v1/surprise", {"observations": raw(seq), "actions": raw(acts)})
    assert "states (B, h+1, S)" in msg
    plan = {"observation": raw(obs[0]), "goal": raw(obs[1])}
    assert "pass state (S,)" in refused(srv, "/v1/plan", plan)
    assert "goal_state (S,)" in refused(srv, "/v1/plan", {**plan, "state": raw(st[0])})
    # wrong S, wrong B, wrong h, NaN/Inf, a PNG string, states with latents
    bad = {"observations": o, "states": raw(st[:, :2])}
    assert "(2, 2), expected (2, 3)" in refused(srv, "/v1/encode", bad)
    assert "expected (2, 3)" in refused(srv, "/v1/encode", {"observations": o, "states": [[1.0]]})
    bad = {"observations": o, "states": raw(st[:1])}
    assert "(1, 3), expected (2, 3)" in refused(srv, "/v1/encode", bad)
    bad = {"observations": raw(seq), "actions": raw(acts), "states": raw(seq_st[:, :2])}
    assert "expected (2, 3, 3)" in refused(srv, "/v1/surprise", bad)
    nan = st.copy()
    nan[1, 2] = np.nan
    assert "NaN or Inf" in refused(srv, "/v1/encode", {"observations": o, "states": raw(nan)})
    bad = {"observations": o, "states": [[1.0, 2.0, float("inf")], [0.0, 0.0, 0.0]]}
    assert "NaN or Inf" in refused(srv, "/v1/encode", bad)
    bad = {**plan, "state": raw(st[0]), "goal_state": raw(np.full(S, 1e39))}
    assert "goal_state contains NaN or Inf" in refused(srv, "/v1/plan", bad)
    assert "not a string" in refused(srv, "/v1/encode", {"observations": o, "states": "AAAA"})
    latents = {"latents": raw(np.zeros((2, 2, 8), np.float32)), "actions": raw(acts)}
    msg = refused(srv, "/v1/predict", {**latents, "states": raw(seq_st[:, :2])})
    assert "latents already hold the state" in msg
    with (
        Client(srv.url, TOKEN) as c,
        pytest.raises(AmiError, match="server answered 400"),
    ):
        c.encode(obs)


def test_a_model_without_proprio_refuses_states(server):
    obs, st = frames(2), states(2)
    msg = refused(server, "/v1/encode", {"observations": raw(obs), "states": raw(st)})
    assert "trained without robot state" in msg
    plan = {"observation": raw(obs[0]), "goal": raw(obs[1]), "goal_state": raw(st[0])}
    assert "goal_state: this model was trained without" in refused(server, "/v1/plan", plan)
    plan = {"observation": raw(obs[0]), "goal": raw(obs[1]), "free_state": [0]}
    assert "--proprio true" in refused(server, "/v1/plan", plan)
    with Client(server.url, TOKEN) as c, pytest.raises(AmiError, match="without robot state"):
        c.surprise(frames(1, 3), np.zeros((1, 2, 2), np.float32), states(1, 3))
