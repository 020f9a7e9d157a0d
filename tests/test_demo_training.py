"""What a demo reports of a model an earlier run in its folder trained."""

import json

from amiwm.demo import _training


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
