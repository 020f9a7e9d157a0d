"""`ami-cli demo`: the product end to end on two-rooms, with a report folder.

collect -> train -> evidence (probe, rollout error) -> planning evaluation -> plots, GIF, index.html
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from amiwm.config import RunConfig
from amiwm.errors import AmiError


def run_demo(
    out: Path = Path("amiwm-demo"),
    *,
    minutes: float = 9.0,
    episodes: int = 400,
    eval_episodes: int = 30,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the whole pipeline into `out`; the trained checkpoint lands in `out/model`."""
    from amiwm.data.collect import collect
    from amiwm.envs import make_env
    from amiwm.evaluation import model_evidence
    from amiwm.planning.agent import WorldModelAgent
    from amiwm.planning.episodes import RandomAgent, evaluate
    from amiwm.report import write_report
    from amiwm.training.trainer import train

    out = Path(out)
    model_dir = out / "model"
    if (model_dir / "config.json").exists() and not (model_dir / "checkpoint").exists():
        raise AmiError(f"{model_dir} holds an unfinished run; remove {out} or pick another --out")
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    data = out / "two-rooms.h5"
    if not data.exists():
        t = time.perf_counter()
        collect("two-rooms", episodes, 100, data, policy="drift", seed=seed, progress=progress)
        timings["collect_s"] = time.perf_counter() - t

    cfg = RunConfig(dataset=str(data))
    cfg.train.seed = seed
    cfg.train.steps = max(50, int(minutes * 60 * 4))  # ~4 steps/s on 2 cores; budget cuts
    t = time.perf_counter()
    if (model_dir / "checkpoint").exists():
        result = None  # reuse the trained model of an earlier demo run in this folder
    else:
        result = train(cfg, model_dir, progress=progress, max_seconds=minutes * 60)
    timings["train_s"] = time.perf_counter() - t

    t = time.perf_counter()
    agent = WorldModelAgent.from_checkpoint(model_dir, "cem", graph_data=data, seed=seed)
    evidence = model_evidence(
        agent.model, data, cfg.train.val_fraction, seed, horizons=(1, 2, 5, 10, 20)
    )
    timings["evidence_s"] = time.perf_counter() - t

    t = time.perf_counter()
    env = make_env("two-rooms")
    probe = agent.position_probe(data)
    planned = evaluate(
        agent,
        env,
        eval_episodes,
        seed=seed + 10_000,
        video=out / "episode.gif",
        probe=probe,
        progress=progress,
    )
    baseline = evaluate(RandomAgent(env.action_space, seed), env, eval_episodes, seed=seed + 10_000)
    timings["eval_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t_start

    summary = {
        "evidence": evidence,
        "planning": {"cem+graph": planned, "random": baseline, "plan_ms": agent.plan_ms},
        "training": {
            "steps": result.step if result else None,
            "frames_per_s": result.frames_per_s if result else None,
        },
        "timings": timings,
    }
    write_report(out, summary, model_dir / "metrics.jsonl")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    return summary
