"""Streaming surprise, alarms and the RUL probe on a small synthetic C-MAPSS-format fleet."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from amiwm.cli import main
from amiwm.data.formats import read_sensors
from amiwm.data.windows import context_windows
from amiwm.errors import AmiError
from amiwm.models.world_model import WorldModel
from amiwm.monitoring.monitor import Monitor, alarm_threshold
from amiwm.monitoring.rul import phm08_score


def write_fleet(path: Path, units: range, seed: int = 0, cut: dict | None = None) -> dict:
    """Engines that degrade towards failure: 26 columns like C-MAPSS (4 constant sensors).
    Returns each unit's life in cycles."""
    rng = np.random.default_rng(seed)
    lines, lives = [], {}
    for u in units:
        life = lives[u] = int(rng.integers(90, 140))
        t = np.arange(1, life + 1)
        wear = np.exp((t - life) / 25.0)
        base = 10 + np.arange(21) * 3.0
        gain = np.where(np.arange(21) % 2, 1.0, -1.0) * (np.arange(21) % 5 != 0)
        sensors = base + gain * 4 * wear[:, None] + rng.normal(0, 0.3, (life, 21))
        sensors[:, np.arange(21) % 5 == 0] = base[np.arange(21) % 5 == 0]  # constant channels
        settings = rng.normal(0, 0.002, (life, 3))
        settings[:, 2] = 100.0
        stop = cut.get(u, life) if cut else life
        for k in range(stop):
            vals = [u, t[k], *settings[k], *sensors[k]]
            lines.append(" ".join(f"{v:.4f}" if i > 1 else str(int(v)) for i, v in enumerate(vals)))
    path.write_text("\n".join(lines) + "\n")
    return lives


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("fleet")
    write_fleet(d / "train.txt", range(1, 17))
    cuts = {u: 40 + 5 * u for u in range(1, 7)}
    lives = write_fleet(d / "test.txt", range(1, 7), seed=1, cut=cuts)
    (d / "rul.txt").write_text("".join(f"{lives[u] - cuts[u]}\n" for u in range(1, 7)))
    args = ["train", "--dataset", f"cmapss:{d / 'train.txt'}", "--steps", "150"]
    assert main([*args, "--context", "10", "--out", str(d / "run"), "--quiet"]) == 0
    return {"dir": d, "run": d / "run", "model": WorldModel.from_pretrained(d / "run")}


def test_monitor_matches_world_model_surprise_in_any_chunking(fleet):
    model = fleet["model"]
    table = read_sensors(f"cmapss:{fleet['dir'] / 'test.txt'}", sensor_cols=model.config.channels)
    idx = table.group == 1
    x, a = table.sensors[idx], table.actions[idx]
    n = len(x)
    whole = Monitor(model).process([1] * n, x, a)
    parts = Monitor(model)
    got = [parts.process([1] * (j - i), x[i:j], a[i:j]) for i, j in [(0, 1), (1, 5), (5, n)]]
    assert np.allclose(whole.surprise, np.concatenate([g.surprise for g in got]), equal_nan=True)
    assert np.allclose(whole.score, np.concatenate([g.score for g in got]), equal_nan=True)
    h = model.config.history
    assert np.isnan(whole.surprise[:h]).all() and np.isfinite(whole.surprise[h:]).all()
    w = context_windows(x, model.config.rows_per_obs)
    t = 20
    direct = model.surprise(torch.from_numpy(w[None, t - h : t + 1]), a[None, t - h : t])
    assert direct.item() == pytest.approx(float(whole.surprise[t]), rel=1e-4)


def test_interleaved_groups_are_kept_apart(fleet):
    model = fleet["model"]
    table = read_sensors(f"cmapss:{fleet['dir'] / 'test.txt'}", sensor_cols=model.config.channels)
    alone = {
        g: Monitor(model).process([g] * int((table.group == g).sum()), *_rows(table, g)).surprise
        for g in (1, 2)
    }
    both = Monitor(model)
    x1, a1 = _rows(table, 1)
    x2, a2 = _rows(table, 2)
    n = min(len(x1), len(x2))
    inter_x = np.stack([x1[:n], x2[:n]], 1).reshape(2 * n, -1)
    inter_a = np.stack([a1[:n], a2[:n]], 1).reshape(2 * n, -1)
    res = both.process([1, 2] * n, inter_x, inter_a).surprise
    assert np.allclose(res[0::2], alone[1][:n], equal_nan=True, rtol=1e-4, atol=1e-7)
    assert np.allclose(res[1::2], alone[2][:n], equal_nan=True, rtol=1e-4, atol=1e-7)


