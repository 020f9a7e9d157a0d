"""Load test of `ami-cli serve` on loopback: throughput and p50/p99 latency at 1, 8 and 32
concurrent clients, error count, and the server's resident memory before and after.

Starts the server as a subprocess (with a bearer token, as deployed), warms it up, then sends
`--requests` requests per concurrency level (default 1000 + 3000 + 6000 = 10,000) of two-rooms
observation/goal pairs. Each client is a thread with its own keep-alive `amiwm.client.Client`
(--shared: one Client shared by all threads, as a requests.Session is shared);
the clients share the machine's cores with the server, as they would on a robot's computer.

    python benchmarks/load.py --checkpoint /tmp/serve/run
    python benchmarks/load.py            # collects 200 episodes and trains 300 steps first
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from amiwm.client import Client
from amiwm.errors import AmiError
from amiwm.serving.metrics import resident_bytes


def make_model(work: Path) -> Path:
    """A real two-rooms model: 200 episodes x 100 steps, 300 training steps (cached in work)."""
    run = work / "run"
    if (run / "checkpoint").is_dir():
        return run
    cli = [sys.executable, "-m", "amiwm.cli"]
    data = work / "data.h5"
    if not data.exists():
        cmd = ["collect", "--episodes", "200", "--steps", "100", "--out", str(data), "--quiet"]
        subprocess.run([*cli, *cmd], check=True)
    cmd = ["train", "--dataset", str(data), "--steps", "300", "--out", str(run), "--quiet"]
    subprocess.run([*cli, *cmd], check=True)
    return run


def start_server(
    checkpoint: Path, token_file: Path, extra: list[str]
) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "amiwm.cli", "serve", "--checkpoint", str(checkpoint)]
    cmd += ["--port", "0", "--token-file", str(token_file), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "://" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split()[-1]


def pairs(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(observation, goal) frames from random two-rooms resets."""
    from amiwm.envs import make_env

    env = make_env("two-rooms")
    out = []
    for i in range(n):
        obs, _ = env.reset(seed=seed + 2 * i)
        goal, _ = env.reset(seed=seed + 2 * i + 1)
        out.append((obs, goal))
    return out


