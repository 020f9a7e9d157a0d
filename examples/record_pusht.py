"""Record Push-T episodes (gym-pusht, a simulator we did not write) as a LeRobot v2.1 dataset:
96x96 pixels in h264 mp4s, the agent's position as observation.state, and a scripted policy
that walks behind the T block and pushes it toward the goal (with noise, so episodes differ).

    pip install gym-pusht
    python examples/record_pusht.py --episodes 50 --steps 200 --out data/pusht-lerobot
    ami-cli data inspect data/pusht-lerobot
    ami-cli train --dataset data/pusht-lerobot --steps 2000 --out runs/pusht
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from amiwm.data.formats.lerobot_write import LeRobotRecorder

CAMERA = "observation.image"  # the key LeRobot's own Push-T dataset uses


def centre(pose, offset: np.ndarray) -> np.ndarray:
    """World position of the block's centre of mass for a pose (x, y, angle)."""
    c, s = np.cos(pose[2]), np.sin(pose[2])
    return np.asarray(pose[:2], float) + np.array([[c, -s], [s, c]]) @ offset


def pushing_policy(
    info: dict, offset: np.ndarray, rng: np.random.Generator, reach: float = 60.0
) -> np.ndarray:
    """Target position for the agent: get behind the block's centre of mass (seen from the
    goal's), then push through it."""
    agent = np.asarray(info["pos_agent"], float)
    block = centre(info["block_pose"], offset)
    goal = centre(info["goal_pose"], offset)
    to_goal = goal - block
    dist = np.linalg.norm(to_goal)
    if dist < 5.0:  # close enough: wander a little
        return np.clip(agent + rng.normal(0, 20, 2), 0, 512)
    u = to_goal / dist
    behind = block - u * reach
    off_line = np.linalg.norm(agent - behind)
    if off_line > 15.0 and np.dot(agent - block, u) > -reach * 0.5:
        side = np.array([-u[1], u[0]])  # go around the block, not through it
        side *= np.sign(np.dot(agent - block, side)) or 1.0
        target = block + side * reach * 1.2 - u * reach
    elif off_line > 15.0:
        target = behind
    else:
        target = block + u * 25.0  # push through
    step = np.clip(target - agent, -40, 40) + rng.normal(0, 4, 2)
    return np.clip(agent + step, 0, 512)


def main() -> None:
    p = argparse.ArgumentParser(description="record gym-pusht episodes as a LeRobot v2.1 dataset")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--steps", type=int, default=200, help="frames per episode")
    p.add_argument("--out", type=Path, default=Path("data/pusht-lerobot"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--state",
        choices=("agent", "full"),
        default="agent",
        help="observation.state: the agent's position (as LeRobot's Push-T), or agent xy + "
        "block xy + block angle (to check what the latents encode)",
    )
    args = p.parse_args()
    import gym_pusht  # noqa: F401  (registers gym_pusht/PushT-v0)
    import gymnasium as gym

    if args.out.exists():
        raise SystemExit(f"{args.out} exists; choose another --out")
    env = gym.make("gym_pusht/PushT-v0", obs_type="pixels_agent_pos", max_episode_steps=10**6)
    rng = np.random.default_rng(args.seed)
    rec = LeRobotRecorder(
        args.out,
        fps=10,
        cameras={CAMERA: (96, 96)},
        action_dim=2,
        state_dim=2 if args.state == "agent" else 5,
        version="v2.1",
        codec="h264",
        task="Push the T-shaped block onto the T-shaped target.",
        robot_type="2d pointer",
    )
    successes = 0
    for ep in range(args.episodes):
        obs, info = env.reset(seed=args.seed + ep)
        offset = np.asarray(env.unwrapped.block.center_of_gravity, float)  # block-local
        frames, actions, states = [], [], []
        success, coverage = False, 0.0
        for _ in range(args.steps):
            action = pushing_policy(info, offset, rng).astype(np.float32)
            frames.append(obs["pixels"])
            state = obs["agent_pos"]
            if args.state == "full":
                pose = info["block_pose"]
                state = np.concatenate([state, centre(pose, offset), [pose[2]]])
            states.append(np.asarray(state, np.float32))
            actions.append(action)
            obs, _, terminated, _, info = env.step(action)
            success |= bool(info.get("is_success", False))
            coverage = max(coverage, float(info.get("coverage", 0.0)))
        rec.add_episode({CAMERA: np.stack(frames)}, np.stack(actions), np.stack(states))
        successes += success
        print(f"episode {ep}: {len(frames)} frames, best goal coverage {coverage:.2f}")
    rec.close()
    env.close()
    n, t = args.episodes, args.steps
    print(f"wrote {args.out}: {n} episodes x {t} frames ({successes} reached the goal)")


if __name__ == "__main__":
    main()
