"""PlantEnv (jacketed CSTR): physics, faults and their labels, determinism, options, policy."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from amiwm.envs import make_env
from amiwm.envs.faults import FAULT_KINDS
from amiwm.envs.plant import SETPOINT_RANGE, PlantEnv
from amiwm.envs.policies import SetpointsPolicy, make_policy
from amiwm.errors import AmiError

CH = {name: i for i, name in enumerate(PlantEnv.CHANNELS)}
T_IDX = PlantEnv.STATES.index("reactor_temp")


def rollout(env: PlantEnv, actions: np.ndarray, seed: int = 0, **options) -> dict:
    obs, info = env.reset(seed=seed, options=options or None)
    out = {"obs": [obs], "state": [info["state"]], "active": [info["fault_active"]]}
    for a in actions:
        obs, reward, term, trunc, info = env.step(a)
        expected = -((float(info["state"][2]) - env.setpoint) ** 2)
        assert not term and reward == pytest.approx(expected, rel=1e-4, abs=0.01)
        out["obs"].append(obs)
        out["state"].append(info["state"])
        out["active"].append(info["fault_active"])
    return {k: np.array(v) for k, v in out.items()}


def random_actions(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(PlantEnv.ACTION_LOW, PlantEnv.ACTION_HIGH, (n, 2)).astype(np.float32)


def test_spaces_info_and_names() -> None:
    env = PlantEnv()
    obs, info = env.reset(seed=0)
    assert obs.shape == (7,) and obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert env.channels == list(PlantEnv.CHANNELS) and len(PlantEnv.UNITS) == 7
    assert env.action_names == ["feed_flow", "coolant_flow"]
    np.testing.assert_allclose(env.action_space.low, [0.05, 0.01])
    np.testing.assert_allclose(env.action_space.high, [0.15, 0.25])
    assert set(info) == {"state", "setpoint", "fault", "fault_active", "fault_spec"}
    assert info["state"].shape == (4,) and info["fault"] is None and not info["fault_active"]
    assert SETPOINT_RANGE[0] <= info["setpoint"] <= SETPOINT_RANGE[1]
    # the readings are the true values plus noise of the documented size
    clean = env.sensors(info["state"], obs[[CH["feed_flow"], CH["coolant_flow"]]])
    assert np.all(np.abs(obs - clean)[:4] < 6 * np.asarray(PlantEnv.NOISE_STD)[:4])


def test_check_env_and_registration() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(PlantEnv())
        check_env(PlantEnv(fault="random"))
    env = gymnasium.make("amiwm/Plant-v0", max_steps=3)
    env.reset(seed=0)
    truncs = [env.step(np.array([0.1, 0.1], np.float32))[3] for _ in range(3)]
    assert truncs == [False, False, True]
    assert isinstance(make_env("plant").unwrapped, PlantEnv)
    assert make_env("plant-faults").unwrapped.default_fault == "random"


def test_steady_state_holds_without_noise() -> None:
    env = PlantEnv(noise_scale=0.0)
    for action in ([0.05, 0.25], [0.1, 0.05], [0.15, 0.01]):
        run = rollout(env, np.tile(np.float32(action), (200, 1)), initial_action=action)
        np.testing.assert_allclose(run["state"], run["state"][:1].repeat(201, 0), atol=1e-3)
        np.testing.assert_allclose(run["obs"][-1], run["obs"][0], atol=1e-3)
    lo, hi = env.setpoint_range()
    assert lo < SETPOINT_RANGE[0] and hi > SETPOINT_RANGE[1] and hi - lo > 40
    for sp in (SETPOINT_RANGE[0], 350.0, SETPOINT_RANGE[1]):
        goal = env.goal_observation(sp)
        assert goal.dtype == np.float32 and goal[CH["reactor_temp"]] == pytest.approx(sp, abs=1e-3)
        action = env.steady_action(sp)
        run = rollout(env, np.tile(action, (100, 1)), initial_action=action)
        np.testing.assert_allclose(run["state"][:, T_IDX], sp, atol=0.01)
        np.testing.assert_allclose(run["obs"][-1], goal, rtol=1e-5, atol=1e-4)


def test_moves_between_operating_points_and_is_stable() -> None:
    env = PlantEnv(noise_scale=0.0)
    a, b = np.float32([0.08, 0.2]), np.float32([0.13, 0.03])
    run = rollout(env, np.tile(b, (300, 1)), initial_action=a)
    np.testing.assert_allclose(run["state"][0], env.steady_state(a), rtol=1e-6)
    np.testing.assert_allclose(run["state"][-1], env.steady_state(b), rtol=1e-4)
    assert env.steady_state(b)[T_IDX] - env.steady_state(a)[T_IDX] > 30


def test_more_coolant_lowers_temperature() -> None:
    env = PlantEnv(noise_scale=0.0)
    start = np.float32([0.1, 0.08])
    temps = []
    for fc in (0.02, 0.08, 0.2):
        run = rollout(env, np.tile(np.float32([0.1, fc]), (30, 1)), initial_action=start)
        temps.append(run["state"][-1, T_IDX])
    assert temps[0] > temps[1] + 3 > temps[2] + 6
    steady = [env.steady_state([0.1, fc])[T_IDX] for fc in np.linspace(0.01, 0.25, 25)]
    assert np.all(np.diff(steady) < 0)


def test_actuator_degradation_weakens_the_response() -> None:
    env = PlantEnv(noise_scale=0.0)
    start, move = np.float32([0.1, 0.04]), np.tile(np.float32([0.1, 0.2]), (40, 1))
    healthy = rollout(env, move, initial_action=start)
    fault = {"kind": "actuator_degradation", "channel": "coolant_flow", "start": 0}
    weak = rollout(env, move, initial_action=start, fault=fault)
    drop_h = healthy["state"][0, T_IDX] - healthy["state"][-1, T_IDX]
    drop_w = weak["state"][0, T_IDX] - weak["state"][-1, T_IDX]
    assert drop_h > 10 and 0.2 * drop_h < drop_w < 0.8 * drop_h
    np.testing.assert_allclose(weak["obs"][1:, CH["coolant_flow"]], 0.1, rtol=1e-6)  # 0.5 x 0.2


@pytest.mark.parametrize(
    ("kind", "channel", "magnitude"),
    [
        ("sensor_bias", "conc_a", 0.05),
        ("sensor_drift", "reactor_temp", 0.02),
        ("sensor_stuck", "jacket_temp", None),
        ("actuator_degradation", "feed_flow", 0.5),
        ("process_fault", "fouling", 0.5),
        ("process_fault", "catalyst", 0.5),
    ],
)
def test_each_fault_changes_what_it_should_from_start(kind, channel, magnitude) -> None:
    env, start, actions = PlantEnv(), 60, random_actions(120)
    healthy = rollout(env, actions, seed=3)
    spec = {"kind": kind, "start": start, "channel": channel, "magnitude": magnitude}
    faulty = rollout(env, actions, seed=3, fault=spec)
    labels = np.arange(121) >= start
    np.testing.assert_array_equal(faulty["active"], labels)
    assert not healthy["active"].any()
    np.testing.assert_array_equal(faulty["obs"][:start], healthy["obs"][:start])
    np.testing.assert_array_equal(faulty["state"][:start], healthy["state"][:start])
    diff = faulty["obs"] - healthy["obs"]
    if kind.startswith("sensor"):
        c = CH[channel]
        np.testing.assert_array_equal(faulty["state"], healthy["state"])
        np.testing.assert_array_equal(np.delete(diff, c, axis=1), 0.0)
        got = faulty["obs"][start:, c]
        if kind == "sensor_bias":
            np.testing.assert_allclose(diff[start:, c], magnitude, atol=1e-4)
        elif kind == "sensor_drift":
            np.testing.assert_allclose(diff[start:, c], magnitude * np.arange(1, 62), atol=1e-3)
        else:
            assert (got == healthy["obs"][start - 1, c]).all() and np.abs(diff[start:, c]).max() > 0
        return
    # plant faults change the process from the interval that ends at ``start`` on
    assert (faulty["state"][start] != healthy["state"][start]).any()
    gap = np.abs(faulty["state"][start + 10 :, T_IDX] - healthy["state"][start + 10 :, T_IDX])
    assert (gap > 0.5).mean() > 0.9
    flows = [CH["feed_flow"], CH["coolant_flow"]]
    if kind == "actuator_degradation":  # the meter reads half the commanded feed (same noise)
        np.testing.assert_allclose(
            diff[start:, flows[0]], -0.5 * actions[start - 1 :, 0], atol=1e-6
        )
        np.testing.assert_array_equal(diff[:, flows[1]], 0.0)
    else:
        np.testing.assert_array_equal(diff[:, flows], 0.0)


def test_fault_end_and_default_magnitudes() -> None:
    env, actions = PlantEnv(), random_actions(40)
    healthy = rollout(env, actions, seed=4)
    faulty = rollout(env, actions, seed=4, fault={"kind": "sensor_bias", "start": 10, "end": 20})
    _, info = env.reset(seed=4, options={"fault": {"kind": "sensor_bias", "start": 10}})
    spec = info["fault_spec"]
    assert spec["channel"] == "reactor_temp" and spec["magnitude"] == pytest.approx(4 * 0.2)
    diff = faulty["obs"][:, CH["reactor_temp"]] - healthy["obs"][:, CH["reactor_temp"]]
    assert np.allclose(diff[10:20], 0.8, atol=1e-4) and not diff[:10].any() and not diff[20:].any()
    np.testing.assert_array_equal(faulty["active"], (np.arange(41) >= 10) & (np.arange(41) < 20))
    _, info = env.reset(seed=0, options={"fault": {"kind": "process_fault", "start": 5}})
    assert info["fault_spec"]["channel"] == "fouling" and info["fault"] == "process_fault"


def test_deterministic_and_random_faults() -> None:
    env, actions = PlantEnv(fault="random"), random_actions(50)
    a, b, c = rollout(env, actions, seed=7), rollout(env, actions, seed=7), rollout(env, actions, 8)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["obs"], c["obs"])
    specs = [env.reset(seed=s)[1]["fault_spec"] for s in range(60)]
    assert {s["kind"] for s in specs} == set(FAULT_KINDS)
    assert all(100 <= s["start"] <= 300 for s in specs)  # 0.2..0.6 of max_steps=500
    plain = PlantEnv()
    _, info = plain.reset(seed=7, options={"fault": specs[0]})
    assert info["fault_spec"] == specs[0]
    _, info = env.reset(seed=7, options={"fault": None})
    assert info["fault"] is None


def test_bad_options_raise_one_line() -> None:
    env = PlantEnv()
    cases = [
        ({"fault": {"kind": "sensor_melt", "start": 3}}, "unknown fault kind"),
        ({"fault": {"kind": "sensor_bias", "start": -1}}, "start must be >= 0"),
        ({"fault": {"kind": "sensor_bias", "start": 3, "channel": "pressure"}}, "unknown channel"),
        ({"fault": {"kind": "sensor_bias", "start": 3, "channel": 9}}, "out of range"),
        ({"fault": {"kind": "actuator_degradation", "channel": "steam"}}, "unknown channel"),
        ({"fault": {"kind": "process_fault", "channel": "leak"}}, "unknown process fault"),
        ({"fault": {"kind": "process_fault", "magnitude": 1.5}}, r"fraction in \[0, 1\]"),
        ({"fault": "sometimes"}, "must be a dict"),
        ({"setpoint": "hot"}, "setpoint must be"),
        ({"initial_action": [0.1]}, "bad initial_action"),
        ({"sepoint": 340.0}, "unknown reset option"),
    ]
    for options, match in cases:
        with pytest.raises(AmiError, match=match) as err:
            env.reset(seed=0, options=options)
        assert "\n" not in str(err.value)
    with pytest.raises(AmiError, match="unknown fault kind"):
        PlantEnv(fault={"kind": "nope", "start": 1})
    with pytest.raises(AmiError, match="not reachable"):
        env.goal_observation(420.0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.1], np.float32))


def test_setpoints_policy() -> None:
    env = PlantEnv()
    policy = make_policy("setpoints", env, seed=2)
    assert isinstance(policy, SetpointsPolicy)
    obs, info = env.reset(seed=0)
    policy.reset(obs, info)
    acts = np.array([policy(obs, info) for _ in range(2000)])
    assert acts.dtype == np.float32 and all(env.action_space.contains(a) for a in acts)
    span = env.action_space.high - env.action_space.low
    assert ((acts.max(0) - acts.min(0)) > 0.7 * span).all()  # covers the operating range
    jumps = (np.abs(np.diff(acts, axis=0)) > 0.15 * span).sum(0)
    assert (jumps >= 10).all() and (jumps <= 2000 / 10).all()  # piecewise constant moves
    assert (np.abs(np.diff(acts, axis=0)) > 0).mean() > 0.9  # small noise on top
    again = make_policy("setpoints", env, seed=2)
    again.reset(obs, info)
    np.testing.assert_array_equal(acts[:50], [again(obs, info) for _ in range(50)])
