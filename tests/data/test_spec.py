"""DatasetSpec: the one parser of dataset arguments."""

import pytest

from amiwm.data.spec import DatasetSpec
from amiwm.errors import AmiError


def test_prefixes_are_case_insensitive_and_suffixes_infer_the_kind(tmp_path):
    assert DatasetSpec.parse("CSV:x.csv") == DatasetSpec("csv", "x.csv")
    assert DatasetSpec.parse("Parquet:t.pq") == DatasetSpec("parquet", "t.pq")
    assert DatasetSpec.parse("x.csv") == DatasetSpec("csv", "x.csv")
    assert DatasetSpec.parse("run/data.h5") == DatasetSpec("store", "run/data.h5")
    assert DatasetSpec.parse("-", "csv") == DatasetSpec("csv", "-")
    engine = tmp_path / "e.txt"
    engine.write_text(" ".join(["1"] * 26) + "\n")
    assert DatasetSpec.parse(str(engine)).kind == "cmapss"


def test_resolved_names_the_data_unambiguously(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert DatasetSpec.parse("csv:a.csv").resolved() == f"csv:{tmp_path / 'a.csv'}"
    assert DatasetSpec.parse("d.h5").resolved() == str(tmp_path / "d.h5")
    assert DatasetSpec.parse("d.h5").imported is False and DatasetSpec.parse("a.csv").imported


def test_bad_specs_get_one_line(tmp_path):
    with pytest.raises(AmiError, match="stdin needs a format"):
        DatasetSpec.parse("-")
    with pytest.raises(AmiError, match="no file path"):
        DatasetSpec.parse("csv:")
    with pytest.raises(AmiError, match="unknown data format 'xls'"):
        DatasetSpec.parse("a.csv", "xls")
    with pytest.raises(AmiError, match="an episode store, not a sensor table"):
        (tmp_path / "s.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
        DatasetSpec.parse(str(tmp_path / "s.h5")).require_table()


def test_open_dataset_passes_quiet_to_the_corpus_import(tmp_path, monkeypatch):
    """`train --quiet` reaches the corpus importer: no progress bar even on a terminal."""
    import amiwm.data.formats.robot as robot
    from amiwm.config import DataConfig
    from amiwm.data.imports import open_dataset

    seen = {}

    def fake(spec, *, progress=True, reuse=None, **options):
        seen["progress"] = progress
        raise RuntimeError("stop here")

    monkeypatch.setattr(robot, "cached_import", fake)
    (tmp_path / "corpus").mkdir()
    spec = DatasetSpec.parse(f"videos:{tmp_path / 'corpus'}")
    with pytest.raises(RuntimeError, match="stop here"):
        open_dataset(spec, tmp_path / "run", DataConfig(), progress=False)
    assert seen == {"progress": False}
