"""Tell a file that is not HDF5 at all from a damaged HDF5 file, and say what it looks like."""

from __future__ import annotations

from pathlib import Path

import h5py

_MAGIC = (
    (b"PAR1", "a Parquet file", "parquet:"),
    (b"PK\x03\x04", "a zip archive", None),
    (b"\x1f\x8b", "a gzip file", None),
    (b"\x93NUMPY", "a NumPy .npy file", None),
    (b"\x80", "a Python pickle", None),
)


def looks_like(head: bytes) -> tuple[str | None, str | None]:
    """What the first bytes of a file suggest it is (None: unknown binary), and the dataset
    prefix that reads it."""
    for magic, what, prefix in _MAGIC:
        if head.startswith(magic):
            return what, prefix
    if head[4:8] == b"ftyp":
        return "an MP4/MOV video", None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None, None
    if text.lstrip().startswith(("{", "[")):
        return "a JSON text file", None
    return "a text file", "csv:"


def not_hdf5_message(path: Path) -> str | None:
    """A one-line error when ``path`` is readable but not HDF5; None when it is (or may be)."""
    try:
        if h5py.is_hdf5(str(path)):
            return None
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None  # the caller's open reports it
    if not head:
        return f"{path} is empty, not an HDF5 episode store"
    what, prefix = looks_like(head)
    if what is None:
        return (
            f"{path} is not a readable HDF5 file (no HDF5 signature: not an episode store, "
            "or damaged at its start)"
        )
    hint = f"; to train on it as a sensor table pass --dataset {prefix}{path}" if prefix else ""
    return f"{path} is {what}, not an HDF5 episode store (make one with `ami-cli collect`){hint}"
