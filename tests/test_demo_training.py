"""The demo's training: what it reports of a reused model, and the run it sets up."""

import json

import pytest

from amiwm.cli import main
from amiwm.demo import RECIPES, _training, recipe_config, run_demo
from amiwm.errors import AmiError


def test_reused_model_reports_the_rate_its_training_wrote(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 40, "frames_per_s": 9.0}) + "\n")
    (tmp_path / "train.json").write_text(json.dumps({"step": 40, "frames_per_s": 271.5}))
    assert _training(None, tmp_path) == {"steps": 40, "frames_per_s": 271.5, "reused": True}


def test_unreadable_summary_falls_back_to_the_log(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 40, "frames_per_s": 9.0}) + "\n")
    (tmp_path / "train.json").write_text("{not json")
    assert _training(None, tmp_path) == {"steps": 40, "frames_per_s": None, "reused": True}
    (tmp_path / "train.json").unlink()
    assert _training(None, tmp_path)["steps"] == 40


def test_state_target_recipe_reads_the_state_out_in_training_only(tmp_path):
    reacher, pusht = RECIPES["reacher"], RECIPES["pusht"]
    cfg = recipe_config(reacher, tmp_path / "r.h5", 38.0, 0, proprio=False, state_target=True)
    assert (cfg.train.state_weight, cfg.train.state_angles) == (1.0, [0, 1])
    assert not cfg.model.proprio and cfg.train.motion_weight == reacher.motion
    cfg = recipe_config(pusht, tmp_path / "p.h5", 40.0, 0, proprio=False, state_target=True)
    assert cfg.train.state_angles == [4]  # the block's angle
    plain = recipe_config(reacher, tmp_path / "r.h5", 38.0, 0, proprio=False, state_target=False)
    assert plain.train.state_weight == 0.0 and plain.dataset == str(tmp_path / "r.h5")


@pytest.mark.parametrize(
    ("env", "proprio", "asked", "weight"),
    [
        ("reacher", False, None, 1.0),  # the reacher recipe's default: the state as a target
        ("reacher", True, None, 0.0),  # ... unless the state is an input
        ("reacher", False, False, 0.0),  # --state-target false: frames alone, LeWM's setting
        ("pusht", False, None, 0.0),
        ("pusht", False, True, 1.0),
    ],
)
def test_state_target_defaults_to_the_recipes(tmp_path, env, proprio, asked, weight):
    cfg = recipe_config(RECIPES[env], tmp_path / "d.h5", 1.0, 0, proprio, asked)
    assert cfg.train.state_weight == weight and cfg.model.proprio == proprio


def test_state_target_is_refused_on_two_rooms(tmp_path):
    with pytest.raises(AmiError, match="--state-target applies to the reacher and pusht"):
        run_demo(tmp_path / "d", env="two-rooms", state_target=True)
    assert not (tmp_path / "d").exists()
    assert main(["demo", "--env", "reacher", "--state-target", "maybe"]) != 0
