"""Prometheus text exposition, hand-written: request counts, latency and batch-size histograms."""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value

    def lines(self, name: str, labels: str) -> list[str]:
        out, total = [], 0
        sep = "," if labels else ""
        for bound, count in zip((*self.buckets, "+Inf"), self.counts, strict=True):
            total += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {total}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.6f}")
        out.append(f"{name}_count{{{labels}}} {total}")
        return out


class Metrics:
    """Thread-safe counters and histograms with fixed label sets (no unbounded growth)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batches: dict[str, Histogram] = {}
        self.batch_seconds: dict[str, float] = defaultdict(float)

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1
            self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch(self, kind: str, size: int, seconds: float) -> None:
        with self._lock:
            self.batches.setdefault(kind, Histogram(BATCH_BUCKETS)).observe(size)
            self.batch_seconds[kind] += seconds

    def render(self, queue_depth: int) -> str:
        with self._lock:
            lines = [
                "# HELP amiwm_requests_total HTTP requests by endpoint and status code.",
                "# TYPE amiwm_requests_total counter",
            ]
            for (ep, status), n in sorted(self.requests.items()):
                lines.append(f'amiwm_requests_total{{endpoint="{ep}",status="{status}"}} {n}')
            lines += [
                "# HELP amiwm_request_seconds Request latency, body read to response sent.",
                "# TYPE amiwm_request_seconds histogram",
            ]
            for ep, hist in sorted(self.latency.items()):
                lines += hist.lines("amiwm_request_seconds", f'endpoint="{ep}"')
            lines += [
                "# HELP amiwm_batch_size Requests served by one batched model call.",
                "# TYPE amiwm_batch_size histogram",
            ]
            for kind, hist in sorted(self.batches.items()):
                lines += hist.lines("amiwm_batch_size", f'kind="{kind}"')
            lines += [
                "# HELP amiwm_model_seconds_total Time the model worker spent computing.",
                "# TYPE amiwm_model_seconds_total counter",
            ]
            for kind, s in sorted(self.batch_seconds.items()):
                lines.append(f'amiwm_model_seconds_total{{kind="{kind}"}} {s:.6f}')
        lines += [
            "# HELP amiwm_queue_depth Requests waiting for the model worker.",
            "# TYPE amiwm_queue_depth gauge",
            f"amiwm_queue_depth {queue_depth}",
            "# HELP amiwm_resident_memory_bytes Resident set size of the server process.",
            "# TYPE amiwm_resident_memory_bytes gauge",
            f"amiwm_resident_memory_bytes {resident_bytes()}",
        ]
        return "\n".join(lines) + "\n"


def resident_bytes(pid: int | str = "self") -> int:
    """Resident set size from /proc (0 where /proc is unavailable)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
