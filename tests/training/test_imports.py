"""A sensor table whose run cannot be prepared leaves no temporary import behind."""

import tempfile

import numpy as np
import pytest

from amiwm.cli import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def test_failed_parquet_import_is_cleaned_up_and_not_named(tmp_path, monkeypatch, capsys):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    rng = np.random.default_rng(0)
    data = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": rng.normal(size=50), "b": rng.normal(size=50)}), data)
    # no actions but --action-conditioning true: refused after the import was written
    argv = ["train", "--dataset", f"parquet:{data}", "--action-conditioning", "true"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--steps", "1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"parquet:{data} (imported) has no actions" in err
    assert "amiwm-import-" not in err
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "run").exists()


def test_failed_import_write_is_cleaned_up(tmp_path, monkeypatch, capsys):
    from amiwm.data.formats.table import SensorTable
    from amiwm.errors import AmiError

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def fail(self, path, **kw):
        path.write_bytes(b"partial")
        raise AmiError("disk full")

    monkeypatch.setattr(SensorTable, "to_store", fail)
    data = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": np.arange(50.0), "b": np.arange(50.0) ** 2}), data)
    argv = ["train", "--dataset", f"parquet:{data}", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(argv) == 1
    assert "disk full" in capsys.readouterr().err
    assert list(scratch.iterdir()) == []
