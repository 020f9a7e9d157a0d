"""Streaming training data: a 1,000,000-frame two-rooms store trains in bounded memory.

    python benchmarks/streaming.py --data data/two-rooms-1m.h5 --frames 1000000 --steps 300

Collects the store if it is missing (episodes of up to 100 steps, some end early at the goal:
10% more episodes than frames / 100, so the store holds at least --frames), then runs
`ami-cli train` on it in a child process (with --nproc N: torchrun's processes) and samples the
resident memory of the whole process tree every 0.2 s. Reports the store's size on disk and in
memory (what loading it would cost), peak RSS of the largest process and of the tree, and
training speed. Target: peak resident memory <= 4 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

GB = 1 << 30


def tree_rss(root: int) -> tuple[int, int]:
    """(largest, total) resident bytes of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            status = (d / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(d.name)] = int(line.split()[1]) * 1024
    todo, seen = [root], []
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo += children.get(pid, [])
    sizes = [rss.get(p, 0) for p in seen]
    return max(sizes, default=0), sum(sizes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("data/two-rooms-1m.h5"))
    p.add_argument("--frames", type=int, default=1_000_000, help="collected if --data is missing")
    p.add_argument("--steps", type=int, default=300, help="training steps")
    p.add_argument("--nproc", type=int, default=1, help="training processes (torchrun)")
    p.add_argument("--out", type=Path, default=Path("runs/streaming"))
    args = p.parse_args()

    from amiwm.data.collect import collect
    from amiwm.data.store import EpisodeStore

    result: dict = {"command": " ".join([sys.executable, *sys.argv])}
    if not args.data.exists():
        t = time.perf_counter()
        args.data.parent.mkdir(parents=True, exist_ok=True)
        episodes = math.ceil(args.frames / 100 * 1.1)
        collect("two-rooms", episodes, 100, args.data, seed=0, progress=False)
        result["collect_seconds"] = time.perf_counter() - t
    with EpisodeStore(args.data) as store:
        frames = store.num_steps
        raw = frames * int(store.dataset("observations").dtype.itemsize)
        for s in store.obs_shape:
            raw *= int(s)
    result |= {"frames": frames, "disk_bytes": args.data.stat().st_size, "raw_frame_bytes": raw}
    print(
        f"{args.data}: {frames:,} frames, {args.data.stat().st_size / GB:.2f} GB on disk, "
        f"{raw / GB:.1f} GB as arrays in memory",
        flush=True,
    )
    run = args.out / f"run-{args.nproc}"
    cmd = [sys.executable, "-m", "amiwm.cli", "train", "--dataset", str(args.data), "--out",
           str(run), "--steps", str(args.steps), "--device", "cpu", "--quiet"]  # fmt: skip
    if args.nproc > 1:
        cmd += ["--nproc", str(args.nproc)]
    if run.exists():
        import shutil

        shutil.rmtree(run)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"} if args.nproc > 1
                            else dict(os.environ))  # fmt: skip
    peak_one = peak_all = 0
    while proc.poll() is None:
        one, total = tree_rss(proc.pid)
        peak_one, peak_all = max(peak_one, one), max(peak_all, total)
        time.sleep(0.2)
    seconds = time.perf_counter() - t
    if proc.returncode:
        sys.exit(f"error: training failed with exit status {proc.returncode}")
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    result |= {
        "steps": args.steps,
        "nproc": args.nproc,
        "train_seconds": seconds,
        "frames_per_s_last": rows[-1]["frames_per_s"],
        "peak_rss_process_bytes": peak_one,
        "peak_rss_tree_bytes": peak_all,
        "ru_maxrss_children_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "target_bytes": 4 * GB,
        "met": peak_all <= 4 * GB,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"streaming-{args.nproc}.json").write_text(json.dumps(result, indent=1))
    print(
        f"trained {args.steps} steps on {args.nproc} process(es) in {seconds:.0f} s; peak RSS "
        f"{peak_one / GB:.2f} GB (largest process), {peak_all / GB:.2f} GB (all processes); "
        f"target <= 4 GB: {'met' if result['met'] else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