def _rows(table, g):
    idx = table.group == g
    return table.sensors[idx], table.actions[idx]


def test_a_sensor_bias_raises_the_alarm(fleet, tmp_path):
    src = (fleet["dir"] / "test.txt").read_text().splitlines()
    rows = [r.split() for r in src if r.split()[0] == "6"]
    for k, r in enumerate(rows):  # +12 noise std on sensor s2 from cycle 40 on
        if k >= 40:
            r[6] = f"{float(r[6]) + 12 * 0.3:.4f}"
    (tmp_path / "fault.txt").write_text("\n".join(" ".join(r) for r in rows) + "\n")
    out = tmp_path / "out.csv"
    code = main(
        ["monitor", "--checkpoint", str(fleet["run"]), "--data", f"cmapss:{tmp_path / 'fault.txt'}"]
        + ["--out", str(out), "--plot", str(tmp_path / "p.png"), "--quiet"]
    )
    assert code == 0 and (tmp_path / "p.png").stat().st_size > 1000
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[:6] == ["group", "time", "surprise", "residual", "score", "alarm"]
    alarm = np.array([int(line.split(",")[5]) for line in lines[1:]])
    assert len(alarm) == len(rows)
    assert alarm[:40].mean() <= 0.1
    assert alarm[45:].mean() >= 0.8


