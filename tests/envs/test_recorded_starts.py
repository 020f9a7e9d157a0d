"""The goal-offset protocol on the outside envs: a pair's start is the recorded state."""

import pytest

from amiwm.data.collect import collect
from amiwm.data.store import EpisodeStore
from amiwm.planning.base import Decision
from amiwm.planning.protocol import evaluate_protocol, goal_pairs

EXTRAS = {"reacher": ("dm_control", "dmc"), "pusht": ("gym_pusht", "pusht")}


@pytest.mark.parametrize("env", sorted(EXTRAS))
def test_replaying_recorded_actions_reaches_every_goal(env, tmp_path):
    """Replaying the recorded actions from each pair's start reaches its goal every time."""
    module, extra = EXTRAS[env]
    pytest.importorskip(module, reason=f"needs the {extra} extra: pip install 'amiwm[{extra}]'")
    store = collect(env, 2, 30, tmp_path / "s.h5", seed=4, progress=False)
    pairs = goal_pairs(store, [0, 1], offset=10, count=4, seed=0)
    with EpisodeStore(store) as s:
        recorded = [s.episode(p.episode)["actions"][p.step : p.step + 10] for p in pairs]

    class Replay:
        i, t = -1, 0

        def reset(self):
            self.i, self.t = self.i + 1, 0

        def act(self, obs, goal):
            self.t += 1
            return Decision(recorded[self.i][self.t - 1])

    r = evaluate_protocol(Replay(), store, [0, 1], offset=10, budget=10, pairs=4, floors=False)
    assert r["protocol"]["start_from"] == "state" and r["success_rate"] == 1.0
    assert r["mean_steps_to_goal"] <= 10 and r["floors"]["already_successful"]["success_rate"] < 1
