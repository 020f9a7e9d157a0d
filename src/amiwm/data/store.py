"""HDF5 episode store (format_version 1): an atomic writer and a validating, lazy reader.

Layout of one file (N steps over E episodes)::

    /observations      (N, H, W, C) uint8 ("frames") or (N, D) float32 ("sensors")
    /actions           (N, A) float32, optional; the last row of each episode is zero padding
    /states            (N, S) float32, optional
    /episode_starts    (E,) int64
    /episode_lengths   (E,) int64

Root attributes: ``format_version``, ``amiwm_version``, ``modality``, ``created`` plus whatever
the writer was given (``env_id``, ``observation_space``, ``action_space``, ``frame_size``,
``policy``, ``seed``, ``metadata_json``, ...). Dict/list attributes are stored as JSON strings.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from amiwm import __version__
from amiwm.data.filetype import not_hdf5_message
from amiwm.data.stats import action_moments
from amiwm.errors import AmiError

FORMAT_VERSION = 1
MODALITIES = ("frames", "sensors")
COMPRESSIONS = ("lzf", "gzip", "none")
_REQUIRED = ("observations", "episode_starts", "episode_lengths")
_FRAME_CHUNK_BYTES = 1 << 15  # ~32 KiB of frames per chunk (2 frames of 64x64x3): lzf decode
# time dominates random window reads, so small chunks are fastest (measured 9 ms vs 17 ms at 8)
_ROW_CHUNK_BYTES = 1 << 16  # ~64 KiB per chunk for low-dimensional arrays
_SCAN_BYTES = 1 << 22  # check_finite / summary read blocks of ~4 MiB


def partial_path(path: Path) -> Path:
    """The temporary file an EpisodeWriter writes before renaming onto ``path``."""
    return path.with_name("." + path.name + ".partial")


def _chunk_rows(row_bytes: int, budget: int, cap: int) -> int:
    rows = max(1, budget // max(1, row_bytes))
    return min(cap, 1 << (rows.bit_length() - 1))  # round down to a power of two


def _encode_attr(value: Any) -> Any:
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str) and value[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class EpisodeWriter:
    """Append episodes to a new store; the file appears at ``path`` only on successful close.

    Writes into a hidden ``.NAME.partial`` file beside the target and ``os.replace``s it onto
    ``path`` when closed without error; on error the partial file is deleted and any existing
    ``path`` is left untouched. Use as a context manager. ``attrs`` become root attributes
    (dicts/lists as JSON strings, None values dropped); frames must be uint8 (H, W, C) and
    sensor observations float32 (D,).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        obs_shape: tuple[int, ...],
        obs_dtype: Any,
        action_dim: int | None,
        state_dim: int | None = None,
        attrs: Mapping[str, Any] | None = None,
        compression: str | None = "lzf",
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.action_dim = None if action_dim is None else int(action_dim)
        self.state_dim = None if state_dim is None else int(state_dim)
        self.attrs = dict(attrs or {})
        self.compression = "none" if compression is None else compression
        self.overwrite = overwrite
        self.modality = self._check_config()
        self._partial = partial_path(self.path)
        self._file: h5py.File | None = None
        self._starts: list[int] = []
        self._lengths: list[int] = []
        self._rows = 0

    def _check_config(self) -> str:
        if self.path.is_dir():
            raise AmiError(f"{self.path} is a directory; give a file path such as data/run.h5")
        if self.path.exists() and not self.overwrite:
            raise AmiError(f"{self.path} already exists; pass overwrite=True (--overwrite)")
        if self.compression not in COMPRESSIONS:
            raise AmiError(f"unknown compression {self.compression!r}; use one of {COMPRESSIONS}")
        if any(d < 1 for d in self.obs_shape):
            raise AmiError(f"invalid obs_shape {self.obs_shape}: every dimension must be >= 1")
        for name, dim in (("action_dim", self.action_dim), ("state_dim", self.state_dim)):
            if dim is not None and dim < 1:
                raise AmiError(f"invalid {name} {dim}: must be >= 1, or None for no {name[:-4]}s")
        if self.obs_dtype == np.uint8 and len(self.obs_shape) == 3:
            modality = "frames"
        elif self.obs_dtype == np.float32 and len(self.obs_shape) == 1:
            modality = "sensors"
        else:
            raise AmiError(
                f"unsupported observations {self.obs_shape} {self.obs_dtype}: use uint8 frames "
                "(H, W, C) or float32 vectors (D,)"
            )
        if self.attrs.get("modality", modality) != modality:
            raise AmiError(f"attrs modality {self.attrs['modality']!r} contradicts {modality!r}")
        return modality

    def __enter__(self) -> EpisodeWriter:
        self.open()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        """Create the partial file and its resizable datasets."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial.unlink(missing_ok=True)
        self._file = f = h5py.File(self._partial, "w")
        comp = None if self.compression == "none" else self.compression
        opts = {"compression_opts": 4} if comp == "gzip" else {}
        obs_row = int(np.prod(self.obs_shape)) * self.obs_dtype.itemsize
        if self.modality == "frames":
            obs_rows = _chunk_rows(obs_row, _FRAME_CHUNK_BYTES, 16)
        else:
            obs_rows = _chunk_rows(obs_row, _ROW_CHUNK_BYTES, 4096)
        specs = [("observations", self.obs_shape, self.obs_dtype, obs_rows)]
        for name, dim in (("actions", self.action_dim), ("states", self.state_dim)):
            if dim is not None:
                rows = _chunk_rows(4 * dim, _ROW_CHUNK_BYTES, 4096)
                specs.append((name, (dim,), np.dtype(np.float32), rows))
        for name, shape, dtype, rows in specs:
            f.create_dataset(
                name,
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(rows, *shape),
                compression=comp,
                **opts,
            )
        attrs = {k: v for k, v in self.attrs.items() if v is not None}
        attrs.update(
            format_version=FORMAT_VERSION,
            amiwm_version=__version__,
            modality=self.modality,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        for key, value in attrs.items():
            f.attrs[key] = _encode_attr(value)

    def _check(self, name: str, arr: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        arr, ep = np.asarray(arr), len(self._lengths)
        if arr.shape != shape:
            raise AmiError(f"episode {ep}: {name} has shape {arr.shape}, expected {shape}")
        ok = arr.dtype == dtype if dtype == np.uint8 else np.can_cast(arr.dtype, dtype, "same_kind")
        if not ok or arr.dtype == np.bool_:
            raise AmiError(f"episode {ep}: {name} has dtype {arr.dtype}, expected {dtype}")
        return np.ascontiguousarray(arr, dtype=dtype)

    def add_episode(self, observations: Any, actions: Any = None, states: Any = None) -> None:
        """Append one episode of L observations.

        ``actions`` is (L, A) or (L - 1, A); the last row is padding and is stored as zeros.
        ``states`` is (L, S). Either is required exactly when the store was created with it.
        """
        self._require_open()
        n = len(self._lengths)
        obs = np.asarray(observations)
        if obs.ndim == 0 or obs.shape[0] < 1:
            raise AmiError(f"episode {n}: observations must hold at least one step")
        length = obs.shape[0]
        obs = self._check("observations", obs, (length, *self.obs_shape), self.obs_dtype)
        data = {"observations": obs, **self._extras(n, length, actions, states)}
        for name, arr in data.items():
            self._put(name, self._rows, arr)
        self._starts.append(self._rows)
        self._lengths.append(length)
        self._rows += length

    def add_episode_chunks(
        self, chunks: Iterator[Any], actions: Any = None, states: Any = None
    ) -> int:
        """Append one episode whose observations arrive in chunks (bounded memory).

        The chunks' rows must add up to the length ``actions``/``states`` imply (as in
        ``add_episode``); a mismatch is an AmiError (the writer should then be aborted).
        Returns the episode's length.
        """
        self._require_open()
        n, start = len(self._lengths), self._rows
        rows = start
        for chunk in chunks:
            obs = np.asarray(chunk)
            if obs.ndim == 0 or obs.shape[0] == 0:
                continue
            obs = self._check("observations", obs, (obs.shape[0], *self.obs_shape), self.obs_dtype)
            self._put("observations", rows, obs)
            rows += obs.shape[0]
        length = rows - start
        if length < 1:
            raise AmiError(f"episode {n}: observations must hold at least one step")
        for name, arr in self._extras(n, length, actions, states).items():
            self._put(name, start, arr)
        self._starts.append(start)
        self._lengths.append(length)
        self._rows = rows
        return length

    def _require_open(self) -> None:
        if self._file is None:
            raise AmiError("EpisodeWriter is not open; use it as `with EpisodeWriter(...) as w:`")

    def _put(self, name: str, row: int, arr: np.ndarray) -> None:
        dset = self._file[name]
        dset.resize(row + len(arr), axis=0)
        dset[row:] = arr

    def _extras(self, n: int, length: int, actions: Any, states: Any) -> dict[str, np.ndarray]:
        """Episode n's actions (padded to `length` rows) and states, checked."""
        f32 = np.dtype(np.float32)
        data = {}
        if (actions is None) != (self.action_dim is None):
            want = "no actions" if self.action_dim is None else f"actions of dim {self.action_dim}"
            raise AmiError(f"episode {n}: this store was created with {want}")
        if actions is not None:
            actions = np.asarray(actions)
            rows = length - 1 if actions.ndim == 2 and actions.shape[0] == length - 1 else length
            act = np.zeros((length, self.action_dim), np.float32)
            checked = self._check("actions", actions, (rows, self.action_dim), f32)
            act[: length - 1] = checked[: length - 1]
            data["actions"] = act
        if (states is None) != (self.state_dim is None):
            want = "no states" if self.state_dim is None else f"states of dim {self.state_dim}"
            raise AmiError(f"episode {n}: this store was created with {want}")
        if states is not None:
            data["states"] = self._check("states", states, (length, self.state_dim), f32)
        return data

    @property
    def num_episodes(self) -> int:
        return len(self._lengths)

    def close(self) -> None:
        """Finish the file and atomically move it onto the target path."""
        if self._file is None:
            return
        try:
            if not self._lengths:
                raise AmiError(f"no episodes were added; refusing to write an empty {self.path}")
            self._file.create_dataset("episode_starts", data=np.asarray(self._starts, np.int64))
            self._file.create_dataset("episode_lengths", data=np.asarray(self._lengths, np.int64))
            self._file.close()
            self._file = None
            with open(self._partial, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self._partial, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard the partial file; leave any existing target untouched."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        self._partial.unlink(missing_ok=True)


class EpisodeStore:
    """Read-only, validated view of a store; the HDF5 handle opens lazily and per process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._file: h5py.File | None = None
        self._pid = -1
        try:
            self._validate()
        except BaseException:
            self.close()
            raise

    # -- handle management ----------------------------------------------------------------
    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = self._open(self._path)
            self._pid = os.getpid()
        return self._file

    @staticmethod
    def _open(path: Path) -> h5py.File:
        if not path.exists():
            raise AmiError(f"dataset not found: {path}")
        if path.is_dir():
            raise AmiError(f"{path} is a directory, not an HDF5 episode store")
        not_hdf5 = not_hdf5_message(path)
        if not_hdf5:
            raise AmiError(not_hdf5)
        try:
            return h5py.File(path, "r", rdcc_nbytes=4 << 20, rdcc_nslots=1031)
        except OSError as err:
            raise AmiError(f"{path} is not a readable HDF5 file (corrupt or truncated?)") from err

    def close(self) -> None:
        """Close the file handle (it reopens on next access)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, -1
        return state

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    @contextlib.contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as err:
            raise AmiError(
                f"{self._path}: failed reading {what} (corrupt or truncated file?): {err}"
            ) from err

    # -- validation ------------------------------------------------------------------------
    def _validate(self) -> None:
        p = self._path
        f = self._h5()
        with self._reading("file metadata"):
            for name in _REQUIRED:
                if not isinstance(f.get(name), h5py.Dataset):
                    raise AmiError(f"{p}: missing dataset /{name}; not an amiwm episode store")
            version = f.attrs.get("format_version")
            if version is None:
                raise AmiError(f"{p}: no format_version attribute; not an amiwm episode store")
            if int(version) != FORMAT_VERSION:
                raise AmiError(
                    f"{p}: unsupported format_version {version} (this amiwm reads "
                    f"{FORMAT_VERSION}); upgrade amiwm or re-collect the data"
                )
            self._attrs = {k: _decode_attr(v) for k, v in f.attrs.items()}
            obs = f["observations"]
            starts = np.asarray(f["episode_starts"][()], dtype=np.int64)
            lengths = np.asarray(f["episode_lengths"][()], dtype=np.int64)
            extra = {name: f[name] for name in ("actions", "states") if name in f}
        modality = self._attrs.get("modality")
        if modality not in MODALITIES:
            raise AmiError(f"{p}: modality attribute is {modality!r}; expected one of {MODALITIES}")
        want_ndim = 4 if modality == "frames" else 2
        if obs.ndim != want_ndim:
            raise AmiError(f"{p}: /observations is {obs.shape}; {modality} need {want_ndim}-D")
        n = obs.shape[0]
        if starts.ndim != 1 or starts.shape != lengths.shape or starts.size == 0:
            raise AmiError(
                f"{p}: /episode_starts {starts.shape} and /episode_lengths {lengths.shape} must be "
                "equal-length non-empty 1-D arrays; the file is damaged, re-collect it"
            )
        expected = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        bad = np.flatnonzero((lengths < 1) | (starts != expected))
        if bad.size:
            e = int(bad[0])
            raise AmiError(
                f"{p}: episode {e} has start {starts[e]} and length {lengths[e]}, inconsistent "
                "with the previous episodes; the file is damaged, re-collect it"
            )
        if int(lengths.sum()) != n:
            total = int(lengths.sum())
            raise AmiError(f"{p}: episode lengths sum to {total} but /observations has {n} rows")
        for name, dset in extra.items():
            if dset.ndim != 2 or dset.shape[0] != n:
                raise AmiError(f"{p}: /{name} has shape {dset.shape}; expected ({n}, dim)")
        self._starts, self._lengths = starts, lengths
        self._num_steps = n
        self._obs_shape = tuple(obs.shape[1:])
        self._obs_dtype = obs.dtype
        self._modality = modality
        self._dims = {name: int(dset.shape[1]) for name, dset in extra.items()}

    # -- properties ------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def num_episodes(self) -> int:
        return int(self._lengths.size)

    @property
    def num_steps(self) -> int:
        return self._num_steps

    @property
    def episode_starts(self) -> np.ndarray:
        return self._starts.copy()

    @property
    def episode_lengths(self) -> np.ndarray:
        return self._lengths.copy()

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return self._obs_shape

    @property
    def obs_dtype(self) -> np.dtype:
        return self._obs_dtype

    @property
    def modality(self) -> str:
        return self._modality

    @property
    def has_actions(self) -> bool:
        return "actions" in self._dims

    @property
    def has_states(self) -> bool:
        return "states" in self._dims

    @property
    def action_dim(self) -> int:
        return self._dims.get("actions", 0)

    @property
    def state_dim(self) -> int:
        return self._dims.get("states", 0)

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._attrs)

    def dataset(self, name: str) -> h5py.Dataset:
        """The raw h5py dataset (``observations``, ``actions`` or ``states``) in this process."""
        return self._h5()[name]

    @property
    def array_names(self) -> list[str]:
        return ["observations", *self._dims]

    # -- reading ---------------------------------------------------------------------------
    def read(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start:stop`` of every per-step array (observations, actions, states)."""
        if not 0 <= start <= stop <= self._num_steps:
            raise AmiError(f"rows {start}:{stop} out of range: {self._path} has {self._num_steps}")
        out = {}
        f = self._h5()
        for name in self.array_names:
            with self._reading(f"/{name} rows {start}:{stop}"):
                out[name] = f[name][start:stop]
        return out

    def episode(self, i: int) -> dict[str, np.ndarray]:
        """All per-step arrays of episode ``i`` (negative indices count from the end)."""
        e = self.num_episodes
        if not -e <= i < e:
            raise AmiError(f"episode {i} out of range: {self._path} has {e} episodes (0..{e - 1})")
        start = int(self._starts[i])
        return self.read(start, start + int(self._lengths[i]))

    def _locate(self, row: int) -> tuple[int, int]:
        ep = int(np.searchsorted(self._starts, row, side="right") - 1)
        return ep, row - int(self._starts[ep])

    def _blocks(self, name: str) -> Iterator[tuple[int, np.ndarray]]:
        dset = self._h5()[name]
        row_bytes = max(1, int(np.prod(dset.shape[1:])) * dset.dtype.itemsize)
        step = max(1, _SCAN_BYTES // row_bytes)
        for a in range(0, self._num_steps, step):
            with self._reading(f"/{name} rows {a}:{a + step}"):
                yield a, dset[a : a + step]

    def check_finite(self) -> None:
        """Raise AmiError naming the dataset and first row holding NaN/Inf (uint8 frames skip)."""
        names = [n for n in self.array_names if self._h5()[n].dtype.kind == "f"]
        for name in names:
            for a, block in self._blocks(name):
                bad = ~np.isfinite(block.reshape(len(block), -1)).all(axis=1)
                if bad.any():
                    row = a + int(np.argmax(bad))
                    ep, t = self._locate(row)
                    raise AmiError(
                        f"{self._path}: /{name} row {row} (episode {ep}, step {t}) contains NaN or "
                        "Inf; fix or re-collect the data"
                    )

    def _action_stats(self) -> dict[str, list[float]] | None:
        m = action_moments(self)
        if m is None:
            return None
        return {"min": m.min.tolist(), "max": m.max.tolist(), "mean": m.mean.tolist()}

    def summary(self) -> dict[str, Any]:
        """Facts about the store, for ``ami-cli data inspect`` (see ``format_summary``)."""
        obs = self._h5()["observations"]
        lengths = self._lengths
        return {
            "path": str(self._path),
            "episodes": self.num_episodes,
            "steps": self._num_steps,
            "length": {
                "min": int(lengths.min()),
                "mean": float(lengths.mean()),
                "max": int(lengths.max()),
            },
            "modality": self._modality,
            "obs_shape": list(self._obs_shape),
            "obs_dtype": str(self._obs_dtype),
            "action_dim": self.action_dim,
            "action_stats": self._action_stats(),
            "state_dim": self.state_dim,
            "attrs": self.attrs,
            "file_size_bytes": self._path.stat().st_size,
            "compression": obs.compression or "none",
            "chunk_shape": list(obs.chunks) if obs.chunks else None,
        }


def _fmt_vec(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in values) + "]"


def format_size(n: float) -> str:
    """Bytes as B / KiB / MiB / GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def format_summary(summary: Mapping[str, Any]) -> str:
    """Readable multi-line text for a ``EpisodeStore.summary()`` dict."""
    s = summary
    attrs = dict(s.get("attrs", {}))
    length = s["length"]
    chunks = tuple(s["chunk_shape"]) if s.get("chunk_shape") else "contiguous"
    rows = [
        ("path", s["path"]),
        (
            "format",
            f"v{attrs.pop('format_version', '?')} (amiwm {attrs.pop('amiwm_version', '?')}), "
            f"created {attrs.pop('created', '?')}",
        ),
        ("observations", f"{s['modality']} {tuple(s['obs_shape'])} {s['obs_dtype']}"),
        (
            "episodes",
            f"{s['episodes']} ({s['steps']} steps; length min/mean/max "
            f"{length['min']}/{length['mean']:.1f}/{length['max']})",
        ),
    ]
    attrs.pop("modality", None)
    if s["action_dim"]:
        text = f"dim {s['action_dim']}"
        if s.get("action_stats"):
            st = s["action_stats"]
            text += f"  min {_fmt_vec(st['min'])}  max {_fmt_vec(st['max'])}"
            text += f"  mean {_fmt_vec(st['mean'])}"
        rows.append(("actions", text))
    else:
        rows.append(("actions", "none"))
    rows.append(("states", f"dim {s['state_dim']}" if s["state_dim"] else "none"))
    rows.append(
        ("storage", f"{format_size(s['file_size_bytes'])}, {s['compression']}, chunks {chunks}")
    )
    for key in sorted(attrs):
        value = attrs[key]
        text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
        rows.append((key, text))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
