"""Tennessee Eastman (Braatz layout) importer: tiny .dat files written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amiwm.cli import main
from amiwm.data.formats import read_sensors, stream_rows
from amiwm.data.formats.tep import (
    COLUMNS,
    XMEAS,
    XMV,
    check_training,
    describe,
    fault_number,
    read_tep,
)
from amiwm.data.spec import DatasetSpec
from amiwm.errors import AmiError

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tep"
if not REAL.is_dir():
    REAL = Path("/work/shared/data/tep")


def write(path: Path, x: np.ndarray) -> Path:
    path.write_text("\n".join("  ".join(f"{v:.6e}" for v in row) for row in x) + "\n")
    return path


def rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 52)) + np.arange(52)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path / "d00.dat", rows(60).T)  # transposed, as in the Braatz set
    write(tmp_path / "d00_te.dat", rows(40, 1))
    write(tmp_path / "d04.dat", rows(30, 2))
    return tmp_path


def test_names_layout_groups_and_time(folder: Path) -> None:
    t = read_tep(folder / "d04.dat")
    assert t.channels == XMEAS and t.action_names == XMV and len(XMEAS) == 41 and len(XMV) == 11
    x = rows(30, 2)
    np.testing.assert_allclose(t.sensors, x[:, :41], rtol=1e-5)
    np.testing.assert_allclose(t.actions, x[:, 41:], rtol=1e-5)
    assert t.groups() == ["d04"] and t.time.tolist() == list(range(1, 31))
    assert describe("XMEAS9") == "XMEAS9 (reactor temperature)"
    assert describe("XMV10") == "XMV10 (reactor cooling water flow)" and describe("s3") == "s3"
    assert fault_number("d21") == 21 and fault_number("d00_te") == 0 and fault_number("x") is None


def test_transposed_file_is_detected(folder: Path) -> None:
    t = read_tep(folder / "d00.dat")
    assert len(t) == 60
    np.testing.assert_allclose(t.sensors[:, 0], rows(60)[:, 0], rtol=1e-5)
    assert any("transposed" in n for n in t.notes)


def test_folder_reads_normal_runs_and_tep_any_reads_all(folder: Path) -> None:
    normal = read_sensors(f"tep:{folder}")
    assert normal.groups() == ["d00", "d00_te"] and len(normal) == 100
    every = read_sensors(f"tep-any:{folder}")
    assert every.groups() == ["d00", "d00_te", "d04"]
    assert DatasetSpec.parse(f"tep:{folder / 'd04.dat'}") == DatasetSpec(
        "tep", str(folder / "d04.dat")
    )
    picked = read_sensors(f"tep:{folder / 'd04.dat'}", sensor_cols="XMEAS9,XMEAS21", action_cols=[])
    assert picked.channels == ["XMEAS9", "XMEAS21"] and picked.actions is None


def test_stream_rows_yields_every_row_in_file_order(folder: Path) -> None:
    with stream_rows(f"tep-any:{folder}") as s:
        got = list(s)
        assert s.channels == XMEAS and s.action_names == XMV
    assert len(got) == 130 and got[0].group == "d00" and got[-1].group == "d04"
    assert got[-1].time == 30.0 and got[-1].actions.shape == (11,)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("1 2 3\n4 5 6\n", "3 numbers per row"),
        ("1 " * 52 + "\n" + "1 " * 51 + "\n", "row 2 has 51"),
        ("1 " * 51 + "nan\n", "XMV11: nan is not a finite number"),
        ("1 " * 51 + "x\n", "column 52: not a number"),
        ("1e39 " + "1 " * 51 + "\n", "XMEAS1: 1e\\+39 is not a finite"),
        ("\n", "empty file"),
    ],
)
def test_bad_files_get_one_line(tmp_path: Path, content: str, words: str) -> None:
    (tmp_path / "d01.dat").write_text(content)
    with pytest.raises(AmiError, match=words) as err:
        read_tep(tmp_path / "d01.dat")
    assert "\n" not in str(err.value) and "d01.dat" in str(err.value)


def test_bad_specs_and_columns(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(AmiError, match="no normal runs"):
        read_sensors(f"tep:{_empty(tmp_path)}")
    with pytest.raises(AmiError, match="no such TEP file"):
        read_sensors(f"tep:{tmp_path / 'nope.dat'}")
    with pytest.raises(AmiError, match="no TEP sensor column 'XMEAS42'"):
        read_sensors(f"tep:{folder}", sensor_cols="XMEAS42")
    with pytest.raises(AmiError, match="both as a sensor and as an action"):
        read_sensors(f"tep:{folder}", sensor_cols="XMV1")
    with pytest.raises(AmiError, match="time is the sample number"):
        read_sensors(f"tep:{folder}", time_col="cycle")


def _empty(tmp_path: Path) -> Path:
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_fault_run_is_refused_as_training_data(folder: Path, tmp_path: Path, capsys) -> None:
    check_training(folder, "tep")  # normal runs only: fine
    with pytest.raises(AmiError, match="a fault run"):
        check_training(folder / "d04.dat", "tep")
    check_training(folder / "d04.dat", "tep-any")  # said on purpose
    out = tmp_path / "run"
    code = main(["train", "--dataset", f"tep:{folder / 'd04.dat'}", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "tep-any:" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_data_inspect_prints_the_table(folder: Path, capsys) -> None:
    assert main(["data", "inspect", f"tep-any:{folder}"]) == 0
    text = capsys.readouterr().out
    assert "130 in 3 groups" in text and "d04 (30)" in text and "transposed" in text


@pytest.mark.skipif(not (REAL / "d00.dat").is_file(), reason="TEP data set not here")
def test_real_braatz_files() -> None:
    normal = read_sensors(f"tep:{REAL}")
    assert normal.groups() == ["d00", "d00_te"] and len(normal) == 1460
    assert normal.sensors.shape[1] == 41 and normal.actions.shape[1] == 11
    fault = read_tep(REAL / "d01.dat")
    assert len(fault) == 480 and fault.groups() == ["d01"]
    # d00.dat is transposed on disk: read as 500 samples whose XMEAS7 (reactor pressure,
    # about 2705 kPa) is in the right column
    d00 = read_tep(REAL / "d00.dat")
    assert len(d00) == 500 and 2600 < d00.sensors[:, COLUMNS.index("XMEAS7")].mean() < 2800
