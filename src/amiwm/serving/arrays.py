"""Arrays in and out of JSON: nested lists, raw base64 arrays and base64 PNG frames, checked.

Every decoder raises AmiError with a one-line message naming the field; nothing here touches
the file system. PNG frames are checked against the model's frame size from the header, before
any pixel is decompressed (no decompression bombs), and only the PNG decoder is enabled.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from amiwm.errors import AmiError

RAW_DTYPES = {"uint8": np.dtype("<u1"), "float32": np.dtype("<f4"), "float64": np.dtype("<f8")}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
MAX_DEPTH = 8  # nesting of lists holding PNG strings


def shape_text(dims: Sequence[int | str]) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


def _raw(value: dict[str, Any], what: str) -> np.ndarray:
    """{"dtype", "shape", "data"} (base64 of little-endian C-order bytes) -> array."""
    dtype = RAW_DTYPES[value["dtype"]]
    shape = [int(d) for d in value["shape"]]
    try:
        buf = base64.b64decode(value["data"], validate=True)
    except (binascii.Error, ValueError):
        raise AmiError(f"{what}.data is not valid base64") from None
    want = math.prod(shape) * dtype.itemsize
    if len(buf) != want:
        raise AmiError(
            f"{what}.data holds {len(buf)} bytes; shape {shape_text(shape)} of {value['dtype']} "
            f"needs {want}"
        )
    return np.frombuffer(buf, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _png(text: str, what: str, frame: Sequence[Any]) -> np.ndarray:
    """A base64 PNG (optionally a data: URL) -> uint8 frame (H, W, C) of exactly `frame` (or
    of one of several allowed (H, W, C), e.g. the model's and its camera's)."""
    from PIL import Image

    shapes = [tuple(frame)] if isinstance(frame[0], int) else [tuple(f) for f in frame]
    if any(len(f) != 3 or f[2] not in PNG_MODES for f in shapes):
        raise AmiError(f"{what}: PNG strings need a frames model with 1, 3 or 4 channels")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AmiError(f"{what} is a string but not base64 PNG data") from None
    if len(data) < 24 or not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        raise AmiError(f"{what} is not a PNG image (only PNG is accepted)")
    width, height = struct.unpack(">II", data[16:24])  # the header: nothing decompressed yet
    fits = [f for f in shapes if (f[1], f[0]) == (width, height)]
    if not fits:
        need = " or ".join(f"{f[1]}x{f[0]}" for f in shapes)
        raise AmiError(f"{what} is a {width}x{height} PNG; the model needs {need}")
    h, w, c = fits[0]
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            arr = np.asarray(im.convert(PNG_MODES[c]))
    except Exception:  # untrusted bytes: PIL raises many types (OSError, SyntaxError, zlib...)
        raise AmiError(f"{what} is not a readable PNG image") from None
    return arr.reshape(h, w, c)


def _has_strings(value: list[Any]) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, str)


def _numbers(value: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise AmiError(f"{what} must be a rectangular array of numbers") from None
    if arr.dtype.kind not in "iuf":
        raise AmiError(f"{what} must be a rectangular array of numbers")
    return arr


def decode(value: Any, what: str, frame: Sequence[int] | None = None, depth: int = 0) -> np.ndarray:
    """JSON value -> numpy array. `frame` (H, W, C), or a list of them, allows PNG strings for
    whole frames of that size."""
    if isinstance(value, dict):
        return _raw(value, what)
    if isinstance(value, str):
        if frame is None:
            raise AmiError(f"{what} must be an array of numbers, not a string")
        return _png(value, what, frame)
    if isinstance(value, list) and frame is not None and _has_strings(value):
        if depth >= MAX_DEPTH:
            raise AmiError(f"{what} is nested too deeply")
        parts = [decode(v, f"{what}[{i}]", frame, depth + 1) for i, v in enumerate(value)]
        if any(p.shape != parts[0].shape or p.dtype != parts[0].dtype for p in parts):
            raise AmiError(f"{what} mixes frames of different shapes or types")
        return np.stack(parts)
    if isinstance(value, list):
        return _numbers(value, what)
    raise AmiError(f"{what} must be an array")


def match(arr: np.ndarray, what: str, pattern: Sequence[int | str]) -> dict[str, int]:
    """Check arr.shape against a pattern of sizes and names; return the named sizes."""
    names: dict[str, int] = {}
    ok = arr.ndim == len(pattern)
    if ok:
        for size, want in zip(arr.shape, pattern, strict=True):
            if isinstance(want, str):
                ok = ok and names.setdefault(want, size) == size
            else:
                ok = ok and size == want
    if not ok:
        raise AmiError(f"{what} has shape {shape_text(arr.shape)}, expected {shape_text(pattern)}")
    return names


def frames(arr: np.ndarray, what: str) -> np.ndarray:
    """uint8 frames: integers in [0, 255]."""
    if arr.dtype == np.uint8 or arr.size == 0:
        return arr.astype(np.uint8, copy=False)
    if arr.dtype.kind not in "iu":
        raise AmiError(f"{what}: frames must be integers in 0..255, got {arr.dtype.name} values")
    if arr.min() < 0 or arr.max() > 255:
        raise AmiError(f"{what}: frame values must be in 0..255")
    return arr.astype(np.uint8)


def floats(arr: np.ndarray, what: str) -> np.ndarray:
    """float32, finite (values beyond float32 range count as Inf)."""
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise AmiError(f"{what} contains NaN or Inf (or values beyond float32 range)")
    return out


def to_json(arr: Any) -> Any:
    """A float tensor/array -> nested lists of Python floats (exact float32 values)."""
    return np.asarray(arr, dtype=np.float32).tolist()