def level(
    url: str,
    token: str,
    clients: int,
    total: int,
    endpoint: str,
    data,
    fleet: bool,
    shared: Client | None = None,
) -> dict:
    """`total` requests from `clients` threads; latency of each, errors, batch sizes.

    shared: one Client used by every thread (else each thread opens its own).
    fleet: client k is a robot with its own goal (goal k), replanning from a new observation
    each request; otherwise every request has a new observation/goal pair.
    """
    lock, nxt = threading.Lock(), [0]
    latencies: list[float] = []
    batches: list[int] = []
    server_ms: list[tuple[float, float]] = []  # (queue_ms, plan_ms) reported by the server
    errors: list[str] = []

    def worker(k: int) -> None:
        with nullcontext(shared) if shared else Client(url, token, timeout=60) as c:
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= total:
                    return
                obs, goal = data[i % len(data)]
                if fleet:
                    goal = data[k % len(data)][1]
                t0 = time.perf_counter()
                try:
                    if endpoint == "plan":
                        r = c.plan(obs, goal, seed=i)
                        batches.append(r.batch)
                        server_ms.append((r.queue_ms, r.plan_ms))
                    else:
                        c.encode(obs[None])
                except AmiError as exc:
                    errors.append(str(exc))
                    continue
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": total,
        "ok": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "throughput_per_s": len(latencies) / wall,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "mean_batch": float(np.mean(batches)) if batches else None,
        "mean_queue_ms": float(np.mean([q for q, _ in server_ms])) if server_ms else None,
        "mean_plan_ms": float(np.mean([b for _, b in server_ms])) if server_ms else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", type=Path, help="checkpoint or run dir (default: train one)")
    p.add_argument("--work", type=Path, default=Path("/tmp/amiwm-load"), help="scratch dir")
    p.add_argument("--endpoint", choices=["plan", "encode"], default="plan")
    p.add_argument("--clients", default="1,8,32", help="concurrency levels")
    p.add_argument("--requests", default="1000,3000,6000", help="requests per level")
    p.add_argument(
        "--goals",
        choices=["fleet", "per-request"],
        default="fleet",
        help=(
            "fleet: each client is a robot with its own goal; per-request: a new goal every time"
        ),
    )
    p.add_argument("--warmup", type=int, default=300, help="requests before measuring")
    p.add_argument("--server-args", default="", help="extra `ami-cli serve` flags, one string")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--shared", action="store_true", help="one Client shared by all threads")
    args = p.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    totals = [int(n) for n in args.requests.split(",")]
    if len(clients) != len(totals):
        raise SystemExit("--clients and --requests need the same number of entries")

    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint or make_model(args.work)
    token = secrets.token_urlsafe(32)
    token_file = args.work / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    load_before = os.getloadavg()[0]
    proc, url = start_server(checkpoint, token_file, args.server_args.split())
    try:
        with Client(url, token) as c:
            health = c.wait()
        data = pairs(64)
        fleet = args.goals == "fleet"
        rss_boot = resident_bytes(proc.pid)
        level(url, token, max(clients), args.warmup, args.endpoint, data, fleet)
        rss_start = resident_bytes(proc.pid)
        results = []
        shared = Client(url, token, timeout=60, connections=max(clients)) if args.shared else None
        for n, total in zip(clients, totals, strict=True):
            results.append(level(url, token, n, total, args.endpoint, data, fleet, shared))
            results[-1]["rss_mib"] = resident_bytes(proc.pid) / 2**20
        rss_end = resident_bytes(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}; load average before start {load_before:.2f}"
    )
    print(
        f"server: {checkpoint} ({health['model']['modality']} {health['model']['obs_shape']}, "
        f"graph {health['graph_nodes']} nodes, plan budget {health['plan_defaults']})"
    )
    print(
        f"/v1/{args.endpoint} on {url} (bearer token), goals: {args.goals}, warm-up "
        f"{args.warmup} requests at {max(clients)} clients"
        + (", one Client shared by all threads" if args.shared else "")
    )
    heads = ("clients", 7), ("requests", 8), ("errors", 6), ("req/s", 7), ("p50 ms", 7)
    print(" ".join(f"{h:>{w}}" for h, w in heads), " p99 ms  batch  queue  model  RSS MiB")
    for r in results:
        batch, queue, model = (
            f"{r[k]:.1f}" if r[k] is not None else "-"
            for k in ("mean_batch", "mean_queue_ms", "mean_plan_ms")
        )
        p50 = f"{r['p50_ms']:.1f}" if r["p50_ms"] is not None else "-"
        p99 = f"{r['p99_ms']:.1f}" if r["p99_ms"] is not None else "-"
        print(
            f"{r['clients']:>7} {r['requests']:>8} {r['errors']:>6} "
            f"{r['throughput_per_s']:>7.1f} {p50:>7} {p99:>7} {batch:>6} {queue:>6} {model:>6} "
            f"{r['rss_mib']:>8.1f}"
        )
        if r["first_error"]:
            print(f"        first error: {r['first_error']}")
    growth = (rss_end - rss_start) / max(rss_start, 1)
    print("  (batch: plans per planner call; queue/model: server-side mean ms per request)")
    print(
        f"server RSS: {rss_boot / 2**20:.1f} MiB at start, "
        f"{rss_start / 2**20:.1f} MiB after warm-up, {rss_end / 2**20:.1f} MiB after "
        f"{sum(totals)} requests ({growth:+.1%})"
    )
    if args.json:
        summary = {"results": results, "rss_boot": rss_boot, "rss_start": rss_start}
        summary.update(rss_end=rss_end, goals=args.goals, endpoint=args.endpoint)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
