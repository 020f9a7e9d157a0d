"""How far exploration policies move things, uniform random against smooth correlated noise
(and, on amiwm/PushT-v0, the scripted `push` mixture):
block displacement in Push-T, on gym-pusht's own env (absolute target actions) and on
amiwm/PushT-v0 (relative actions), and the reacher's shoulder sweep. Prints the measured
numbers and the machine.

    PYTHONPATH=src python benchmarks/exploration.py [--episodes 60] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from amiwm.envs import make_env
from amiwm.envs.policies import make_policy


def block_moves(env_id: str, policy: str, episodes: int, steps: int, **kwargs) -> np.ndarray:
    """Per episode: the farthest the block got from where it started (px of 512)."""
    env = make_env(env_id, **kwargs)
    act = make_policy(policy, env, seed=0)
    out = []
    for k in range(episodes):
        obs, info = env.reset(seed=1000 + k)
        act.reset(obs, info)
        base = env.unwrapped
        start = np.array(
            base.block.position if hasattr(base, "block") else base._env.block.position
        )
        far = 0.0
        for _ in range(steps):
            obs, *_, info = env.step(act(obs, info))
            block = base.block if hasattr(base, "block") else base._env.block
            far = max(far, float(np.linalg.norm(np.array(block.position) - start)))
        out.append(far)
    env.close()
    return np.array(out)


def joint_range(policy: str, episodes: int, steps: int) -> np.ndarray:
    """Reacher: per episode, the range the shoulder angle sweeps (rad)."""
    env = make_env("reacher")
    act = make_policy(policy, env, seed=0)
    out = []
    for k in range(episodes):
        obs, info = env.reset(seed=1000 + k)
        act.reset(obs, info)
        angles = [info["joints"][0]]
        for _ in range(steps):
            obs, *_, info = env.step(act(obs, info))
            angles.append(info["joints"][0])
        out.append(float(np.ptp(angles)))
    env.close()
    return np.array(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--episodes", type=int, default=60)
    p.add_argument("--steps", type=int, default=100)
    a = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus (shared)")
    print(f"{a.episodes} episodes x {a.steps} steps; block displacement = max |block - start| px")
    for env_id, kw in (("gym_pusht/PushT-v0", {"obs_type": "state"}), ("pusht", {})):
        for policy in ("random", "smooth") + (("push",) if env_id == "pusht" else ()):
            d = block_moves(env_id, policy, a.episodes, a.steps, **kw)
            print(
                f"{env_id:20s} {policy:7s} mean {d.mean():6.1f} px  median {np.median(d):6.1f}"
                f"  moved >10 px in {(d > 10).mean():.0%} of episodes"
            )
    for policy in ("random", "smooth"):
        r = joint_range(policy, a.episodes, a.steps)
        print(f"{'reacher':20s} {policy:7s} shoulder sweeps {r.mean():.2f} rad (mean range)")


if __name__ == "__main__":
    main()