def test_monitor_reports_a_bad_row_and_goes_on(fleet, tmp_path, capsys):
    rows = (fleet["dir"] / "test.txt").read_text().splitlines()[:30]
    rows[10] = rows[10].replace(rows[10].split()[7], "oops", 1)
    rows[20] = "1 21 0.1"
    (tmp_path / "bad.txt").write_text("\n".join(rows) + "\n")
    out = tmp_path / "o.csv"
    args = [
        "monitor",
        "--checkpoint",
        str(fleet["run"]),
        "--data",
        f"cmapss:{tmp_path / 'bad.txt'}",
    ]
    assert main([*args, "--out", str(out), "--threshold", "1"]) == 0
    lines = out.read_text().splitlines()[1:]
    assert len(lines) == 30
    assert lines[10].endswith("bad row 11") and lines[20].endswith("bad row 21")
    assert lines[29].split(",")[1] == "30" and lines[29].endswith(",ok")
    err = capsys.readouterr().err
    assert "row 11" in err and "row 21" in err and "2 bad" in err
    assert main([*args, "--out", str(out), "--threshold", "1"]) == 1  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_monitor_refuses_data_without_the_model_columns(fleet, tmp_path, capsys):
    (tmp_path / "x.csv").write_text("unit,cycle,a\n1,1,0.5\n")
    args = ["monitor", "--checkpoint", str(fleet["run"]), "--data", f"csv:{tmp_path / 'x.csv'}"]
    assert main([*args, "--threshold", "1", "--group-col", "unit"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "x.csv" in err and len(err.strip().splitlines()) == 1


def test_probe_json_beats_the_mean_and_checks_rul_count(fleet, tmp_path, capsys):
    d = fleet["dir"]
    base = ["probe", "--checkpoint", str(fleet["run"]), "--train", f"cmapss:{d / 'train.txt'}"]
    base += ["--test", f"cmapss:{d / 'test.txt'}", "--target", "rul"]
    assert main([*base, "--test-rul", str(d / "rul.txt"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    true = np.minimum(np.loadtxt(d / "rul.txt"), 125)
    assert len(report["predictions"]) == 6 and report["true_rul"] == true.tolist()
    mean_rmse = float(np.sqrt(np.mean((true - true.mean()) ** 2)))
    assert report["rmse"] < mean_rmse
    assert report["score"] == pytest.approx(
        phm08_score(np.array(report["predictions"]), true), 0.01
    )
    (tmp_path / "short.txt").write_text("10\n20\n")
    assert main([*base, "--test-rul", str(tmp_path / "short.txt")]) == 1
    assert "rul" in capsys.readouterr().err.lower()
    assert main([*base, "--test-rul", str(d / "rul.txt"), "--target", "health"]) == 1


def test_phm08_score_is_asymmetric():
    assert phm08_score(np.array([10.0]), np.array([10.0])) == 0.0
    late, early = (
        phm08_score(np.array([20.0]), np.array([10.0])),
        phm08_score(np.array([0.0]), np.array([10.0])),
    )
    assert late == pytest.approx(np.e - 1) and early == pytest.approx(np.exp(10 / 13) - 1)
    assert late > early


def test_calibrate_hits_the_false_alarm_rate():
    s = np.random.default_rng(0).exponential(size=100_000)
    thr = alarm_threshold(s, 0.01)
    assert (s > thr).mean() == pytest.approx(0.01, abs=0.001)
    with pytest.raises(AmiError):
        alarm_threshold(s, 1.5)
    with pytest.raises(AmiError):
        alarm_threshold(np.full(10, np.nan), 0.01)


def test_no_calibration_run_alarms_above_the_rate():
    rng = np.random.default_rng(0)
    runs = [rng.exponential(scale, size=400) for scale in (1.0, 1.0, 3.0)]  # one noisier run
    thr = alarm_threshold(runs, 0.01)
    assert max((r > thr).mean() for r in runs) <= 0.01
    assert thr == pytest.approx(np.quantile(runs[2], 0.99))
    assert alarm_threshold(runs, 0.01, per_run=False) < thr  # pooled: the noisy run alarms more
    short = [rng.exponential(size=30) for _ in range(10)]  # under 1 / rate rows: joined,
    parts = [np.concatenate(short[:4]), np.concatenate(short[4:])]  # the remainder to the last
    assert alarm_threshold(short, 0.01) == pytest.approx(max(np.quantile(p, 0.99) for p in parts))


def test_a_stuck_sensor_raises_the_alarm_and_is_named(fleet, tmp_path):
    src = (fleet["dir"] / "test.txt").read_text().splitlines()
    rows = [r.split() for r in src if r.split()[0] == "6"]
    for r in rows[40:]:  # s3 freezes at its last healthy reading
        r[7] = rows[39][7]
    (tmp_path / "stuck.txt").write_text("\n".join(" ".join(r) for r in rows) + "\n")
    out = tmp_path / "out.csv"
    args = ["monitor", "--checkpoint", str(fleet["run"]), "--data"]
    assert main([*args, f"cmapss:{tmp_path / 'stuck.txt'}", "--out", str(out), "--quiet"]) == 0
    lines = [line.split(",") for line in out.read_text().splitlines()[1:]]
    alarm = np.array([int(f[5]) for f in lines])
    assert alarm[:40].mean() <= 0.1
    assert alarm[52:].mean() >= 0.8  # once the window (10 rows) holds only stuck readings
    assert {f[6] for f in lines[52:] if f[5] == "1"} == {"s3"}


def test_a_slow_sensor_drift_raises_the_alarm_and_names_the_channel(fleet, tmp_path):
    import dataclasses

    from amiwm.monitoring.monitor import split_runs, table_runs

    model = fleet["model"]
    cols = model.config.channels
    train = read_sensors(f"cmapss:{fleet['dir'] / 'train.txt'}", sensor_cols=cols)
    write_fleet(tmp_path / "new.txt", range(1, 4), seed=7)
    new = read_sensors(f"cmapss:{tmp_path / 'new.txt'}", sensor_cols=cols)
    mon = Monitor(model)
    thr = mon.calibrate(*split_runs(table_runs(train)), 0.01)
    assert mon.readout.drift_scale is not None
    without = dataclasses.replace(mon.readout, drift_scale=None)  # the score before drift.py
    std = np.asarray(model.config.obs_std)
    for x, a in table_runs(new):
        y = x.copy()
        y[40:, 3] += 0.03 * std[3] * np.arange(1, len(x) - 39)  # 0.03 std per row from row 40
        got = Monitor(model, threshold=thr, readout=mon.readout).process([0] * len(y), y, a)
        old = Monitor(model, threshold=thr, readout=without).process([0] * len(y), y, a)
        assert got.alarm[:40].mean() <= 0.1
        assert got.alarm[80:].mean() >= 0.9 and old.alarm[80:].mean() <= 0.5
        assert (got.suspect[80:][got.alarm[80:]] == 3).all()
