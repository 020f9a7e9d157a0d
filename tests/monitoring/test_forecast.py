"""What-if forecasts on a small controlled linear system (two sensors, one action)."""

from pathlib import Path

import numpy as np
import pytest

from amiwm.cli import main
from amiwm.errors import AmiError
from amiwm.models.forecast import rows_needed
from amiwm.monitoring.forecast import Forecaster, read_plan, transitions

TINY = (
    "model: {latent_dim: 16, encoder_width: 8, predictor_dim: 32, predictor_depth: 1,"
    " predictor_heads: 2}\ntrain: {window: 3, batch_size: 16, checkpoint_every: 50}\n"
)


def write_plant(path: Path, units: range, seed: int, rows: int = 120) -> None:
    """x1' = 0.6 x1 + u + noise, x2' = 0.5 x2 + 0.5 x1 + noise; u a slow random walk (steps)."""
    rng = np.random.default_rng(seed)
    lines = ["unit,t,x1,x2,u"]
    for g in units:
        x, u = np.zeros(2), 0.0
        for t in range(rows):
            if rng.random() < 0.15:
                u = float(rng.uniform(-2, 2))
            lines.append(f"{g},{t},{x[0]:.5f},{x[1]:.5f},{u:.5f}")
            x = np.array([0.6 * x[0] + u, 0.5 * x[1] + 0.5 * x[0]]) + rng.normal(0, 0.1, 2)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("forecast")
    write_plant(d / "train.csv", range(8), seed=0)
    write_plant(d / "test.csv", range(3), seed=1)
    (d / "tiny.yaml").write_text(TINY)
    args = ["train", "--dataset", f"csv:{d / 'train.csv'}", "--group-col", "unit"]
    args += ["--time-col", "t", "--action-cols", "u", "--context", "2", "--steps", "40"]
    assert main([*args, "--config", str(d / "tiny.yaml"), "--out", str(d / "run"), "--quiet"]) == 0
    fc = Forecaster(d / "run", 5)
    return {"dir": d, "run": d / "run", "fc": fc}


def test_transitions_follow_the_store_convention() -> None:
    a = np.arange(4.0)[:, None]
    assert transitions(a, next_row=False)[:, 0].tolist() == [0, 1, 2]  # a row's own action
    assert transitions(a, next_row=True)[:, 0].tolist() == [1, 2, 3]  # TEP: the next row's
    assert transitions(None, next_row=False) is None


def test_api_shapes_batching_and_model_forecast_agree(plant) -> None:
    fc = plant["fc"]
    model, h = fc.model, fc.model.config.history
    table = fc.read(f"csv:{plant['dir'] / 'test.csv'}")
    x, a = table.sensors[:30], table.actions[:30]
    acts = np.concatenate([a[30 - h : 29], np.ones((5, 1), np.float32)])
    one = fc.forecast(x, acts)
    assert one.shape == (5, 2) and np.isfinite(one).all()
    same = model.forecast(x[-rows_needed(model) :], acts, fc.readout)
    np.testing.assert_allclose(one, same, rtol=1e-5)
    batch = fc.forecast(np.stack([x, x]), np.stack([acts, acts]))
    np.testing.assert_allclose(batch[1], one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fc.forecast(x, acts[:-2], horizon=3), one[:3], rtol=1e-5)


def test_what_if_follows_the_plan_and_beats_persistence(plant) -> None:
    fc = plant["fc"]
    table = fc.read(f"csv:{plant['dir'] / 'test.csv'}")
    high = fc.forecast_table(table, np.full((5, 1), 2.0, np.float32))
    low = fc.forecast_table(table, np.full((5, 1), -2.0, np.float32))
    for (_, hi), (_, lo) in zip(high, low, strict=True):
        assert hi[-1, 0] > lo[-1, 0] + 2.0  # x1 settles near u / 0.4: 10 apart in truth
    # recorded actions, every start of the held-out units: below persistence at 1 and 5 steps
    need, h = rows_needed(fc.model), fc.model.config.history
    err, pers = np.zeros(5), np.zeros(5)
    for x, a in fc.table_runs(table):
        s = np.arange(need - 1, len(x) - 5)
        win = x[s[:, None] + np.arange(-need + 1, 1)]
        pred = fc.forecast(win, a[s[:, None] + np.arange(-h + 1, 5)])
        truth = x[s[:, None] + np.arange(1, 6)]
        err += ((pred - truth) ** 2).mean((0, 2))
        pers += ((x[s][:, None] - truth) ** 2).mean((0, 2))
    assert err[0] < pers[0] and err[4] < 0.5 * pers[4], (err, pers)


