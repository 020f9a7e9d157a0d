"""Robot-corpus import speed and memory: synthetic h264 LeRobot v2.1 corpora, 96x96 and 480x640
cameras, imported to 64x64 frames; frames/s and the importing process's peak RSS.

    python benchmarks/import_corpus.py --frames 100000 --big-frames 3000 --work runs/import-bench

Each import runs in a fresh process (its own peak RSS, torch.set_num_threads(1); PyAV decodes
with its own threads). The corpora are written once into --work and reused by later runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from amiwm.data.formats.lerobot_write import LeRobotRecorder

CAM = "observation.images.cam"

CHILD = """
import json, resource, sys, time, torch
torch.set_num_threads(1)
from amiwm.data.formats.robot import import_corpus
from amiwm.data.store import EpisodeStore
src, out = sys.argv[1], sys.argv[2]
t = time.perf_counter()
import_corpus(src, out, frame_size=64, resize=sys.argv[3], progress=False, overwrite=True)
dt = time.perf_counter() - t
with EpisodeStore(out) as s:
    n = s.num_steps
try:  # VmHWM: this process's own peak (ru_maxrss can carry the forking parent's peak)
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    peak = int(status.split()[0]) / 1024
except (OSError, IndexError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"frames": n, "seconds": dt, "peak_rss_mb": peak}))
"""


def scene(t: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A textured floor with a block that moves: h264 has real work to do."""
    yy, xx = np.mgrid[0:h, 0:w]
    floor = ((np.sin(xx / 7.0) + np.cos(yy / 5.0)) * 40 + 120).astype(np.uint8)
    noise = rng.integers(0, 12, (h, w), dtype=np.uint8)
    frames = np.empty((t, h, w, 3), np.uint8)
    frames[..., 0] = frames[..., 1] = frames[..., 2] = floor + noise
    pos = np.cumsum(rng.normal(0, 1.5, (t, 2)), 0) + [h / 2, w / 2]
    s = max(4, h // 8)
    for k, (y, x) in enumerate(pos):
        y, x = int(np.clip(y, 0, h - s)), int(np.clip(x, 0, w - s))
        frames[k, y : y + s, x : x + s] = (220, 60, 40)
    return frames


def build(root: Path, frames: int, episode: int, h: int, w: int) -> Path:
    if (root / "meta" / "info.json").is_file():
        return root
    rng = np.random.default_rng(0)
    tmp = root.with_name(root.name + ".partial")
    rec = LeRobotRecorder(tmp, 30, {CAM: (h, w)}, action_dim=2, state_dim=2)
    t0, done = time.perf_counter(), 0
    while done < frames:
        n = min(episode, frames - done)
        f = scene(n, h, w, rng)
        a = rng.normal(size=(n, 2)).astype(np.float32)
        rec.add_episode({CAM: f}, a, np.cumsum(a, 0))
        done += n
    rec.close()
    tmp.rename(root)
    print(f"wrote {root} ({frames} frames {w}x{h}) in {time.perf_counter() - t0:.0f}s")
    return root


def run_import(src: Path, out: Path, resize: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(src), str(out), resize],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if res.returncode:
        raise SystemExit(f"import failed: {res.stderr.strip().splitlines()[-1]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=100_000, help="96x96 corpus size")
    p.add_argument("--big-frames", type=int, default=3_000, help="480x640 corpus size")
    p.add_argument("--episode", type=int, default=500, help="frames per episode")
    p.add_argument("--work", type=Path, default=Path("runs/import-bench"))
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    small = build(args.work / f"lerobot-96x96-{args.frames}", args.frames, args.episode, 96, 96)
    big = build(args.work / f"lerobot-480x640-{args.big_frames}", args.big_frames, 300, 480, 640)
    cpu = platform.machine()
    with contextlib.suppress(OSError, IndexError):
        info = Path("/proc/cpuinfo").read_text()
        cpu = info.split("model name")[1].split(":")[1].splitlines()[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {cpu.strip()}, {os.cpu_count()} cores, load average {load:.1f} at start, "
        f"python {platform.python_version()}"
    )
    print("| corpus | frames | resize | import frames/s | peak RSS |")
    print("|---|---|---|---|---|")
    for src, label in ((small, "96x96 h264"), (big, "480x640 h264")):
        for resize in ("crop",) if src is small else ("crop", "pad"):
            r = run_import(src, args.work / f"{src.name}-{resize}.h5", resize)
            fps = r["frames"] / r["seconds"]
            print(
                f"| {label} -> 64x64 | {r['frames']} | {resize} | {fps:,.0f} | "
                f"{r['peak_rss_mb']:,.0f} MB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
