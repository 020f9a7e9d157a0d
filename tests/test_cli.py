"""End-to-end CLI runs as a user would type them: in-process (the `cli` fixture), and the
demo once as a real `python -m amiwm.cli` subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, cli) -> Path:
    d = tmp_path_factory.mktemp("cli")
    r = cli(
        "collect",
        "--env",
        "two-rooms",
        "--episodes",
        "4",
        "--steps",
        "20",
        "--out",
        "d.h5",
        "--seed",
        "1",
        "--quiet",
        cwd=d,
    )
    assert r.returncode == 0, r.stderr
    return d


def test_collect_inspect_train_end_to_end(workdir, cli):
    r = cli("data", "inspect", "d.h5", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "4" in r.stdout and "amiwm/TwoRooms-v0" in r.stdout
    (workdir / "tiny.yaml").write_text(
        "model: {latent_dim: 16, encoder_width: 8, predictor_dim: 32, predictor_depth: 1,"
        " predictor_heads: 2}\ntrain: {window: 3, sigreg_projections: 32, checkpoint_every: 2}\n"
    )
    r = cli(
        "train",
        "--dataset",
        "d.h5",
        "--architecture",
        "jepa-world-model",
        "--latent-dim",
        "24",
        "--objective",
        "latent-state-prediction",
        "--action-conditioning",
        "true",
        "--precision",
        "fp32",
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--lr",
        "1e-3",
        "--seed",
        "0",
        "--out",
        "run",
        "--config",
        "tiny.yaml",
        "--quiet",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    cfg = json.loads((workdir / "run" / "checkpoint" / "config.json").read_text())
    assert cfg["model"]["latent_dim"] == 24  # flag overrides the file
    assert cfg["model"]["predictor_dim"] == 32  # file overrides the default
    assert cfg["train"]["steps"] == 3
    r = cli("train", "--out", "run", "--resume", "--steps", "5", "--quiet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert json.loads((workdir / "run" / "checkpoint" / "state.json").read_text())["step"] == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "d.h5", "--architecture", "gpt"], "unknown --architecture 'gpt'"),
        (["train", "--dataset", "d.h5", "--objective", "pixels"], "unknown --objective"),
        (["train", "--dataset", "d.h5", "--precision", "fp8"], "unknown --precision"),
        (["train", "--dataset", "d.h5", "--action-conditioning", "maybe"], "true or false"),
        (["train", "--dataset", "missing.h5"], "not found"),
        (["train", "--dataset", "d.h5", "--bogus"], "unrecognized arguments: --bogus"),
        (["collect", "--env", "NoSuchEnv-v9", "--out", "x.h5"], "NoSuchEnv-v9"),
        (["data", "inspect", "missing.h5"], "not found"),
        (["eval", "--checkpoint", "run", "--free-state", "vx"], "state entries are indices"),
        (["eval", "--checkpoint", "run", "--state-cost-entries", "a"], "state entries are indices"),
        (["serve", "--checkpoint", "run", "--state-cost-entries", "a"], "state entries are"),
        (["demo", "--env", "two-rooms", "--proprio", "true", "--out", "p"], "reacher and pusht"),
    ],
)
def test_bad_input_one_line_error(workdir, args, message, cli):
    r = cli(*args, cwd=workdir)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr


def test_corrupt_dataset_is_refused(workdir, cli):
    (workdir / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(2000))
    r = cli("train", "--dataset", "bad.h5", "--out", "badrun", cwd=workdir)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert not (workdir / "badrun").exists()


def test_collect_refuses_to_overwrite(workdir, cli):
    before = (workdir / "d.h5").read_bytes()
    r = cli("collect", "--episodes", "1", "--steps", "5", "--out", "d.h5", cwd=workdir)
    assert r.returncode != 0
    assert (workdir / "d.h5").read_bytes() == before


@pytest.fixture(scope="module")
def tiny_run(workdir, cli) -> Path:
    (workdir / "tiny2.yaml").write_text(
        "model: {latent_dim: 16, encoder_width: 8, predictor_dim: 32, predictor_depth: 1,"
        " predictor_heads: 2}\ntrain: {window: 3, sigreg_projections: 32, checkpoint_every: 2}\n"
    )
    r = cli(
        "train",
        "--dataset",
        "d.h5",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--out",
        "tiny",
        "--config",
        "tiny2.yaml",
        "--quiet",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    return workdir / "tiny"


def test_eval_end_to_end(workdir, tiny_run, cli):
    r = cli(
        "eval",
        "--checkpoint",
        str(tiny_run),
        "--env",
        "two-rooms",
        "--episodes",
        "2",
        "--planner",
        "cem",
        "--samples",
        "8",
        "--elites",
        "2",
        "--iterations",
        "1",
        "--json",
        "--video",
        "ep.gif",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    for key in ("success_rate", "success_ci95", "episodes", "plan_ms_median", "plan_ms_p95"):
        assert key in report
    assert report["episodes"] == 2 and report["replans"] > 0
    assert 0.0 <= report["success_ci95"][0] <= report["success_rate"] <= report["success_ci95"][1]
    gif = (workdir / "ep.gif").read_bytes()
    assert gif[:6] in (b"GIF87a", b"GIF89a")


def test_random_baseline_eval(workdir, cli):
    r = cli(
        "eval",
        "--checkpoint",
        "unused",
        "--planner",
        "random",
        "--episodes",
        "3",
        "--json",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["episodes"] == 3


def test_plan_from_images(workdir, tiny_run, cli):
    from PIL import Image

    from amiwm.envs.two_rooms import TwoRoomsEnv

    env = TwoRoomsEnv()
    Image.fromarray(env.render_at((10.0, 10.0))).save(workdir / "start.png")
    Image.fromarray(env.render_at((50.0, 50.0))).save(workdir / "goal.png")
    Image.fromarray(env.render_at((50.0, 50.0))[:32]).save(workdir / "small.png")
    r = cli(
        "plan",
        "--checkpoint",
        str(tiny_run),
        "--obs",
        "start.png",
        "--goal",
        "goal.png",
        "--horizon",
        "4",
        "--samples",
        "8",
        "--elites",
        "2",
        "--iterations",
        "2",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    actions = json.loads(r.stdout)["actions"]
    assert len(actions) == 4 and all(abs(v) <= 2.45 + 1e-6 for a in actions for v in a)
    r = cli(
        "plan",
        "--checkpoint",
        str(tiny_run),
        "--obs",
        "start.png",
        "--goal",
        "small.png",
        cwd=workdir,
    )
    assert r.returncode != 0 and "shape" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "--checkpoint", "nope"], "checkpoint not found"),
        (["eval", "--checkpoint", "tiny", "--planner", "astar"], "unknown planner 'astar'"),
        (["eval", "--checkpoint", "tiny", "--env", "Nope-v0"], "Nope-v0"),
        (
            ["plan", "--checkpoint", "tiny", "--obs", "missing.png", "--goal", "goal.png"],
            "cannot read image",
        ),
    ],
)
def test_planning_bad_input(workdir, tiny_run, args, message, cli):
    r = cli(*args, cwd=workdir)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr


def test_unconditioned_checkpoint_cannot_plan(workdir, tiny_run, cli):
    r = cli(
        "train",
        "--dataset",
        "d.h5",
        "--steps",
        "1",
        "--batch-size",
        "4",
        "--out",
        "noact",
        "--config",
        "tiny2.yaml",
        "--action-conditioning",
        "false",
        "--quiet",
        cwd=workdir,
    )
    assert r.returncode == 0, r.stderr
    r = cli("eval", "--checkpoint", "noact", "--episodes", "1", cwd=workdir)
    assert r.returncode != 0 and "without actions" in r.stderr


def user_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    cmd = [sys.executable, "-m", "amiwm.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_demo_end_to_end(tmp_path):
    r = user_cli(
        "demo",
        "--out",
        "demo",
        "--minutes",
        "0.05",
        "--episodes",
        "6",
        "--eval-episodes",
        "1",
        "--quiet",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "demo"
    for name in (
        "index.html",
        "episode.gif",
        "summary.json",
        "plots/training.png",
        "plots/rollout.png",
        "plots/success.png",
        "plots/plan_time.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "model" / "checkpoint" / "manifest.json").is_file()
    assert "episode.gif" in (out / "index.html").read_text()
    steps = json.loads((out / "summary.json").read_text())["training"]["steps"]
    again = user_cli("demo", "--out", "demo", "--eval-episodes", "1", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # the model is reused, not retrained
    training = json.loads((out / "summary.json").read_text())["training"]
    assert training["steps"] == steps and steps > 0 and training["reused"]
    assert training["frames_per_s"] > 0  # read back from the run's train.json


def test_demo_on_reacher_with_joint_readings_plans_to_the_pose(tmp_path, cli):
    """--proprio true: the model takes the recorded state; the goal's velocities are free."""
    pytest.importorskip("dm_control", reason="needs the dmc extra")
    r = cli("demo", "--env", "reacher", "--out", "d", "--minutes", "0.03", "--episodes", "5",
            "--eval-episodes", "2", "--proprio", "true", "--quiet", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["planner"]["free_state"] == [2, 3] and summary["protocol"]["episodes"] == 2
    config = json.loads((tmp_path / "d" / "model" / "config.json").read_text())
    assert config["model"]["proprio"] and config["model"]["state_dim"] == 6
    assert config["train"]["state_weight"] == 0.0  # the state is an input, not also a target


def test_demo_on_reacher_runs_the_protocol(tmp_path, cli):
    """The reacher recipe: blocks of 5 env steps, the goal-offset protocol, a report."""
    pytest.importorskip("dm_control", reason="needs the dmc extra")
    r = cli("demo", "--env", "reacher", "--out", "d", "--minutes", "0.03", "--episodes", "5",
            "--eval-episodes", "2", "--quiet", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "do nothing" in r.stdout
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    p = summary["protocol"]["protocol"]
    assert (p["goal_offset"], p["budget"], p["action_block"], p["pairs"]) == (25, 50, 5, 2)
    assert summary["protocol"]["episodes"] == 2
    for name in ("index.html", "episode.gif", "plots/success.png", "reacher.h5"):
        assert (tmp_path / "d" / name).is_file(), name
    config = json.loads((tmp_path / "d" / "model" / "config.json").read_text())
    assert config["train"]["motion_weight"] == 10.0  # the recipe's within-window term
    assert config["model"]["predictor"] == "mlp"  # the recipe's Markov predictor
    # the recipe's: frames at run time, so no free goal state; the state a training target,
    # so the cost adds the joint angles the model reads
    assert config["train"]["state_weight"] == 1.0 and config["train"]["state_angles"] == [0, 1]
    assert summary["planner"] == {
        "name": "cem",
        "horizon": 3,
        "cost": "summed",
        "free_state": [],
        "state_cost": 100.0,
        "state_cost_entries": [0, 1],
    }
    assert (tmp_path / "d" / "model" / "checkpoint" / "readout.safetensors").is_file()
    page = (tmp_path / "d" / "index.html").read_text()
    assert "imagines 3 model step(s)" in page
    assert "entries 0, 1 that the model's read-out reads" in page
    ev = ["eval", "--checkpoint", "d/model", "--episodes", "1", "--samples", "8", "--elites", "2",
          "--iterations", "1", "--json"]  # fmt: skip
    r = cli(*ev, cwd=tmp_path)  # eval plans as the recipe does, unless told otherwise
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert (got["horizon"], got["cost"], got["state_cost"]) == (3, "summed", 100.0)
    r = cli(*ev, "--horizon", "2", "--cost", "final", cwd=tmp_path)
    assert (json.loads(r.stdout)["horizon"], json.loads(r.stdout)["cost"]) == (2, "final")
    r = cli("demo", "--env", "maze", "--out", "m", cwd=tmp_path)
    assert r.returncode != 0 and "no demo recipe for 'maze'" in r.stderr
    assert not (tmp_path / "m").exists()


def test_eval_takes_the_checkpoints_env_and_refuses_one_that_does_not_fit(workdir, tiny_run, cli):
    """Without --env, eval runs in the env the training data came from; an env whose actions
    do not fit the checkpoint is one line, not a crash."""
    r = cli("eval", "--checkpoint", "tiny", "--episodes", "1", "--samples", "8", "--elites", "2",
            "--iterations", "1", "--json", "--no-graph", cwd=workdir)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["env"] == "amiwm/TwoRooms-v0"
    r = cli("eval", "--checkpoint", "tiny", "--env", "plant", "--episodes", "1", cwd=workdir)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "bounds its actions" in r.stderr


def test_plan_with_the_hierarchical_planner(workdir, tiny_run, cli):
    import numpy as np
    from PIL import Image

    for name in ("start.png", "goal.png"):
        Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(workdir / name)
    r = cli("plan", "--checkpoint", "tiny", "--obs", "start.png", "--goal", "goal.png",
            "--planner", "hierarchical", "--graph-data", "d.h5", "--samples", "8",
            "--elites", "2", "--iterations", "1", cwd=workdir)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["actions"]) >= 1 and out["plan_ms"] > 0
