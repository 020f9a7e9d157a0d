"""MemoryStore: round trip, nearest, eviction, reopen, corruption handling, graph."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from amiwm.errors import AmiError
from amiwm.memory import MemoryStore, checkpoint_fingerprint
from amiwm.memory.layout import HEADER, segment_name

D, A = 8, 2


def fill(store: MemoryStore, n: int, episode: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, D)).astype(np.float32)
    a = rng.normal(size=(n, A)).astype(np.float32)
    nxt = z + 0.1 * rng.normal(size=(n, D)).astype(np.float32)
    ids = store.extend(z, a, nxt, np.full(n, episode), np.arange(n), frame_refs=np.arange(n) + 7)
    return ids


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    with MemoryStore.create(path, D, A, 1000, fingerprint="m1", meta={"env": "x"}) as s:
        rid = s.append(np.ones(D), [0.5, -0.5], np.full(D, 2.0), episode=3, time=9, frame_ref=42)
        assert rid == 0
        ids = fill(s, 50, episode=4)
        assert ids.tolist() == list(range(1, 51))
        assert len(s) == 51
    with MemoryStore(path, fingerprint="m1") as s:
        assert len(s) == 51
        r = s.records([0, 50])
        assert r.latent[0].tolist() == [1.0] * D
        assert r.action[0].tolist() == [0.5, -0.5]
        assert r.next_latent[0].tolist() == [2.0] * D
        assert (r.episode[0], r.time[0], r.frame_ref[0]) == (3, 9, 42)
        assert (r.episode[1], r.time[1], r.frame_ref[1]) == (4, 49, 56)
        assert r.wall[0] > 1.6e9
        z = np.random.default_rng(0).normal(size=(50, D)).astype(np.float32)
        np.testing.assert_array_equal(s.latents()[1:], z)
        assert s.append(np.zeros(D), [0, 0], np.zeros(D), 5, 0) == 51  # ids continue
        assert s.append(torch.full((D,), 9.0), torch.zeros(A), torch.ones(D), 6, 0) == 52
        assert s.nearest(torch.full((D,), 9.0))[0].tolist() == [52]
        assert s.stats()["meta"] == {"env": "x"}


def test_nearest_matches_brute_force(tmp_path: Path) -> None:
    s = MemoryStore.create(tmp_path / "m", D, A, 4000, segment_records=300)
    fill(s, 1000, seed=1)
    fill(s, 1000, episode=1, seed=2)  # spans several segments
    z, ids = s.latents(), s.ids()
    q = np.random.default_rng(3).normal(size=(5, D)).astype(np.float32)
    got_ids, got_d, recs = s.nearest(q, k=7)
    assert got_ids.shape == got_d.shape == (5, 7)
    for i in range(5):
        ref = np.linalg.norm(z - q[i], axis=1)
        order = np.argsort(ref)[:7]
        assert got_ids[i].tolist() == ids[order].tolist()
        np.testing.assert_allclose(got_d[i], ref[order], rtol=1e-5)
    np.testing.assert_array_equal(recs.id, got_ids.reshape(-1))
    np.testing.assert_allclose(
        np.linalg.norm(recs.latent - q.repeat(7, 0), axis=1), got_d.reshape(-1), rtol=1e-5
    )
    one_ids, one_d, one = s.nearest(z[123], k=1)
    assert one_ids.tolist() == [ids[123]] and one_d[0] == 0.0 and len(one) == 1
    assert len(s.nearest(q[0], k=10_000)[0]) == 2000  # k larger than the store: everything


def test_eviction_drops_oldest_segment(tmp_path: Path) -> None:
    s = MemoryStore.create(tmp_path / "m", D, A, capacity=100, segment_records=10)
    fill(s, 95)
    assert len(s) == 95 and s.ids()[0] == 0
    fill(s, 10, episode=1)  # 105 > 100: segment 0 (ids 0..9) goes
    assert len(s) == 95
    assert s.ids().tolist() == list(range(10, 105))
    assert not (tmp_path / "m" / segment_name(0)).exists()
    fill(s, 333, episode=2)
    ids = s.ids()
    assert 90 <= len(s) <= 100 and ids[-1] == 437
    assert ids.tolist() == list(range(ids[0], 438))
    with pytest.raises(AmiError, match="evicted"):
        s.records([5])
    st = s.stats()
    assert st["records"] == len(s) and st["fill"] == len(s) / 100
    assert st["episodes"] == 1 and st["segments"] == len(list((tmp_path / "m").glob("seg-*")))


def test_rejects_bad_input_and_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "m"
    s = MemoryStore.create(path, D, A, 100, fingerprint="model-a")
    with pytest.raises(AmiError, match="shape"):
        s.append(np.zeros(D + 1), [0, 0], np.zeros(D), 0, 0)
    with pytest.raises(AmiError, match="NaN"):
        s.append(np.full(D, np.nan), [0, 0], np.zeros(D), 0, 0)
    with pytest.raises(AmiError, match="empty|no records"):
        s.nearest(np.zeros(D))
    with pytest.raises(AmiError, match="already exists"):
        MemoryStore.create(path, D, A, 100)
    with pytest.raises(AmiError, match="model-a"):
        MemoryStore(path, fingerprint="model-b")
    with pytest.raises(AmiError, match="latent_dim"):
        MemoryStore.open_or_create(path, D + 1, A, 100, fingerprint="model-a")
    same = MemoryStore.open_or_create(path, D, A, 100, fingerprint="model-a")
    assert same.header.fingerprint == "model-a"
    fresh = MemoryStore.open_or_create(tmp_path / "n", D, A, 100, fingerprint="model-a")
    assert len(fresh) == 0
    with pytest.raises(AmiError, match="two segments"):
        MemoryStore.create(tmp_path / "o", D, A, 10, segment_records=6)
    with pytest.raises(AmiError, match="read-only"):
        MemoryStore(path, readonly=True).append(np.zeros(D), [0, 0], np.zeros(D), 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{not json",
        json.dumps({"format": "other"}),
        json.dumps({"format": "amiwm-memory", "version": 1}),
    ],
)
def test_corrupt_header_is_one_line_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m"
    MemoryStore.create(path, D, A, 100).close()
    (path / HEADER).write_text(text)
    with pytest.raises(AmiError, match="corrupt") as e:
        MemoryStore(path)
    assert "\n" not in str(e.value)


def test_header_dims_checked(tmp_path: Path) -> None:
    path = tmp_path / "m"
    MemoryStore.create(path, D, A, 100).close()
    h = json.loads((path / HEADER).read_text())
    h["latent_dim"] = D + 1  # record_bytes no longer matches
    (path / HEADER).write_text(json.dumps(h))
    with pytest.raises(AmiError, match="corrupt"):
        MemoryStore(path)
    with pytest.raises(AmiError, match="not found"):
        MemoryStore(tmp_path / "missing")
    with pytest.raises(AmiError, match="not an amiwm memory store"):
        MemoryStore(tmp_path)


def test_bad_crc_in_middle_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "m"
    s = MemoryStore.create(path, D, A, 100, segment_records=10)
    fill(s, 25)
    rs = s.dtype.itemsize
    seg = path / segment_name(0)
    raw = bytearray(seg.read_bytes())
    raw[3 * rs + 50] ^= 0xFF  # flip a bit inside record 3's latent
    seg.write_bytes(bytes(raw))
    r = MemoryStore(path, readonly=True)
    assert len(r) == 24 and 3 not in r.ids()
    assert r.stats()["corrupt_records"] == 1
    with pytest.raises(AmiError, match="corrupt"):
        r.records([3])
    z3 = np.random.default_rng(0).normal(size=(25, D)).astype(np.float32)[3]
    ids, dist, _ = r.nearest(z3, k=24)
    assert 3 not in ids.tolist() and dist[0] > 0


def test_torn_and_zero_tail_ignored_then_repaired(tmp_path: Path) -> None:
    path = tmp_path / "m"
    s = MemoryStore.create(path, D, A, 100, segment_records=50)
    fill(s, 5)
    rs = s.dtype.itemsize
    seg = path / segment_name(0)
    with seg.open("ab") as f:  # a whole zero record (power loss) and half a record (torn write)
        f.write(bytes(rs) + b"\x01" * (rs // 2))
    r = MemoryStore(path, readonly=True)
    assert len(r) == 5 and r.stats()["pending_tail_bytes"] == rs + rs // 2
    assert s.append(np.zeros(D), [0, 0], np.zeros(D), 1, 0) == 5  # truncates, then appends
    assert seg.stat().st_size == 6 * rs
    assert len(r) == 6 and r.stats()["pending_tail_bytes"] == 0
    st = r.stats()
    assert st["repairs"] == 1 and st["last_repair"]["dropped_bytes"] == rs + rs // 2
    assert st["last_repair"]["dropped_records"] == 1


def test_reachability_graph(tmp_path: Path) -> None:
    s = MemoryStore.create(tmp_path / "m", 2, 1, 1000)
    # episode 0 walks right along y=0, episode 1 walks up along x=5: they cross at (5, 0)
    for ep, start, step in ((0, (0.0, 0.0), (1.0, 0.0)), (1, (5.0, -5.0), (0.0, 1.0))):
        p = np.array(start) + np.arange(11)[:, None] * np.array(step)
        s.extend(p[:-1], np.zeros((10, 1)), p[1:], np.full(10, ep), np.arange(10))
    graph, ids = s.reachability_graph(radius_scale=0.35)
    assert graph.num_nodes == 20 and sorted(ids.tolist()) == list(range(20))
    a = torch.tensor([0.0, 0.0])
    b = torch.tensor([5.0, 4.0])
    # 5 steps right to the crossing, 4 steps up: only possible through the spatial edge
    assert graph.steps_to_goal(a, b) == pytest.approx(9.0, abs=0.01)
    no_cross, _ = s.reachability_graph(radius_scale=0.0)
    assert no_cross.steps_to_goal(a, b) == float("inf")
    small, _ = s.reachability_graph(max_nodes=10)
    assert small.num_nodes == 10 and small.steps_per_hop == 2


def test_readonly_copy_without_lock(tmp_path: Path) -> None:
    path = tmp_path / "m"
    with MemoryStore.create(path, D, A, 100) as s:
        fill(s, 3)
    os.unlink(path / "lock")
    assert len(MemoryStore(path, readonly=True)) == 3


def test_sync_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))
    counts = {}
    for sync in ("always", "batch", "none"):
        s = MemoryStore.create(tmp_path / sync, D, A, 100, sync=sync)
        s.sync_interval = 3600.0
        calls.clear()
        for t in range(3):
            s.append(np.zeros(D), [0, 0], np.zeros(D), 0, t)
        during = len(calls)
        s.close()
        counts[sync] = (during, len(calls) - during)
    assert counts["always"][0] >= 3  # every append
    assert counts["batch"][0] == 0 and counts["batch"][1] >= 1  # not within the interval; close
    assert counts["none"] == (0, 0)
    with pytest.raises(AmiError, match="sync must be"):
        MemoryStore(tmp_path / "none", sync="sometimes")
    with pytest.raises(AmiError, match="closed"):
        len(s)


def test_checkpoint_fingerprint(tmp_path: Path) -> None:
    ckpt = tmp_path / "run" / "checkpoint"
    ckpt.mkdir(parents=True)
    manifest = {"format": "amiwm-checkpoint", "version": 1, "files": {}}
    (ckpt / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AmiError, match="no model.safetensors digest"):
        checkpoint_fingerprint(tmp_path / "run")
    manifest["files"]["model.safetensors"] = "0123456789abcdef" * 4
    (ckpt / "manifest.json").write_text(json.dumps(manifest))
    assert checkpoint_fingerprint(tmp_path / "run") == "sha256:0123456789abcdef"
