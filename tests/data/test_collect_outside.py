"""Recording outside Gymnasium envs: dict observations, state keys, env kwargs, one-liners."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from amiwm.cli import main
from amiwm.data.collect import collect
from amiwm.data.store import EpisodeStore
from amiwm.errors import AmiError


class DictEnv(gym.Env):
    """Pixels and a position in a dict; render() draws a different picture (an overlay)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None, size=16, two_images=False):
        spaces = {
            "pixels": gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
            "pos": gym.spaces.Box(-10, 10, (2,), np.float64),
        }
        if two_images:
            spaces["depth"] = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        self.size, self.two = size, two_images
        self.render_mode = render_mode

    def _obs(self):
        img = np.zeros((self.size, self.size, 3), np.uint8)
        img[..., 0] = int(100 + 10 * self.pos[0]) % 256
        out = {"pixels": img, "pos": self.pos.copy()}
        if self.two:
            out["depth"] = img
        return out

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1, 1, 2)
        return self._obs(), {"speed": np.zeros(1)}

    def step(self, action):
        self.pos = np.clip(self.pos + np.asarray(action, float), -10, 10)
        return self._obs(), 0.0, False, False, {"speed": np.abs(action).sum(keepdims=True)}

    def render(self):
        return np.full((self.size, self.size, 3), 255, np.uint8)  # an overlay, never recorded


if "amiwm_test/Dict-v0" not in gym.registry:
    gym.register("amiwm_test/Dict-v0", entry_point=DictEnv)


def test_dict_observation_frames_and_state_keys(tmp_path: Path) -> None:
    out = collect("amiwm_test/Dict-v0", 2, 6, tmp_path / "d.h5", env_kwargs={"size": 16},
                  state_keys=["pos", "speed"], frame_size=16, progress=False)  # fmt: skip
    with EpisodeStore(out) as s:
        assert s.obs_shape == (16, 16, 3) and s.state_dim == 3
        meta = s.attrs["metadata_json"]
        assert meta["frames_from"] == "observation.pixels" and meta["env_kwargs"] == {"size": 16}
        assert meta["state_source"] == "obs.pos,info.speed" and s.attrs["policy"] == "smooth"
        ep = s.episode(0)
        assert (ep["observations"] != 255).any()  # the observation's pixels, not render()
        # frames and states agree: red = 100 + 10 x
        red = ep["observations"][:, 0, 0, 0].astype(int)
        np.testing.assert_array_equal(red, (100 + 10 * ep["states"][:, 0]).astype(int) % 256)
        assert np.abs(np.diff(ep["states"][:, 0])).max() > 0.1  # the smooth policy moves it


def test_dict_observation_defaults_and_errors(tmp_path: Path) -> None:
    out = collect("amiwm_test/Dict-v0", 1, 3, tmp_path / "a.h5", progress=False)
    with EpisodeStore(out) as s:
        assert s.attrs["metadata_json"]["state_source"] == "obs.pos" and s.state_dim == 2
    new = tmp_path / "n.h5"
    for kwargs, match in [
        ({"env_kwargs": {"two_images": True}}, "several image observations"),
        ({"obs_key": "nope"}, "no observation key 'nope'"),
        ({"obs_key": "pos"}, "not an RGB"),
        ({"state_keys": ["mass"]}, "no state entry 'mass'"),
        ({"env_kwargs": {"colour": 1}}, "bad arguments"),
    ]:
        with pytest.raises(AmiError, match=match):
            collect("amiwm_test/Dict-v0", 1, 2, new, progress=False, **kwargs)
        assert not new.exists()
    with pytest.raises(AmiError, match="not a dict"):
        collect("two-rooms", 1, 2, new, obs_key="pixels", progress=False)


def test_cli_flags_and_one_line_errors(tmp_path: Path, capsys) -> None:
    out = tmp_path / "c.h5"
    args = ["collect", "--env", "amiwm_test/Dict-v0", "--episodes", "1", "--steps", "3",
            "--out", str(out), "--quiet", "--obs-key", "pixels", "--state-keys", "pos,speed",
            "--env-kwargs", '{"size": 32}', "--frame-size", "32"]  # fmt: skip
    assert main(args) == 0
    with EpisodeStore(out) as s:
        assert s.state_dim == 3 and s.obs_shape == (32, 32, 3)
    capsys.readouterr()
    for bad, match in [
        (["--env-kwargs", "{size: 16}"], "not valid JSON"),
        (["--env-kwargs", "[1]"], "JSON object"),
        (["--env", "no_such_pkg/Env-v0"], "no package 'no_such_pkg'"),
    ]:
        assert main([*args[:-4], "--overwrite", *bad]) == 1
        err = capsys.readouterr().err
        assert match in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("env", "module", "extra"),
    [
        ("pusht", "pygame", "pusht"),
        ("gym_pusht/PushT-v0", "pygame", "pusht"),
        ("reacher", "dm_control", "dmc"),
    ],  # fmt: skip
)
def test_missing_extra_is_one_line(tmp_path, capsys, monkeypatch, env, module, extra) -> None:
    import sys

    if env.startswith("gym_pusht/"):
        pytest.importorskip("gym_pusht")  # else the missing package is gym_pusht itself
    for name in list(sys.modules):
        if name == module or name.startswith(f"{module}.") or name.startswith("gym_pusht.envs"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    args = ["collect", "--env", env, "--episodes", "1", "--steps", "2",
            "--out", str(tmp_path / "x.h5"), "--quiet"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"amiwm[{extra}]" in err and module in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.h5").exists()
