"""The agent records its experience into a persistent memory store, across sessions."""

from pathlib import Path

import numpy as np
import pytest

from amiwm.cli import main
from amiwm.errors import AmiError
from amiwm.memory import MemoryStore


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mem")
    assert main(["collect", "--episodes", "6", "--steps", "12", "--out", str(d / "d.h5"),
                 "--quiet"]) == 0  # fmt: skip
    (d / "tiny.yaml").write_text(
        "model: {latent_dim: 16, encoder_width: 8, predictor_dim: 32, predictor_depth: 1}\n"
        "train: {window: 3, checkpoint_every: 5}\n"
    )
    train = ["train", "--dataset", str(d / "d.h5"), "--steps", "5", "--batch-size", "4"]
    assert main([*train, "--config", str(d / "tiny.yaml"), "--out", str(d / "run"), "--quiet"]) == 0
    return d


def test_eval_records_transitions_and_continues_next_session(tiny_run, capsys):
    d = tiny_run
    args = ["eval", "--checkpoint", str(d / "run"), "--episodes", "2", "--samples", "8",
            "--elites", "2", "--iterations", "1", "--no-graph", "--quiet",
            "--memory", str(d / "mem")]  # fmt: skip
    assert main(args) == 0
    first = capsys.readouterr().out
    with MemoryStore(d / "mem", readonly=True) as mem:
        n1 = len(mem)
        episodes = set(mem.episodes().tolist())
        recs = mem.records(mem.ids()[:3])
    assert n1 > 0 and episodes == {0, 1} and f"memory: {n1} transitions" in first
    assert np.array_equal(recs.time, [0, 1, 2])  # consecutive steps of episode 0
    assert np.allclose(recs.next_latent[:2], recs.latent[1:3], atol=1e-5)  # a chain
    assert main(args) == 0  # a second session appends after the first
    with MemoryStore(d / "mem", readonly=True) as mem:
        assert len(mem) > n1
        assert set(mem.episodes().tolist()) == {0, 1, 2, 3}
    args_graph = args[:-2] + ["--graph-memory", str(d / "mem")]
    args_graph.remove("--no-graph")
    assert main(args_graph) == 0  # plans with subgoals from the remembered latents


def test_memory_of_another_shape_is_refused(tiny_run):
    from amiwm.planning.agent import WorldModelAgent
    from amiwm.planning.wrappers import Recorder

    MemoryStore.create(tiny_run / "other", latent_dim=8, action_dim=2, capacity=100).close()
    agent = WorldModelAgent.from_checkpoint(tiny_run / "run", samples=8, elites=2, iterations=1)
    with MemoryStore(tiny_run / "other") as mem, pytest.raises(AmiError, match="latents 8"):
        Recorder(agent, agent.model, mem)
