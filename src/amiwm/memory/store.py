"""A persistent latent memory: (latent, action, next latent, frame, episode, time) records on disk.

Durability and concurrency (see ``layout.py`` for the files):

* Appends are serialised across processes with ``flock`` on ``DIR/lock``; each write() puts
  whole records at the end of the newest segment. Readers take the lock shared to read the
  newest segment; full older segments never change and are read without holding it.
* A writer killed mid-write (``kill -9``) leaves at most a torn tail. Readers ignore a trailing
  partial or bad-CRC record; the next writer truncates it under the lock and logs the repair to
  ``repairs.jsonl``. Records with a bad CRC elsewhere (bit rot) are counted and never returned.
* ``sync="always"`` fsyncs every append (survives power loss), ``"batch"`` (default) at most
  every ``sync_interval`` seconds and on close, ``"none"`` leaves it to the OS. A ``kill -9``
  loses nothing that write() returned from in any mode: the data is in the page cache.
* Bounded size: at most ``capacity`` records. Before a write would exceed it, the oldest segment
  file is unlinked (FIFO by segment, one atomic unlink), so the store holds between
  ``capacity - segment_records`` and ``capacity`` records once full.

Record ids are global and never reused, so an id from ``nearest`` stays valid until evicted.
Each open store caches every latent in RAM (4 * D bytes + ~33 bytes per record) for queries.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic
from time import time as unix_time
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from amiwm import __version__
from amiwm.errors import AmiError
from amiwm.memory.cache import Block, Records, candidates, column
from amiwm.memory.layout import (
    HEADER,
    LOCK,
    REPAIRS,
    SEGMENT_BYTES,
    VERSION,
    Header,
    fsync_dir,
    read_repairs,
    record_dtype,
    seal,
    segment_name,
    segment_numbers,
    verify,
)

if TYPE_CHECKING:
    from amiwm.planning.graph import LatentGraph

SYNC_MODES = ("always", "batch", "none")


class MemoryStore:
    """Open an existing store directory (``MemoryStore.create`` makes a new one).

    `fingerprint`, when given, must equal the store's (a store is never mixed across models).
    `readonly` stores never write, lock or repair anything.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        fingerprint: str | None = None,
        readonly: bool = False,
        sync: str = "batch",
        sync_interval: float = 1.0,
    ) -> None:
        if sync not in SYNC_MODES:
            raise AmiError(f"sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}")
        self.path = Path(path)
        self.header = Header.read(self.path)
        if fingerprint is not None and fingerprint != self.header.fingerprint:
            raise AmiError(
                f"memory store {self.path} belongs to model {self.header.fingerprint!r}, "
                f"not {fingerprint!r}; use a new directory for a new model"
            )
        self.readonly, self.sync, self.sync_interval = readonly, sync, sync_interval
        self.dtype = record_dtype(self.header.latent_dim, self.header.action_dim)
        self.R = self.header.segment_records
        self.dim = self.header.latent_dim
        self._mutex = threading.RLock()
        self._blocks: dict[int, Block] = {}
        self._tail_bytes = 0
        self._dirty: set[int] = set()
        self._last_sync = monotonic()
        self._lock_fd: int | None = None
        self._depth = 0
        self._closed = False
        self._pid = os.getpid()
        self._lock_flags = os.O_RDONLY if readonly else os.O_RDWR | os.O_CREAT
        try:
            self._lock_fd = os.open(self.path / LOCK, self._lock_flags, 0o644)
        except OSError as exc:
            if not readonly:
                raise AmiError(f"cannot open {self.path / LOCK} for writing: {exc}") from None

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        path: Path | str,
        latent_dim: int,
        action_dim: int,
        capacity: int,
        *,
        fingerprint: str = "",
        segment_records: int | None = None,
        meta: dict[str, Any] | None = None,
        sync: str = "batch",
    ) -> MemoryStore:
        """Make a new store; fails if `path` already holds one."""
        path = Path(path)
        try:
            rec = record_dtype(latent_dim, action_dim).itemsize
            if segment_records is None:
                segment_records = max(1, min(capacity // 16, SEGMENT_BYTES // rec))
            header = Header(
                latent_dim=latent_dim,
                action_dim=action_dim,
                capacity=capacity,
                segment_records=segment_records,
                record_bytes=rec,
                fingerprint=str(fingerprint),
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                amiwm_version=__version__,
                meta=dict(meta or {}),
            )
            header.check()
            json.dumps(header.meta)
        except (TypeError, ValueError) as exc:
            raise AmiError(f"cannot create memory store {path}: {exc}") from None
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / LOCK).touch()
            tmp = path / f".{HEADER}.tmp-{os.getpid()}"
            with tmp.open("w") as f:
                f.write(json.dumps(header.to_dict(), indent=2) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path / HEADER)  # atomic create-if-absent
            except FileExistsError:
                raise AmiError(f"a memory store already exists at {path}") from None
            finally:
                tmp.unlink()
            fsync_dir(path)
        except OSError as exc:
            raise AmiError(f"cannot create memory store {path}: {exc}") from None
        return cls(path, sync=sync)

    @classmethod
    def open_or_create(
        cls,
        path: Path | str,
        latent_dim: int,
        action_dim: int,
        capacity: int,
        *,
        fingerprint: str = "",
        **kwargs: Any,
    ) -> MemoryStore:
        """Reopen the store at `path` (checking it matches) or create it: for agent restarts."""
        if not (Path(path) / HEADER).exists():
            try:
                return cls.create(
                    path, latent_dim, action_dim, capacity, fingerprint=fingerprint, **kwargs
                )
            except AmiError:
                if not (Path(path) / HEADER).exists():
                    raise
        store = cls(path, fingerprint=fingerprint, sync=kwargs.get("sync", "batch"))
        h = store.header
        if (h.latent_dim, h.action_dim, h.capacity) != (latent_dim, action_dim, capacity):
            store.close()
            raise AmiError(
                f"memory store {path} has latent_dim {h.latent_dim}, action_dim {h.action_dim}, "
                f"capacity {h.capacity}; asked for {latent_dim}, {action_dim}, {capacity}"
            )
        return store

    # ------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        """Hold the store lock (reentrant: nested uses keep the outermost mode)."""
        with self._mutex:
            if self._closed:
                raise AmiError(f"memory store {self.path} is closed")
            if self._lock_fd is None or self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            if self._pid != os.getpid():  # forked: a private lock, not the parent's
                os.close(self._lock_fd)
                self._lock_fd = os.open(self.path / LOCK, self._lock_flags)
                self._pid = os.getpid()
            fcntl.flock(self._lock_fd, mode)
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ writing
    def append(
        self,
        latent: Any,
        action: Any,
        next_latent: Any,
        episode: int,
        time: int,
        frame_ref: int = -1,
    ) -> int:
        """Remember one transition; returns its record id."""
        rows = [_np(latent)], [_np(action)], [_np(next_latent)], [episode], [time], [frame_ref]
        return int(self.extend(*rows)[0])

    def extend(
        self,
        latents: Any,
        actions: Any,
        next_latents: Any,
        episodes: Any,
        times: Any,
        frame_refs: Any = None,
    ) -> np.ndarray:
        """Remember a batch of transitions (arrays with a leading batch axis); returns their ids."""
        if self.readonly:
            raise AmiError(f"memory store {self.path} was opened read-only")
        rec = self._pack(latents, actions, next_latents, episodes, times, frame_refs)
        ids = np.empty(len(rec), np.int64)
        with self._locked(fcntl.LOCK_EX):
            # every segment but the newest is full: a writer starts segment s+1 only after s
            counts = dict.fromkeys(segment_numbers(self.path), self.R)
            if counts:
                last = max(counts)
                counts[last] = self._repair_tail(last)
                next_id = last * self.R + counts[last]
            else:
                next_id = 0
            done = 0
            while done < len(rec):
                seg, slot = divmod(next_id, self.R)
                m = min(self.R - slot, len(rec) - done)
                counts.setdefault(seg, 0)
                self._evict(counts, seg, m)
                chunk = rec[done : done + m]
                chunk["id"] = np.arange(next_id, next_id + m)
                seal(chunk)
                self._write(seg, chunk, new=slot == 0)
                counts[seg] += m
                ids[done : done + m] = chunk["id"]
                done, next_id = done + m, next_id + m
            if self.sync == "always" or (
                self.sync == "batch" and monotonic() - self._last_sync >= self.sync_interval
            ):
                self._flush()
        return ids

    def _pack(self, latents, actions, next_latents, episodes, times, frame_refs) -> np.ndarray:
        h = self.header
        latents, actions, next_latents, episodes, times, frame_refs = (
            None if x is None else _np(x)
            for x in (latents, actions, next_latents, episodes, times, frame_refs)
        )
        z = np.asarray(latents, np.float32)
        n = len(z)
        if frame_refs is None:
            frame_refs = np.full(n, -1)
        shapes = {
            "latents": (z, (n, h.latent_dim)),
            "actions": (np.asarray(actions, np.float32).reshape(n, -1), (n, h.action_dim)),
            "next_latents": (np.asarray(next_latents, np.float32), (n, h.latent_dim)),
            "episodes": (np.asarray(episodes), (n,)),
            "times": (np.asarray(times), (n,)),
            "frame_refs": (np.asarray(frame_refs), (n,)),
        }
        for name, (a, shape) in shapes.items():
            if a.shape != shape:
                raise AmiError(f"memory {name} have shape {a.shape}, expected {shape}")
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise AmiError(f"memory {name} contain NaN or Inf; not stored")
            if name in ("episodes", "times", "frame_refs") and a.dtype.kind not in "iu":
                raise AmiError(f"memory {name} must be integers, got {a.dtype}")
        rec = np.zeros(n, self.dtype)
        rec["latent"], rec["action"] = z, shapes["actions"][0]
        rec["next_latent"] = shapes["next_latents"][0]
        rec["episode"], rec["time"] = shapes["episodes"][0], shapes["times"][0]
        rec["frame_ref"], rec["wall"] = shapes["frame_refs"][0], unix_time()
        return rec

    def _seg_path(self, number: int) -> str:
        return os.path.join(self.path, segment_name(number))

    def _size(self, number: int) -> int:
        try:
            return os.stat(self._seg_path(number)).st_size
        except FileNotFoundError:
            return 0

    def _repair_tail(self, number: int) -> int:
        """Truncate a torn or bad-CRC tail of the newest segment; returns its record count."""
        size, rs = self._size(number), self.dtype.itemsize
        good = min(size // rs, self.R)
        path = self._seg_path(number)
        with open(path, "r+b") as f:
            while good > 0:
                raw = os.pread(f.fileno(), rs, (good - 1) * rs)
                rec = np.frombuffer(raw, self.dtype).copy()
                if verify(rec, number * self.R + good - 1)[0]:
                    break
                good -= 1
            if good * rs != size:
                f.truncate(good * rs)
                os.fsync(f.fileno())
                entry = {
                    "wall": unix_time(),
                    "segment": number,
                    "dropped_bytes": size - good * rs,
                    "dropped_records": size // rs - good,
                    "partial_bytes": size % rs,
                    "pid": os.getpid(),
                }
                self._log_repair(entry)
        return good

    def _log_repair(self, entry: dict[str, Any]) -> None:
        fd = os.open(self.path / REPAIRS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _evict(self, counts: dict[int, int], active: int, incoming: int) -> None:
        """Unlink the oldest segments until `incoming` more records fit in the capacity."""
        total = sum(counts.values())
        while total + incoming > self.header.capacity:
            oldest = min(counts)
            if oldest == active:
                break
            os.unlink(self._seg_path(oldest))
            total -= counts.pop(oldest)
            self._dirty.discard(oldest)
            self._dirty.add(-1)  # the directory changed

    def _write(self, number: int, chunk: np.ndarray, new: bool) -> None:
        path = self._seg_path(number)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        start = os.fstat(fd).st_size
        data = memoryview(chunk.view(np.uint8).reshape(-1))
        try:
            written = 0
            while written < len(data):  # one write() unless the kernel writes short
                written += os.write(fd, data[written:])
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise AmiError(f"cannot write memory store {self.path}: {exc}") from None
        finally:
            os.close(fd)
        self._dirty.add(number)
        if new:
            self._dirty.add(-1)

    def _flush(self) -> None:
        for number in sorted(self._dirty):
            if number < 0:
                fsync_dir(self.path)
                continue
            with contextlib.suppress(FileNotFoundError):
                fd = os.open(self._seg_path(number), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._dirty.clear()
        self._last_sync = monotonic()

    def flush(self) -> None:
        """fsync everything this process wrote."""
        with self._mutex:
            self._flush()

    def close(self) -> None:
        """fsync what this process wrote (unless sync="none") and release the lock file."""
        with self._mutex:
            if self._dirty and self.sync != "none":
                self._flush()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            self._closed = True

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def refresh(self) -> None:
        """Read records appended since the last call (every read method calls this).

        Full older segments never change (they are only ever unlinked whole), so they are read
        outside the lock and a reader's first load does not hold up writers; the newest segment
        is read under the shared lock.
        """
        with self._mutex:
            sealed: list[tuple[Block, BinaryIO]] = []
            try:
                with self._locked(fcntl.LOCK_SH):
                    numbers = segment_numbers(self.path)
                    blocks = {}
                    self._tail_bytes = 0
                    for s in numbers:
                        b = blocks[s] = self._blocks.get(s) or Block(s, self.R, self.dim)
                        if s == numbers[-1]:
                            with open(self._seg_path(s), "rb") as f:
                                self._read(b, f, last=True)
                        elif b.n < self.R:
                            sealed.append((b, open(self._seg_path(s), "rb")))  # noqa: SIM115
                    self._blocks = blocks
                for b, f in sealed:
                    self._read(b, f, last=False)
            finally:
                for _, f in sealed:
                    f.close()

    def _read(self, b: Block, f: BinaryIO, last: bool) -> None:
        rs = self.dtype.itemsize
        size = os.fstat(f.fileno()).st_size
        slots = min(size // rs, self.R)
        if slots > b.n:
            rec = np.empty(slots - b.n, self.dtype)
            f.seek(b.n * rs)
            got = f.readinto(memoryview(rec.view(np.uint8).reshape(-1)))
            rec = rec[: got // rs]
            ok = verify(rec, b.number * self.R + b.n)
            if last:  # a bad tail may be a torn write: not ours until a writer repairs it
                keep = int(np.nonzero(ok)[0][-1]) + 1 if ok.any() else 0
                rec, ok = rec[:keep], ok[:keep]
            b.add(rec, ok)
        if last:
            self._tail_bytes = size - b.n * rs

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Refresh (the bulk outside the lock), then hold the shared lock for a consistent view."""
        self.refresh()
        with self._locked(fcntl.LOCK_SH):
            self.refresh()
            yield

    def _live(self) -> list[Block]:
        return [self._blocks[s] for s in sorted(self._blocks) if self._blocks[s].n]

    def __len__(self) -> int:
        with self._reading():
            return int(sum(b.ok[: b.n].sum() for b in self._live()))

    def _column(self, name: str) -> np.ndarray:
        return column(self._live(), name, self.R, self.dim)

    def columns(self) -> dict[str, np.ndarray]:
        """Columns of every current record, oldest first, from one consistent read.

        Keys: id, latent, episode, time, wall and hop (||next_latent - latent||).
        """
        with self._reading():
            return {k: self._column(k) for k in ("id", "latent", "episode", "time", "wall", "hop")}

    def _read_column(self, name: str) -> np.ndarray:
        with self._reading():
            return self._column(name)

    def ids(self) -> np.ndarray:
        """Ids of all current records, oldest first (rows of `latents()` match)."""
        return self._read_column("id")

    def latents(self) -> np.ndarray:
        """All current latents (N, D) float32, oldest first (a copy)."""
        return self._read_column("latent")

    def episodes(self) -> np.ndarray:
        return self._read_column("episode")

    def times(self) -> np.ndarray:
        return self._read_column("time")

    def records(self, ids: Any) -> Records:
        """Full records by id, read from disk and verified; AmiError if one is gone or corrupt."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        out = np.zeros(len(ids), self.dtype)
        seg, slot = np.divmod(ids, self.R)
        with self._locked(fcntl.LOCK_SH):
            for s in np.unique(seg):
                where = np.nonzero(seg == s)[0]
                got = self._read_slots(int(s), slot[where])
                if len(got) < len(where):
                    missing = ids[where[len(got)]]
                    raise AmiError(f"memory record {missing} is not in {self.path} (evicted?)")
                out[where] = got
        bad = ~verify(out, ids)
        if bad.any():
            raise AmiError(f"memory record {ids[bad][0]} in {self.path} is corrupt (bad checksum)")
        return Records.from_array(out)

    def _read_slots(self, number: int, slots: np.ndarray) -> np.ndarray:
        """Records at `slots` of a segment, stopping at the first one not on disk."""
        rs = self.dtype.itemsize
        try:
            f = open(self._seg_path(number), "rb")  # noqa: SIM115
        except FileNotFoundError:
            return np.zeros(0, self.dtype)
        with f:
            lo, hi = int(slots.min()), int(slots.max()) + 1
            if hi - lo <= 4 * len(slots) + 64:  # dense: one read of the covering range
                buf = np.zeros(hi - lo, self.dtype)
                f.seek(lo * rs)
                n = f.readinto(memoryview(buf.view(np.uint8).reshape(-1))) // rs
                ok = slots - lo < n
                end = len(slots) if ok.all() else int(np.argmin(ok))
                return buf[slots[:end] - lo]
            out = np.zeros(len(slots), self.dtype)
            for i, sl in enumerate(slots):
                raw = os.pread(f.fileno(), rs, int(sl) * rs)
                if len(raw) != rs:
                    return out[:i]
                out[i] = np.frombuffer(raw, self.dtype)[0]
            return out

    def nearest(
        self, latent: Any, k: int = 1, pool: int = 16
    ) -> tuple[np.ndarray, np.ndarray, Records]:
        """The k remembered latents closest (L2) to `latent`: (ids, distances, records).

        Exact brute force over every record, block by block: candidates by the expanded
        float32 distance (k + `pool` per block), re-ranked by the exact distance. A batch of
        queries (Q, D) gives (Q, k) ids and distances, and the records of `ids.reshape(-1)`.
        """
        q = np.asarray(_np(latent), np.float32)
        single = q.ndim == 1
        q = q.reshape(1, -1) if single else q
        if q.ndim != 2 or q.shape[1] != self.header.latent_dim:
            raise AmiError(
                f"query latent has shape {np.shape(latent)}, the store holds "
                f"{self.header.latent_dim}-dim latents"
            )
        if not np.isfinite(q).all():
            raise AmiError("query latent contains NaN or Inf")
        if k < 1:
            raise AmiError(f"k must be >= 1, got {k}")
        with self._reading():
            ids, z = self._nonempty_candidates(q, k + pool)
            dist = np.sqrt(np.square(z - q[:, None]).sum(-1, dtype=np.float64))
            order = np.argsort(dist, axis=1, kind="stable")[:, :k]
            ids, dist = np.take_along_axis(ids, order, 1), np.take_along_axis(dist, order, 1)
            recs = self.records(ids.reshape(-1))
        return (ids[0], dist[0], recs) if single else (ids, dist, recs)

    def _nonempty_candidates(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not sum(b.ok[: b.n].sum() for b in self._live()):
            raise AmiError(f"memory store {self.path} holds no records")
        return candidates(self._live(), q, k, self.R)

    def reachability_graph(self, **kwargs: Any) -> tuple[LatentGraph, np.ndarray]:
        """A `LatentGraph` over remembered latents and the record id of each node.

        See `amiwm.memory.graph.reachability_graph` for the arguments.
        """
        from amiwm.memory.graph import reachability_graph

        return reachability_graph(self, **kwargs)

    def stats(self) -> dict[str, Any]:
        """Counts, fill, disk use, latent statistics, time span and integrity, JSON-ready."""
        with self._reading():
            return self._stats()

    def _stats(self) -> dict[str, Any]:
        h = self.header
        live = self._live()
        ok = [b.ok[: b.n] for b in live]
        n = int(sum(o.sum() for o in ok))
        z, ids, wall = self._column("latent"), self._column("id"), self._column("wall")
        repairs = read_repairs(self.path)
        disk = sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        return {
            "path": str(self.path),
            "format_version": VERSION,
            "fingerprint": h.fingerprint,
            "created": h.created,
            "latent_dim": h.latent_dim,
            "action_dim": h.action_dim,
            "records": n,
            "capacity": h.capacity,
            "fill": n / h.capacity,
            "eviction": h.eviction,
            "first_id": int(ids[0]) if n else None,
            "last_id": int(ids[-1]) if n else None,
            "episodes": int(len(np.unique(self._column("episode")))),
            "segments": len(self._blocks),
            "segment_records": h.segment_records,
            "record_bytes": self.dtype.itemsize,
            "bytes_on_disk": disk,
            "latent_norm_mean": float(np.linalg.norm(z, axis=1).mean()) if n else None,
            "latent_std_mean": float(z.std(0).mean()) if n else None,
            "step_distance_median": float(np.median(self._column("hop"))) if n else None,
            "first_wall": float(wall.min()) if n else None,
            "last_wall": float(wall.max()) if n else None,
            "corrupt_records": int(sum(len(o) - o.sum() for o in ok)),
            "pending_tail_bytes": self._tail_bytes,
            "repairs": len(repairs),
            "last_repair": repairs[-1] if repairs else None,
            "meta": h.meta,
        }


def _np(x: Any) -> Any:
    """A torch tensor (any device) as a numpy array; anything else unchanged."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x
