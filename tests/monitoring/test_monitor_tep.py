"""Monitoring a TEP-layout plant: the dynamic read-out, its top-3 diagnosis, the CLI on tep:."""

from pathlib import Path

import numpy as np
import pytest

from amiwm.cli import main
from amiwm.data.formats.tep import read_tep
from amiwm.models.world_model import WorldModel
from amiwm.monitoring.monitor import Monitor, action_spread, alarm_threshold


@pytest.fixture(scope="module")
def tep(tep_run) -> dict:
    return {**tep_run, "model": WorldModel.from_pretrained(tep_run["run"])}


def runs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    t = read_tep(path)
    return t.sensors, t.actions


def test_dynamic_readout_alarms_and_names_the_biased_reading(tep) -> None:
    mon = Monitor(tep["model"], next_actions=True, dynamic=True)
    fit, check = runs(tep["dir"] / "d00.dat"), runs(tep["dir"] / "d00_te.dat")
    mon.calibrate([fit], [check], 0.01)
    assert mon.readout.dynamic is not None
    x, a = runs(tep["dir"] / "d04.dat")
    res = mon.process(["d04"] * len(x), x, a)
    assert res.alarm[:100].mean() <= 0.2
    assert res.alarm[110:].mean() >= 0.9
    assert (res.top[110:, 0] == 8).mean() >= 0.9  # XMEAS9 departs most
    assert (res.suspect[110:] == 8).mean() >= 0.9


def test_a_valve_fixed_in_place_alarms_at_once(tep) -> None:
    mon = Monitor(tep["model"], next_actions=True, dynamic=True)
    mon.calibrate([runs(tep["dir"] / "d00.dat")], [runs(tep["dir"] / "d00_te.dat")], 0.01)
    assert np.isfinite(mon.readout.action_spread).all()  # healthy controls never hold still
    x, a = runs(tep["dir"] / "d00_te.dat")
    a = a.copy()
    a[150:, 3] = a[150, 3]  # XMV4 stuck from sample 151, the readings as recorded
    whole = mon.process(["g"] * len(x), x, a)
    mon.reset()
    parts = [mon.process(["g"] * 5, x[i : i + 5], a[i : i + 5]) for i in range(0, len(x), 5)]
    assert whole.alarm[153:].all()  # from the first window of 4 stuck values on
    assert (whole.suspect[153:] == 41 + 3).all() and (whole.top[153:, 0] == 41 + 3).all()
    assert whole.alarm[:150].mean() <= 0.05
    np.testing.assert_allclose(np.concatenate([p.score for p in parts]), whole.score, rtol=1e-4)


def test_piecewise_constant_controls_are_not_checked() -> None:
    steps = np.repeat(np.arange(10.0), 20)[:, None]  # a setpoint held for 20 rows at a time
    noisy = np.random.default_rng(0).normal(size=(200, 1))
    spread = action_spread([np.hstack([steps, noisy])], 4)
    assert np.isnan(spread[0]) and np.isfinite(spread[1])
    assert action_spread([None], 4) is None


def test_dynamic_scores_do_not_depend_on_chunking(tep) -> None:
    mon = Monitor(tep["model"], next_actions=True, dynamic=True)
    mon.readout = mon.fit_readout([runs(tep["dir"] / "d00.dat")])
    x, a = runs(tep["dir"] / "d04.dat")
    whole = mon.process(["g"] * len(x), x, a)
    mon.reset()
    parts = [mon.process(["g"] * len(x[i : i + 7]), x[i : i + 7], a[i : i + 7])
             for i in range(0, len(x), 7)]  # fmt: skip
    np.testing.assert_allclose(np.concatenate([p.score for p in parts]), whole.score, rtol=1e-4)
    np.testing.assert_array_equal(np.concatenate([p.top for p in parts]), whole.top)


def test_row_own_actions_change_the_prediction(tep) -> None:
    fit = runs(tep["dir"] / "d00.dat")
    a = Monitor(tep["model"], next_actions=True).process(["g"] * 50, fit[0][:50], fit[1][:50])
    b = Monitor(tep["model"]).process(["g"] * 50, fit[0][:50], fit[1][:50])
    assert np.isnan(a.surprise[:3]).all() and np.isfinite(a.surprise[3:]).all()
    assert not np.allclose(a.surprise[3:], b.surprise[3:])
    assert alarm_threshold(a.surprise[3:], 0.05) > 0


def test_cli_monitor_writes_top3_with_tep_names(tep, tmp_path, capsys) -> None:
    out = tmp_path / "alarms.csv"
    args = ["monitor", "--checkpoint", str(tep["run"]), "--data", f"tep:{tep['dir'] / 'd04.dat'}"]
    assert main([*args, "--out", str(out), "--false-alarm-rate", "0.01"]) == 0
    lines = [line.split(",") for line in out.read_text().splitlines()]
    assert lines[0][6:] == ["suspect", "top3", "status"] and len(lines) == 201
    alarm = np.array([int(f[5]) for f in lines[1:]])
    assert alarm[:100].mean() <= 0.2 and alarm[110:].mean() >= 0.9  # calibrated on the store
    alarmed = [f for f in lines[1:] if f[5] == "1"]
    assert all(len(f[7].split(";")) == 3 for f in alarmed)
    assert np.mean([f[7].split(";")[0] == "XMEAS9" for f in alarmed[-50:]]) >= 0.9
    err = capsys.readouterr().err
    assert "ALARM group d04" in err and "departing most:" in err


def test_dynamic_features_are_what_the_readout_is_fitted_on(tep) -> None:
    from amiwm.monitoring.dynamic import fit_dynamic

    mon = Monitor(tep["model"], next_actions=True, dynamic=True)
    x, a = runs(tep["dir"] / "d00.dat")
    readout = mon.fit_readout([(x, a)]).dynamic
    feats, xn = mon.dynamic_features(x, a)
    assert len(feats) == len(xn) == len(x) - mon.history and xn.shape[1] == x.shape[1]
    again = fit_dynamic(feats, xn, readout.lags)
    np.testing.assert_allclose(again.weights, readout.weights, rtol=1e-6, atol=1e-9)
    assert not mon.tails  # nothing of the run stays behind
