"""Human-readable summary of `MemoryStore.stats()` for `ami-cli memory inspect`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from amiwm.data.store import format_size


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{d}d {h}h {m}m" if d else f"{h}h {m}m {s}s" if h else f"{m}m {s}s"


def format_stats(s: dict[str, Any]) -> str:
    """Lines of `key  value` describing a memory store."""
    n = s["records"]
    rows = [
        ("store", s["path"]),
        ("format", f"amiwm-memory v{s['format_version']}, created {s['created'] or '?'}"),
        ("model", s["fingerprint"] or "(no fingerprint)"),
        ("records", f"{n:,} of {s['capacity']:,} ({100 * s['fill']:.1f}% full)"),
        ("eviction", f"{s['eviction']} (whole segments of {s['segment_records']:,} records)"),
        ("record ids", f"{s['first_id']:,} .. {s['last_id']:,}" if n else "-"),
        ("episodes", f"{s['episodes']:,}"),
        (
            "segments",
            f"{s['segments']} ({format_size(s['bytes_on_disk'])} on disk, "
            f"{s['record_bytes']} B/record)",
        ),
        ("dims", f"latent {s['latent_dim']}, action {s['action_dim']}"),
    ]
    if n:
        rows += [
            (
                "latents",
                f"mean norm {s['latent_norm_mean']:.4g}, mean per-dim std "
                f"{s['latent_std_mean']:.4g}, median step {s['step_distance_median']:.4g}",
            ),
            (
                "time span",
                f"{_when(s['first_wall'])} -> {_when(s['last_wall'])} "
                f"({_duration(s['last_wall'] - s['first_wall'])})",
            ),
        ]
    tail = s["pending_tail_bytes"]
    rows.append(("corrupt", f"{s['corrupt_records']} records with a bad checksum (skipped)"))
    rows.append(
        ("tail", f"{tail} B torn tail, ignored; the next writer truncates it" if tail else "clean")
    )
    rep = s["last_repair"]
    rows.append(
        (
            "repairs",
            f"{s['repairs']} (last: {_when(rep['wall'])}, dropped "
            f"{rep['dropped_bytes']} B in segment {rep['segment']})"
            if rep
            else "none",
        )
    )
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
