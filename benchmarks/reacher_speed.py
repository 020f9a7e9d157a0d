"""Reacher on a CPU: render frames/s (dm_control's default scene against shadows, reflections
and skybox off) and the time of one CEM plan (300 samples, 30 elites, 30 iterations, horizon
5) with amiwm's default model (random weights: latency does not depend on them) on reacher
frames. ``--action-block 5`` plans, as LeWorldModel does, in blocks of 5 env actions per model
step (a 10-d model action). Prints the numbers and the machine.

    PYTHONPATH=src python benchmarks/reacher_speed.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def render_fps(n: int = 200) -> tuple[float, float]:
    """Frames/s of 64 px renders: dm_control's physics.render, and amiwm's reacher camera."""
    from amiwm.envs import make_env

    env = make_env("reacher")
    env.reset(seed=0)
    physics = env.unwrapped.physics
    physics.render(64, 64, camera_id=0)
    t = time.perf_counter()
    for _ in range(max(n // 10, 5)):
        physics.render(64, 64, camera_id=0)
    default = max(n // 10, 5) / (time.perf_counter() - t)
    camera = env.unwrapped._camera
    t = time.perf_counter()
    for _ in range(n):
        camera.render()
    ours = n / (time.perf_counter() - t)
    env.close()
    return default, ours


def plan_seconds(threads: int, repeats: int, action_block: int) -> list[float]:
    import torch

    from amiwm.config import ModelConfig
    from amiwm.envs import make_env
    from amiwm.models.world_model import WorldModel
    from amiwm.planning.agent import WorldModelAgent
    from amiwm.planning.cem import CEMPlanner

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    env = make_env("reacher")
    obs, _ = env.reset(seed=1)
    for _ in range(25):
        goal, *_ = env.step(env.action_space.sample())
    env.close()
    model = WorldModel(ModelConfig(action_dim=2 * action_block)).eval()
    agent = WorldModelAgent(model, CEMPlanner(300, 30, 30), horizon=5)
    agent.plan(obs, goal)  # warm-up
    times = []
    for _ in range(repeats):
        agent.reset()
        t = time.perf_counter()
        agent.plan(obs, goal)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus (shared with other jobs)")
    print(f"MUJOCO_GL={os.environ.get('MUJOCO_GL', 'egl (set by amiwm)')}")
    default, ours = render_fps()
    print(f"render 64 px: dm_control default {default:.0f} frames/s, amiwm reacher {ours:.0f}")
    for block in (1, 5):
        t = plan_seconds(a.threads, a.repeats, block)
        runs = ", ".join(f"{x:.2f}" for x in t)
        print(
            f"CEM 300x30x30 horizon 5, action block {block}, {a.threads} threads: "
            f"median {statistics.median(t):.2f} s per plan (runs {runs})"
        )


if __name__ == "__main__":
    main()
