"""The micro-batcher, batched CEM and the engine, without HTTP."""

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

from amiwm.errors import AmiError
from amiwm.planning import CEMPlanner
from amiwm.planning.agent import WorldModelAgent
from amiwm.serving.batching import Busy, MicroBatcher
from amiwm.serving.engine import Engine, PlanJob
from amiwm.serving.validate import Limits


def recorder(calls, fail_on=None, gate=None):
    def run(kind, key, payloads):
        if gate is not None:
            gate.wait(10)
        calls.append((kind, key, list(payloads)))
        if fail_on is not None and fail_on in payloads:
            raise ValueError("bad payload")
        return [p * 10 for p in payloads]

    return run


def test_concurrent_jobs_share_one_call_and_a_lone_job_does_not_wait():
    calls = []
    b = MicroBatcher(recorder(calls), wait_ms=2000)
    t0 = time.perf_counter()
    assert b.submit("encode", None, 1).result(5) == 10
    assert time.perf_counter() - t0 < 1.0  # nothing announced: no waiting for company
    calls.clear()
    for _ in range(5):
        b.announce(1)  # five requests arriving (bodies still uploading)
    futures = []

    def arrive(i):
        time.sleep(0.02 * i)
        futures.append(b.submit("encode", None, i))
        b.announce(-1)

    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(f.result(5) for f in futures) == [0, 10, 20, 30, 40]
    assert len(calls) == 1 and sorted(calls[0][2]) == [0, 1, 2, 3, 4]
    b.close()


def test_groups_chunks_failures_busy_and_cancel():
    calls, gate = [], threading.Event()
    b = MicroBatcher(recorder(calls, fail_on=3, gate=gate), max_rows={"*": 4}, max_queue=6)
    first = b.submit("encode", None, 0)  # the worker takes it and waits at the gate
    time.sleep(0.1)
    jobs = [b.submit("encode", None, 1, rows=3), b.submit("encode", None, 2, rows=3)]
    jobs += [b.submit("plan", (64, 8), 3), b.submit("plan", (64, 8), 4)]
    jobs += [b.submit("plan", (32, 8), 5)]
    cancelled = b.submit("plan", (32, 8), 6)
    with pytest.raises(Busy, match="busy"):
        b.submit("encode", None, 7)
    assert cancelled.cancel()
    gate.set()
    assert first.result(5) == 0
    assert [j.result(5) for j in (jobs[0], jobs[1], jobs[3], jobs[4])] == [10, 20, 40, 50]
    with pytest.raises(ValueError, match="bad payload"):
        jobs[2].result(5)  # the failing request fails alone; its batch-mate got an answer
    seen = [c[2] for c in calls]
    assert [1] in seen and [2] in seen  # 3 + 3 rows > 4: two calls
    assert [3, 4] in seen and [3] in seen and [4] in seen  # batched, then retried one by one
    assert all(6 not in p for p in seen)  # the cancelled job never ran
    b.close()


def quadratic(targets):
    """Elementwise objective: per-problem targets (P, H, A); (P, N, H, A) -> (P, N)."""

    def f(cand):
        return (cand - targets[:, None]).square().sum((2, 3))

    return f


def test_cem_plan_batch_equals_separate_plans():
    torch.manual_seed(0)
    targets = torch.randn(3, 4, 2)
    low, high = torch.full((2,), -1.0), torch.full((2,), 1.5)
    planner = CEMPlanner(samples=40, elites=5, iterations=4)
    batch = planner.plan_batch(
        quadratic(targets),
        3,
        4,
        low,
        high,
        generators=[torch.Generator().manual_seed(s) for s in (1, 2, 3)],
    )
    for i, s in enumerate((1, 2, 3)):
        one = planner.plan(
            lambda u, i=i: (u - targets[i]).square().sum((1, 2)),
            4,
            low,
            high,
            generator=torch.Generator().manual_seed(s),
        )
        assert torch.equal(batch[i].actions, one.actions)
        assert batch[i].costs_per_iteration == one.costs_per_iteration
    with pytest.raises(AmiError, match="generators"):
        planner.plan_batch(quadratic(targets), 3, 4, low, high, generators=[None])
    with pytest.raises(AmiError, match=r"\(3, 40\)"):
        planner.plan_batch(lambda c: c.sum((2, 3))[:, :5], 3, 4, low, high)


@pytest.fixture(scope="module")
def engine(frames_ckpt):
    return Engine.load(frames_ckpt)


def test_engine_plan_matches_the_agent(engine, frames_ckpt):
    from amiwm.models.world_model import WorldModel

    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    assert engine.graph is not None and engine.graph.num_nodes > 0  # from the training store
    assert engine.info()["history"] == 2
    model = WorldModel.from_pretrained(frames_ckpt)  # history 2, as trained
    for graph in (None, engine.graph):
        agent = WorldModelAgent(model, CEMPlanner(64, 8, 4), horizon=5, graph=graph, seed=7)
        want = agent.plan(obs[0], obs[1])
        [got] = engine.run("plan", (64, 8, 4, 5), [PlanJob(obs[0], obs[1], 7, graph is not None)])
        np.testing.assert_allclose(got["actions"], want.actions.numpy(), atol=1e-5)
        assert got["cost"] == pytest.approx(want.cost, rel=1e-4, abs=1e-6)
        assert got["batch"] == 1
    jobs = [PlanJob(obs[i], obs[3 - i], i) for i in range(4)]
    out = engine.run("plan", (32, 4, 2, 3), jobs)
    assert all(o["batch"] == 4 and o["actions"].shape == (3, 2) for o in out)
    assert all((np.abs(o["actions"]) <= 1.0).all() for o in out)


