"""Crash safety (real SIGKILL) and two concurrent writer processes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from amiwm.memory import MemoryStore

D, A = 256, 2  # 2 KiB records: large writes, so a kill often lands inside one

# Appends deterministic records for one episode, continuing after the last remembered time.
# argv: dir episode total batch [torn]; `torn` makes the 3rd write stop halfway and SIGKILL.
WRITER = r"""
import os, signal, sys, time
from pathlib import Path
import numpy as np
from amiwm.memory import MemoryStore

path, ep, total, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = MemoryStore(path, sync="none")
mine = s.episodes() == ep
t = int(s.times()[mine].max()) + 1 if mine.any() else 0
print("ready", flush=True)
go = Path(path) / "go"
while not go.exists():
    time.sleep(0.001)
if len(sys.argv) > 5:
    real, calls = os.write, [0]
    def torn(fd, data):
        calls[0] += 1
        if calls[0] == 3:
            real(fd, bytes(data)[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return real(fd, data)
    os.write = torn
while t < total:
    n = min(batch if t % 3 else 1, total - t)
    times = np.arange(t, t + n)
    z = (ep * 100000 + times)[:, None] + np.arange(256) * 1e-3
    if n == 1:
        s.append(z[0], [t, ep], z[0] + 1, ep, t, frame_ref=t)
    else:
        s.extend(z, np.stack([times, np.full(n, ep)], 1), z + 1, np.full(n, ep), times, times)
    t += n
"""


def spawn(path: Path, episode: int, total: int, batch: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(episode), str(total), str(batch), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )


def check_content(store: MemoryStore) -> dict[int, np.ndarray]:
    """Every record verifies and holds what the writer computed from (episode, time)."""
    ids = store.ids()
    r = store.records(ids)  # raises on any bad checksum
    z = (r.episode * 100000 + r.time)[:, None] + np.arange(D) * 1e-3
    np.testing.assert_allclose(r.latent, z.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(r.next_latent, (z + 1).astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(r.action, np.stack([r.time, r.episode], 1))
    np.testing.assert_array_equal(r.frame_ref, r.time)
    st = store.stats()
    assert st["corrupt_records"] == 0
    return {int(e): np.sort(r.time[r.episode == e]) for e in np.unique(r.episode)}


def test_sigkill_mid_write_never_corrupts(tmp_path: Path) -> None:
    path = tmp_path / "m"
    MemoryStore.create(path, D, A, 10**6, segment_records=4096).close()
    (path / "go").touch()
    rng = np.random.default_rng()
    kills, torn = 0, set()
    while kills < 3 or (not torn and kills < 6):  # ~40% of kills tear a 512 KiB write
        p = spawn(path, 0, 10**9, 256)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.12))
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait() == -signal.SIGKILL
        kills += 1
        s = MemoryStore(path, readonly=True)
        n, tail = len(s), s.stats()["pending_tail_bytes"]
        if tail:
            torn.add((n, tail))
        disk = sum(f.stat().st_size for f in path.glob("seg-*.bin"))
        assert disk == n * s.dtype.itemsize + tail
        assert s.ids().tolist() == list(range(n))
    assert n > 100
    p = spawn(path, 0, n + 5, 256)  # a last writer repairs any torn tail and finishes
    assert p.wait(timeout=30) == 0
    st = s.stats()
    assert st["records"] == n + 5 and st["pending_tail_bytes"] == 0
    assert st["repairs"] == len(torn)  # every torn tail truncated exactly once
    # each restart continued after the last complete record: times are exactly 0..n+4
    assert check_content(s)[0].tolist() == list(range(n + 5))


def test_torn_write_loses_only_that_write(tmp_path: Path) -> None:
    path = tmp_path / "m"
    MemoryStore.create(path, D, A, 10**6, segment_records=500).close()
    (path / "go").touch()
    p = spawn(path, 0, 10**9, 3, "torn")  # writes 1 record, 3 records, then half of 3 records
    assert p.wait() == -signal.SIGKILL
    s = MemoryStore(path, readonly=True)
    assert len(s) == 5  # the torn write's first record is complete; the second is cut in half
    assert s.stats()["pending_tail_bytes"] == s.dtype.itemsize // 2
    p = spawn(path, 0, 10, 3)  # the next writer repairs the tail and continues at time 5
    assert p.wait() == 0
    assert len(s) == 10 and s.stats()["repairs"] == 1
    assert check_content(s)[0].tolist() == list(range(10))


def test_two_writers_append_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "m"
    MemoryStore.create(path, D, A, 10**6, segment_records=64).close()
    procs = [spawn(path, ep, 400, 5) for ep in (1, 2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    (path / "go").touch()
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    s = MemoryStore(path, readonly=True)
    assert len(s) == 800 and s.ids().tolist() == list(range(800))
    times = check_content(s)
    assert times[1].tolist() == times[2].tolist() == list(range(400))
    assert s.stats()["pending_tail_bytes"] == 0


def test_two_writers_with_eviction(tmp_path: Path) -> None:
    path = tmp_path / "m"
    MemoryStore.create(path, D, A, 120, segment_records=20).close()
    procs = [spawn(path, ep, 300, 7) for ep in (1, 2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    (path / "go").touch()
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    s = MemoryStore(path, readonly=True)
    ids = s.ids()
    assert 100 <= len(s) <= 120 and ids.tolist() == list(range(ids[0], 600))
    for t in check_content(s).values():  # each writer's survivors are its newest steps
        assert t.tolist() == list(range(t[0], 300))


def write_steps(store: MemoryStore, ep: int, total: int) -> None:
    for t in range(total):  # one record per append, the contents check_content expects
        z = ep * 100000 + t + np.arange(D) * 1e-3
        store.append(z, [t, ep], z + 1, ep, t, frame_ref=t)


def test_forked_writers_take_their_own_lock(tmp_path: Path) -> None:
    path = tmp_path / "m"
    s = MemoryStore.create(path, D, A, 10**6, segment_records=64)
    write_steps(s, 0, 1)  # the lock file descriptor has been used before the fork
    pid = os.fork()
    if pid == 0:  # child: same MemoryStore object, must not share the parent's flock
        code = 1
        try:
            write_steps(s, 1, 300)
            code = 0
        finally:
            os._exit(code)
    write_steps(s, 2, 300)
    assert os.waitpid(pid, 0)[1] == 0
    assert len(s) == 601 and s.ids().tolist() == list(range(601))
    times = check_content(s)
    assert times[1].tolist() == times[2].tolist() == list(range(300))
