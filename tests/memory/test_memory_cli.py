"""`ami-cli memory inspect`."""

import json
from pathlib import Path

import numpy as np
import pytest

from amiwm.cli import main
from amiwm.memory import MemoryStore
from amiwm.memory.layout import HEADER, segment_name


def make(path: Path) -> MemoryStore:
    s = MemoryStore.create(path, 4, 1, 40, fingerprint="sha256:abc123", segment_records=10)
    z = np.arange(45 * 4, dtype=np.float32).reshape(45, 4)
    s.extend(z, np.zeros((45, 1)), z + 1, np.arange(45) // 20, np.arange(45) % 20)
    return s


def test_inspect_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mem"
    s = make(path)  # 45 records into capacity 40: segment 0 evicted, ids 10..44 remain
    with (path / segment_name(4)).open("ab") as f:
        f.write(b"\0" * 7)  # a torn tail
    assert main(["memory", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "35 of 40 (87.5% full)" in out
    assert "sha256:abc123" in out and "10 .. 44" in out
    assert "7 B torn tail" in out and "repairs     none" in out
    assert main(["memory", "inspect", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["records"] == 35 and d["episodes"] == 3 and d["segments"] == 4
    assert d["first_id"] == 10 and d["last_id"] == 44 and d["pending_tail_bytes"] == 7
    assert d["latent_dim"] == 4 and d["capacity"] == 40 and d["fingerprint"] == "sha256:abc123"
    s.append(np.zeros(4), [0], np.zeros(4), 9, 0)  # the writer truncates the tail
    assert main(["memory", "inspect", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["records"] == 36 and d["pending_tail_bytes"] == 0 and d["repairs"] == 1
    assert main(["memory", "inspect", str(path)]) == 0
    assert "repairs     1 (last:" in capsys.readouterr().out


def test_inspect_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "inspect", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err == f"error: memory store not found: {tmp_path / 'nope'}\n"
    path = tmp_path / "mem"
    make(path).close()
    (path / HEADER).write_text('{"format": "amiwm-memory", "version": 1, "latent_dim": ')
    assert main(["memory", "inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "corrupt" in err and err.count("\n") == 1
    assert main(["memory", "inspect", str(tmp_path)]) == 1
    assert "not an amiwm memory store" in capsys.readouterr().err