def test_engine_plans_within_the_actions_its_data_held(engine):
    """/plan searches the training data's action range; /healthz shows both ranges."""
    from amiwm.models.world_model import WorldModel

    cfg = dataclasses.replace(
        engine.config, action_seen_low=[-0.2, -1.0], action_seen_high=[0.3, 0.5]
    )
    narrow = Engine(WorldModel(cfg).eval())
    info = narrow.info()
    assert (info["action_low"], info["action_high"]) == ([-1.0, -1.0], [1.0, 1.0])
    assert info["plan_low"] + info["plan_high"] == pytest.approx([-0.2, -1.0, 0.3, 0.5])
    obs = np.random.default_rng(1).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    [got] = narrow.run("plan", (32, 4, 2, 3), [PlanJob(obs[0], obs[1], 0)])
    lo, hi = np.array([-0.2, -1.0]) - 1e-6, np.array([0.3, 0.5]) + 1e-6  # float32 edges
    assert (got["actions"] >= lo).all() and (got["actions"] <= hi).all()


def test_engine_refuses_a_nan_model(engine):
    from amiwm.models.world_model import WorldModel

    model = WorldModel(engine.config)
    with torch.no_grad():
        next(model.encoder.parameters()).fill_(float("nan"))
    with pytest.raises(AmiError, match="NaN or Inf"):
        Engine(model.eval())


def test_limits_must_be_positive():
    with pytest.raises(AmiError, match="max_batch"):
        Limits(max_batch=0)


def test_graph_remembers_several_goals(engine, monkeypatch):
    """Robots with different goals interleave; each goal's Dijkstra runs once, same answers."""
    import amiwm.planning.graph as graph_module

    graph = engine.graph
    runs = []
    real = graph_module.dijkstra
    monkeypatch.setattr(graph_module, "dijkstra", lambda *a, **k: runs.append(1) or real(*a, **k))
    z = graph.latents
    goals = [z[i].clone() for i in (0, len(z) // 2, len(z) - 1)]
    first = [graph.subgoal(z[5], g, 2) for g in goals]
    again = [graph.subgoal(z[5], g, 2) for g in goals * 3]
    assert len(runs) == 3
    for a, b in zip(first * 3, again, strict=True):
        assert torch.equal(a, b)


def test_checkpoints_are_never_unpickled(frames_ckpt, tmp_path):
    """A pickle disguised as model.safetensors (valid manifest) is refused, never executed."""
    import hashlib
    import json
    import shutil

    ckpt = tmp_path / "evil"
    shutil.copytree(frames_ckpt, ckpt)
    marker = tmp_path / "pwned"
    # protocol-0 pickle of open(marker, "w"), written by hand: loading it would create marker
    payload = f"c__builtin__\nopen\n(S'{marker}'\nS'w'\ntR.".encode()
    (ckpt / "model.safetensors").write_bytes(payload)
    manifest = json.loads((ckpt / "manifest.json").read_text())
    manifest["files"]["model.safetensors"] = hashlib.sha256(payload).hexdigest()
    (ckpt / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AmiError, match="cannot read"):
        Engine.load(ckpt)
    assert not marker.exists()


def test_serving_code_has_no_unpickling_calls():
    from pathlib import Path

    import amiwm.client
    import amiwm.serving

    files = [*Path(amiwm.serving.__file__).parent.glob("*.py"), Path(amiwm.client.__file__)]
    assert len(files) >= 8
    for f in files:
        text = f.read_text()
        for banned in ("torch.load", "import pickle", "np.load(", "numpy.load(", "allow_pickle"):
            assert banned not in text, f"{f.name} uses {banned}"


def test_engine_plans_with_the_state_cost_as_the_agent_does(store, tmp_path):
    from amiwm.models.world_model import WorldModel
    from amiwm.planning.state_cost import StateCost
    from amiwm.training.trainer import train
    from tests.training.test_state_readout import tiny

    train(tiny(store), tmp_path / "read", progress=False)  # reads state (x, y), x as an angle
    engine = Engine.load(tmp_path / "read", graph=False, state_cost=50.0, state_cost_entries=(1,))
    assert (engine.info()["state_cost"], engine.info()["state_cost_entries"]) == (50.0, [1])
    cost = StateCost.from_checkpoint(tmp_path / "read", 50.0, [1])
    agent = WorldModelAgent(WorldModel.from_pretrained(tmp_path / "read"), CEMPlanner(64, 8, 4),
                            horizon=5, seed=7, state_cost=cost)  # fmt: skip
    obs = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    want = agent.plan(obs[0], obs[1])
    [got] = engine.run("plan", (64, 8, 4, 5), [PlanJob(obs[0], obs[1], 7, False)])
    np.testing.assert_allclose(got["actions"], want.actions.numpy(), atol=1e-5)
    assert got["cost"] == pytest.approx(want.cost, rel=1e-4, abs=1e-6)
    plain = Engine.load(tmp_path / "read", graph=False)
    [latent_only] = plain.run("plan", (64, 8, 4, 5), [PlanJob(obs[0], obs[1], 7, False)])
    assert latent_only["cost"] < got["cost"]  # the read-out's distance is added
    with pytest.raises(AmiError, match="--state-cost-entries needs a --state-cost weight"):
        Engine.load(tmp_path / "read", graph=False, state_cost_entries=(1,))
    with pytest.raises(AmiError, match="state entry 4 is not read out"):
        Engine.load(tmp_path / "read", graph=False, state_cost=1.0, state_cost_entries=(4,))
