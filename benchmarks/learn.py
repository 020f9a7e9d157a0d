"""Learning from memory without forgetting: `learn` after a dynamics change in two-rooms.

    python benchmarks/learn.py [--work /tmp/amiwm-learn] [--base RUN_DIR] [--door-y 14]

1. Old dynamics: two-rooms with the door at y = 32. A base world model is trained on 300
   drift-policy episodes of 100 steps (or `--base`, a run trained on such data).
2. New dynamics: the door moves to y = `--door-y`. An agent's experience there (`--memory-
   episodes` episodes) is encoded by the base model into a persistent memory store.
3. `learn` fine-tunes from that memory (encoder frozen, rehearsal of the training data), and,
   as an ablation, without rehearsal (`replay_fraction = 0`).
4. Held-out episodes of both dynamics (new seeds): open-loop latent rollout error at 1 and 5
   steps from one context latent, over the same 512 windows for every model, divided by one
   fixed reference: the per-dimension latent variance of the old-dynamics test latents. The
   encoder is frozen (checked), so all models share the latent space and the numbers compare.

Target: new-dynamics error falls >= 2x, old-dynamics error rises <= 10%.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from amiwm.config import RunConfig
from amiwm.data.collect import collect
from amiwm.data.windows import WindowDataset
from amiwm.memory import checkpoint_fingerprint
from amiwm.memory.learn import LearnConfig, learn, memorize
from amiwm.models.world_model import WorldModel
from amiwm.training.trainer import train

HORIZONS = (1, 5)


@torch.no_grad()
def test_latents(model: WorldModel, path: Path, windows: int = 512, seed: int = 0):
    """Latents (N, 1 + max horizon, D) and raw actions of fixed random windows of a store."""
    data = WindowDataset(path, 1 + max(HORIZONS), episodes=None)
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:windows]
    batch = data.get_batch(sorted(idx.tolist()))
    return model.encode(batch["obs"]).float(), batch["actions"]


@torch.no_grad()
def rollout_error(model: WorldModel, z: torch.Tensor, a: torch.Tensor, var: float) -> dict:
    pred = model.rollout_latents(z[:, :1], a)
    out = {}
    for h in HORIZONS:
        out[f"model_{h}"] = (pred[:, h - 1] - z[:, h]).square().mean().item() / var
        out[f"copy_{h}"] = (z[:, 0] - z[:, h]).square().mean().item() / var
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/amiwm-learn"))
    p.add_argument("--base", type=Path, help="a trained run on old dynamics (skips training)")
    p.add_argument("--base-steps", type=int, default=2000)
    p.add_argument("--door-y", type=float, default=14.0)
    p.add_argument("--memory-episodes", type=int, default=100)
    p.add_argument("--steps", type=int, default=500, help="learn steps")
    p.add_argument("--replay-fraction", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=3e-4)
    args = p.parse_args()
    torch.set_num_threads(1)
    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    new_env = {"door_y": args.door_y}

    def data(name: str, episodes: int, seed: int, env_kwargs: dict | None = None) -> Path:
        path = w / name
        if not path.exists():
            collect(
                "two-rooms", episodes, 100, path, seed=seed, progress=False, env_kwargs=env_kwargs
            )
        return path

    base = args.base
    if base is None:
        base = w / "base"
        if not (base / "checkpoint").exists():
            cfg = RunConfig(dataset=str(data("old.h5", 300, 0)))
            cfg.train.steps = args.base_steps
            train(cfg, base, progress=False)
    base_step = json.loads((base / "checkpoint" / "state.json").read_text()).get("step")
    memory_h5 = data("new_memory.h5", args.memory_episodes, 1000, new_env)
    old_test = data("old_test.h5", 30, 50_000)
    new_test = data("new_test.h5", 30, 60_000, new_env)

    model = WorldModel.from_pretrained(base)
    memory = w / f"memory-door{args.door_y:g}-{args.memory_episodes}"
    if not memory.exists():
        memorize(model, memory_h5, memory, fingerprint=checkpoint_fingerprint(base))
    z_old, a_old = test_latents(model, old_test)
    z_new, a_new = test_latents(model, new_test)
    var = z_old.reshape(-1, z_old.shape[-1]).var(0).mean().item()

    def evaluate(m: WorldModel) -> dict:
        for k, v in model.encoder.state_dict().items():
            assert torch.equal(v, m.encoder.state_dict()[k]), "encoder changed"
        return {
            "old": rollout_error(m, z_old, a_old, var),
            "new": rollout_error(m, z_new, a_new, var),
        }

    results = {"base": {"step": base_step, **evaluate(model)}}
    runs = {"learn": args.replay_fraction, "learn-no-rehearsal": 0.0}
    for name, frac in runs.items():
        out = w / f"{name}-{int(time.time())}"
        cfg = LearnConfig(steps=args.steps, replay_fraction=frac, lr=args.lr)
        r = learn(base, memory, out, cfg, progress=False)
        print(r.summary())
        results[name] = {
            "seconds": round(r.seconds, 1),
            "memory_1step": [r.before["memory"], r.after["memory"]],
            **evaluate(WorldModel.from_pretrained(out)),
        }

    print(f"\nbase: {base} (step {base_step}); new dynamics: door_y {args.door_y:g}")
    print(f"memory: {args.memory_episodes} episodes; learn {args.steps} steps, lr {args.lr}")
    print("rollout error / old-test latent variance, 512 held-out windows per dynamics")
    head = f"{'model':<20}" + "".join(
        f"{d + ' ' + str(h) + '-step':>14}" for d in ("old", "new") for h in HORIZONS
    )
    print(head)
    for name, res in results.items():
        row = [res[d][f"model_{h}"] for d in ("old", "new") for h in HORIZONS]
        print(f"{name:<20}" + "".join(f"{v:>14.4f}" for v in row))
    copy = [results["base"][d][f"copy_{h}"] for d in ("old", "new") for h in HORIZONS]
    print(f"{'copy-last baseline':<20}" + "".join(f"{v:>14.4f}" for v in copy))
    for name in runs:
        for h in HORIZONS:
            b, a = results["base"], results[name]
            fall = b["new"][f"model_{h}"] / a["new"][f"model_{h}"]
            rise = a["old"][f"model_{h}"] / b["old"][f"model_{h}"] - 1
            ok = "met" if fall >= 2 and rise <= 0.10 else "MISSED"
            print(
                f"{name} {h}-step: new error falls {fall:.2f}x (>= 2x), old error "
                f"{'rises' if rise >= 0 else 'falls'} {abs(rise):.1%} (<= 10% rise): {ok}"
            )
    results["seconds"] = round(time.perf_counter() - t0, 1)
    (w / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"total {results['seconds']:.0f}s; results: {w / 'results.json'}")


if __name__ == "__main__":
    main()
