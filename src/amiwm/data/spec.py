"""Dataset specs: the one parser of what `--dataset`, `--data`, `--train` and `inspect` name.

A spec is ``KIND:PATH`` (the kind case-insensitive) or a plain path whose kind is inferred:
``.h5``/``.hdf5`` is an amiwm episode store, ``.csv`` a CSV table, ``.parquet``/``.pq`` a
Parquet table, a ``.txt`` file of 26 numbers per line C-MAPSS, a folder a robot corpus (LeRobot,
videos or images with action logs; ``lerobot:``, ``videos:``, ``images:``, ``hdf5:``, ``npz:``
force a layout). ``-`` is stdin and needs a kind. Every kind but ``store`` is *imported*: read
once into the run directory as ``data.h5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amiwm.errors import AmiError

STORE = "store"
TABLES = ("cmapss", "csv", "parquet", "tep", "tep-any")  # sensor tables (tep-any: fault runs too)
CORPUS = "corpus"  # a folder of robot recordings, its layout detected when it is read
CORPORA = ("lerobot", "videos", "images", "hdf5", "npz")  # robot corpus layouts
KINDS = (STORE, *TABLES, CORPUS, *CORPORA)
CMAPSS_NUMBERS = 26  # unit, cycle, 3 settings, 21 sensors
_SUFFIXES = {".h5": STORE, ".hdf5": STORE, ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset argument names: its kind (see KINDS) and its path as given."""

    kind: str
    path: str

    @classmethod
    def parse(cls, spec: str | Path, kind: str | None = None) -> DatasetSpec:
        """The spec of a dataset argument; `kind` (e.g. from --format) overrides inference.

        A plain path with an unknown suffix is a C-MAPSS file when it looks like one, else an
        episode store (opening it says what is wrong).
        """
        text = str(spec)
        prefix, sep, rest = text.partition(":")
        found, path = (prefix.lower(), rest) if sep and prefix.lower() in KINDS else (None, text)
        if kind is not None:
            kind = kind.lower()
            if kind not in KINDS:
                raise AmiError(f"unknown data format {kind!r}; use one of {', '.join(KINDS)}")
            if found is not None and found != kind:
                raise AmiError(f"{text}: the prefix says {found} but the format given is {kind}")
            found = kind
        if not path:
            raise AmiError(f"{text!r}: no file path; write e.g. csv:data.csv or csv:- for stdin")
        if found is not None:
            return cls(found, path)
        if path == "-":
            raise AmiError("reading stdin needs a format: write csv:- or cmapss:- (or --format)")
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix in _SUFFIXES:
            return cls(_SUFFIXES[suffix], path)
        if suffix == ".txt" and _numbers_per_line(p) == CMAPSS_NUMBERS:
            return cls("cmapss", path)
        if p.is_dir():
            return cls(CORPUS, path)
        return cls(STORE, path)

    @property
    def imported(self) -> bool:
        """True when training reads it once into the run directory (``RUN/data.h5``)."""
        return self.kind != STORE

    @property
    def is_table(self) -> bool:
        return self.kind in TABLES

    @property
    def is_corpus(self) -> bool:
        return self.kind == CORPUS or self.kind in CORPORA

    def text(self) -> str:
        """The spec as the readers take it (``KIND:PATH``; a bare path for a store or a folder
        whose layout is detected)."""
        return self.path if self.kind in (STORE, CORPUS) else f"{self.kind}:{self.path}"

    def resolved(self) -> str:
        """The spec with an absolute path: what a run's config records (``KIND:/abs`` for
        imported data, the bare absolute path for a store)."""
        path = self.path if self.path == "-" else str(Path(self.path).resolve())
        return path if self.kind == STORE else f"{self.kind}:{path}"

    def require_table(self) -> DatasetSpec:
        """This spec, or an AmiError when it does not name a sensor table."""
        if self.is_table:
            return self
        p = Path(self.path)
        if not p.exists():
            raise AmiError(f"{self.path}: no such file")
        if p.suffix.lower() in (".h5", ".hdf5") or self.kind == STORE and _is_hdf5(p):
            raise AmiError(f"{self.path}: an episode store, not a sensor table; pass a table file")
        raise AmiError(
            f"{self.path}: cannot tell its format; prefix it with cmapss:, csv: or parquet: "
            "(e.g. cmapss:train_FD001.txt)"
        )


def _numbers_per_line(path: Path) -> int | None:
    """How many numbers the first non-blank line of a text file holds (None: not numbers)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if parts:
                    [float(x) for x in parts]
                    return len(parts)
    except (OSError, ValueError):
        return None
    return None


def _is_hdf5(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False