def test_plan_csv_is_checked(tmp_path) -> None:
    p = tmp_path / "plan.csv"
    p.write_text("v\n1\n2\n")
    with pytest.raises(AmiError, match="not the model's actions"):
        read_plan(p, ["u"], 2)
    p.write_text("u\n1\nnan\n")
    with pytest.raises(AmiError, match="step 2: NaN"):
        read_plan(p, ["u"], 2)
    p.write_text("u\n1\n")
    with pytest.raises(AmiError, match="1 steps, --horizon 2"):
        read_plan(p, ["u"], 2)
    p.write_text("u\n1\nx\n")
    with pytest.raises(AmiError, match="step 2: expected 1 numbers"):
        read_plan(p, ["u"], 2)
    assert read_plan(p, ["u"], 1).tolist() == [[1.0]]
    with pytest.raises(AmiError, match="takes no actions"):
        read_plan(p, [], 1)


def test_bad_forecast_input(plant) -> None:
    fc = plant["fc"]
    table = fc.read(f"csv:{plant['dir'] / 'test.csv'}")
    with pytest.raises(AmiError, match="horizon must be >= 1"):
        Forecaster(plant["run"], 0)
    with pytest.raises(AmiError, match="needs at least"):
        fc.forecast(table.sensors[:1], np.zeros((7, 1), np.float32))
    with pytest.raises(AmiError, match=r"needs \d+ actions of 1 dimensions"):
        fc.forecast(table.sensors[:10], np.zeros((3, 1), np.float32))
    with pytest.raises(AmiError, match="NaN"):
        fc.forecast(np.full((10, 2), np.nan, np.float32), np.zeros((7, 1), np.float32))
    with pytest.raises(AmiError, match="fitted up to horizon 5"):
        fc.forecast(table.sensors[:10], np.zeros((9, 1), np.float32), horizon=7)
    short = table.take(np.arange(1))
    with pytest.raises(AmiError, match="group 0 has 1 rows"):
        fc.forecast_table(short)


def test_cli_forecast(plant, tmp_path, capsys, cli) -> None:
    d = plant["dir"]
    (tmp_path / "plan.csv").write_text("u\n" + "1.5\n" * 4)
    out = tmp_path / "f.csv"
    base = ["forecast", "--checkpoint", str(plant["run"]), "--data", f"csv:{d / 'test.csv'}"]
    plan = ["--actions", str(tmp_path / "plan.csv")]
    r = cli(*base, "--horizon", "4", *plan, "--out", str(out), cwd=tmp_path)  # as a user would
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "group,step,x1,x2" and len(lines) == 1 + 3 * 4
    assert [ln.split(",")[:2] for ln in lines[1:5]] == [["0", str(k)] for k in range(1, 5)]
    before = out.read_text()
    other = str(tmp_path / "g.csv")
    bad = {
        ("--horizon", "4", "--out", str(out)): "exists; pass --overwrite",
        ("--horizon", "0", "--out", other): "--horizon must be >= 1",
        ("--horizon", "5", *plan, "--out", other): "4 steps, --horizon 5",
    }
    capsys.readouterr()
    for args, message in bad.items():
        assert main([*base, *args]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert out.read_text() == before and not Path(other).exists()
    assert main([*base, "--horizon", "2", "--out", str(out), "--overwrite"]) == 0
    assert "last actions held" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 1 + 3 * 2


def test_ridge_cv_matches_ridge_fit_and_picks_a_penalty() -> None:
    from amiwm.evaluation import ridge_fit
    from amiwm.monitoring.forecast import ridge_cv

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = x @ rng.normal(size=(5, 2)) + 0.01 * rng.normal(size=(200, 2))
    np.testing.assert_allclose(ridge_cv(x, y, (0.1,)), ridge_fit(x, y, 0.1), rtol=1e-8)
    w = ridge_cv(x, y, (1e-4, 10.0))  # clean data: the small penalty wins
    np.testing.assert_allclose(w, ridge_fit(x, y, 1e-4), rtol=1e-8)


def test_table_actions_are_assembled_per_alignment(plant, monkeypatch) -> None:
    fc = plant["fc"]
    h = fc.model.config.history
    table = fc.read(f"csv:{plant['dir'] / 'test.csv'}").select([0])
    table.actions = np.arange(len(table.group), dtype=np.float32)[:, None]  # action = row index
    seen = []
    monkeypatch.setattr(fc, "forecast", lambda x, a, horizon: seen.append(a[:, 0]) or x[:horizon])
    last = len(table.group) - 1
    fc.forecast_table(table, horizon=3)  # CSV: a row's own action leads to the next row
    assert seen[-1].tolist() == [*range(last - h + 1, last), last, last, last]
    fc.forecast_table(table, np.full((3, 1), -1.0, np.float32), horizon=3)
    assert seen[-1].tolist() == [*range(last - h + 1, last), -1, -1, -1]
    monkeypatch.setattr(fc, "next_row", True)  # TEP: the next row's action acted on it
    fc.forecast_table(table, horizon=3)
    assert seen[-1].tolist() == [*range(last - h + 2, last + 1), last, last, last]
