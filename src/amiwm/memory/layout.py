"""On-disk layout of a memory store: a JSON header and segments of fixed-size, CRC32'd records.

A store is a directory::

    header.json          format, version, dims, capacity, segment size, model fingerprint
    lock                 empty file; writers flock() it exclusively, readers shared
    repairs.jsonl        one JSON line per tail a writer truncated after a crash
    seg-000000000000.bin records with ids [0, R), seg-000000000001.bin ids [R, 2R), ...

A record is a little-endian numpy structured row (no pickle): id, episode, time, frame_ref
(int64), wall (float64, unix seconds), latent (float32[D]), action (float32[A]),
next_latent (float32[D]), zero padding to 8 bytes, and a CRC32 of all bytes before it. Record
``id`` lives at slot ``id % R`` of segment ``id // R``, so a record in the wrong place fails
verification like a torn one does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.errors import AmiError

FORMAT = "amiwm-memory"
VERSION = 1
HEADER = "header.json"
LOCK = "lock"
REPAIRS = "repairs.jsonl"
SEGMENT_BYTES = 64 << 20  # default segment size: ~64 MiB of records
_SEGMENT = re.compile(r"^seg-(\d{12})\.bin$")


def segment_name(number: int) -> str:
    return f"seg-{number:012d}.bin"


def segment_numbers(path: Path) -> list[int]:
    """Sorted numbers of the segment files in a store directory."""
    found = (_SEGMENT.match(name) for name in os.listdir(path))
    return sorted(int(m.group(1)) for m in found if m)


def record_dtype(latent_dim: int, action_dim: int) -> np.dtype:
    """The packed little-endian record layout; its itemsize is a multiple of 8."""
    fields: list[tuple[Any, ...]] = [
        ("id", "<i8"),
        ("episode", "<i8"),
        ("time", "<i8"),
        ("frame_ref", "<i8"),
        ("wall", "<f8"),
        ("latent", "<f4", (latent_dim,)),
        ("action", "<f4", (action_dim,)),
        ("next_latent", "<f4", (latent_dim,)),
    ]
    size = 40 + 4 * (2 * latent_dim + action_dim)
    pad = -(size + 4) % 8
    if pad:
        fields.append(("pad", "u1", (pad,)))
    fields.append(("crc", "<u4"))
    return np.dtype(fields)


def seal(records: np.ndarray) -> None:
    """Fill in the CRC32 of each record (in place)."""
    size = records.dtype.itemsize
    rows = records.view(np.uint8).reshape(len(records), size)
    records["crc"] = [zlib.crc32(row[: size - 4]) for row in rows]


def verify(records: np.ndarray, ids: int | np.ndarray) -> np.ndarray:
    """Mask of records whose CRC matches and whose id is as expected (`ids`, or consecutive
    ids from `ids` when it is an int)."""
    size = records.dtype.itemsize
    raw = memoryview(records.view(np.uint8).reshape(-1)) if len(records) else memoryview(b"")
    crc = np.fromiter(
        (zlib.crc32(raw[i * size : (i + 1) * size - 4]) for i in range(len(records))),
        np.uint32,
        len(records),
    )
    if isinstance(ids, int | np.integer):
        ids = np.arange(ids, ids + len(records), dtype=np.int64)
    return (crc == records["crc"]) & (records["id"] == ids)


@dataclass
class Header:
    """The store's fixed parameters, written once at creation."""

    latent_dim: int
    action_dim: int
    capacity: int
    segment_records: int
    record_bytes: int
    fingerprint: str = ""
    created: str = ""
    amiwm_version: str = ""
    eviction: str = "fifo-segment"
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def read(cls, path: Path) -> Header:
        """Parse and check `path/header.json`; any problem is a one-line AmiError."""
        file = path / HEADER
        if not path.exists():
            raise AmiError(f"memory store not found: {path}")
        if not path.is_dir():
            raise AmiError(f"{path} is not a memory store directory")
        if not file.is_file():
            raise AmiError(f"{path} is not an amiwm memory store (no {HEADER})")
        try:
            d = json.loads(file.read_text())
            if not isinstance(d, dict) or d.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT!r}")
        except (OSError, ValueError) as exc:
            raise AmiError(f"{file} is corrupt ({exc}); the memory store cannot be read") from None
        if d.get("version") != VERSION:
            raise AmiError(f"{file}: memory store format version {d.get('version')} unsupported")
        try:
            h = cls(
                **{k: d[k] for k in ("latent_dim", "action_dim", "capacity", "segment_records")},
                record_bytes=d["record_bytes"],
                fingerprint=str(d.get("fingerprint", "")),
                created=str(d.get("created", "")),
                amiwm_version=str(d.get("amiwm_version", "")),
                eviction=str(d.get("eviction", "fifo-segment")),
                meta=dict(d.get("meta") or {}),
            )
            h.check()
        except (KeyError, TypeError, ValueError) as exc:
            raise AmiError(f"{file} is corrupt ({exc}); the memory store cannot be read") from None
        return h

    def check(self) -> None:
        """Raise ValueError if the numbers are inconsistent."""
        ints = (self.latent_dim, self.action_dim, self.capacity, self.segment_records)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
            raise ValueError("dimensions and sizes must be integers")
        if self.latent_dim < 1 or self.action_dim < 0:
            raise ValueError("latent_dim must be >= 1 and action_dim >= 0")
        if self.segment_records < 1 or self.capacity < 2 * self.segment_records:
            raise ValueError("capacity must hold at least two segments")
        if self.record_bytes != record_dtype(self.latent_dim, self.action_dim).itemsize:
            raise ValueError("record_bytes does not match the dimensions")


def read_repairs(path: Path) -> list[dict[str, Any]]:
    """Entries of the repairs log (unreadable lines skipped)."""
    try:
        lines = (path / REPAIRS).read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def fsync_dir(path: Path) -> None:
    from amiwm.checkpoint import fsync

    fsync(path)


def checkpoint_fingerprint(path: Path | str) -> str:
    """A short id of a checkpoint's weights (from its manifest) to tag a memory store with."""
    from amiwm.checkpoint import MANIFEST, read_json, resolve

    digest = read_json(resolve(Path(path)) / MANIFEST).get("files", {}).get("model.safetensors")
    if not isinstance(digest, str):
        raise AmiError(f"{path}: checkpoint manifest has no model.safetensors digest")
    return f"sha256:{digest[:16]}"
