"""Folders of episodes: videos or image sequences with action logs, and foreign HDF5/NPZ files.

- videos: ``NAME.mp4|.mkv|.webm|.avi`` each with ``NAME.csv|.parquet|.npy|.jsonl`` (one action
  vector per frame) and optionally ``NAME.state.*``;
- images: sub-folders ``NAME/`` of ``.png|.jpg|.jpeg|.bmp|.webp`` frames (in natural name
  order) with the same logs beside the folder;
- hdf5 / npz: files written by other tools, arrays named by ``frames_key``, ``actions_key`` and
  ``state_key``. An HDF5 file is one episode, or with ``episodes_key`` (e.g. ``data`` for
  robomimic's ``data/demo_N``) each group under it is one, keys relative to the group.
  An NPZ file is one episode (NPZ cannot be read in parts: memory is one episode's arrays).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.data.formats.episodes import Camera, Corpus, Episode, as_matrix
from amiwm.data.formats.logs import find_log, read_log
from amiwm.data.formats.video import CHUNK_BYTES, VIDEO_SUFFIXES, VideoReader, probe
from amiwm.errors import AmiError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
HDF5_SUFFIXES = (".h5", ".hdf5")
FRAME_KEYS = ("observations", "images", "frames", "pixels", "obs/image", "image")
ACTION_KEYS = ("actions", "action")
STATE_KEYS = ("states", "state", "observation.state", "qpos", "proprio")
_CHUNK = 256


@dataclass
class ArrayKeys:
    """Where frames, actions and state live in foreign HDF5/NPZ files (None: try defaults)."""

    frames: str | None = None
    actions: str | None = None
    state: str | None = None
    episodes: str | None = None


def natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _sorted(paths: list[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: natural_key(p.name))


def videos_in(root: Path) -> list[Path]:
    return _sorted(
        [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    )


def image_dirs_in(root: Path) -> list[Path]:
    return _sorted([p for p in root.iterdir() if p.is_dir() and _images(p)])


def _images(folder: Path) -> list[Path]:
    return _sorted([p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES])


def _logs(root: Path, stem: str) -> tuple[Path | None, Path | None]:
    return find_log(root, stem), find_log(root, f"{stem}.state")


def _load_logs(root: Path, stem: str, media: Path) -> tuple[np.ndarray, np.ndarray | None]:
    act, st = _logs(root, stem)
    if act is None:
        raise AmiError(f"{media}: no action log {stem}.csv|.parquet|.npy|.jsonl beside it")
    return read_log(act, "action"), (read_log(st, "state") if st else None)


def _first_dims(root: Path, stems: list[str]) -> tuple[int | None, int | None]:
    if not stems:
        return None, None
    act, st = _logs(root, stems[0])
    a = read_log(act, "action").shape[1] if act else None
    s = read_log(st, "state").shape[1] if st else None
    return a, s


def open_videos(root: Path) -> Corpus:
    """A folder of videos with action logs of the same stem."""
    videos = videos_in(root)
    stems = [_stem(v) for v in videos]
    problems = [
        f"{v.name}: no action log {s}.csv|.parquet|.npy|.jsonl"
        for v, s in zip(videos, stems, strict=True)
        if _logs(root, s)[0] is None
    ]
    infos, total = [], 0
    for v in videos:
        try:
            info = probe(v)
        except AmiError as err:
            problems.append(str(err))
            continue
        if infos and (info.width, info.height, info.codec) != (
            infos[0].width,
            infos[0].height,
            infos[0].codec,
        ):
            f0 = infos[0]
            problems.append(
                f"{v.name} is {info.width}x{info.height} {info.codec} but {Path(f0.path).name} is "
                f"{f0.width}x{f0.height} {f0.codec}; one camera needs one resolution and codec"
            )
        infos.append(info)
        total += info.frames
    first = infos[0] if infos else None
    cam = Camera("video", first and first.height, first and first.width, 3, first and first.codec)
    a, s = _first_dims(root, [s for s in stems if _logs(root, s)[0] is not None][:1])

    def read() -> Iterator[Episode]:
        for v, stem in zip(videos, stems, strict=True):
            actions, state = _load_logs(root, stem, v)
            yield Episode(v.name, _video_gen(v), actions, state)

    return Corpus(
        "videos",
        "",
        root,
        [cam],
        cam.key,
        len(videos),
        total if infos else None,
        first.fps if first else None,
        a,
        s,
        read,
        lambda: videos + [p for st in stems for p in _logs(root, st) if p],
        problems,
    )


def _stem(path: Path) -> str:
    return path.name[: -len(path.suffix)]


def _video_gen(path: Path):
    def gen() -> Iterator[np.ndarray]:
        with VideoReader(path) as reader:
            yield from reader.frames()

    return gen


def open_images(root: Path) -> Corpus:
    """Sub-folders of image frames with action logs of the folder's name beside them."""
    from PIL import Image

    dirs = image_dirs_in(root)
    problems = [
        f"{d.name}/: no action log {d.name}.csv|.parquet|.npy|.jsonl"
        for d in dirs
        if _logs(root, d.name)[0] is None
    ]
    counts = {d: len(_images(d)) for d in dirs}
    first = _images(dirs[0])[0] if dirs else None
    h = w = c = None
    if first is not None:
        with Image.open(first) as im:
            w, h = im.size
            c = len(im.getbands())
    cam = Camera("images", h, w, c, first.suffix.lstrip(".").lower() if first else None)
    a, s = _first_dims(root, [d.name for d in dirs if _logs(root, d.name)[0] is not None][:1])

    def read() -> Iterator[Episode]:
        for d in dirs:
            actions, state = _load_logs(root, d.name, d)
            yield Episode(f"{d.name}/", _image_gen(_images(d)), actions, state, counts[d])

    def files() -> list[Path]:
        return [p for d in dirs for p in _images(d)] + [
            p for d in dirs for p in _logs(root, d.name) if p
        ]

    return Corpus(
        "images",
        "",
        root,
        [cam],
        cam.key,
        len(dirs),
        sum(counts.values()),
        None,
        a,
        s,
        read,
        files,
        problems,
    )


def _image_gen(paths: list[Path]):
    def gen() -> Iterator[np.ndarray]:
        from PIL import Image

        out: list[np.ndarray] = []
        shape = None
        for p in paths:
            try:
                with Image.open(p) as im:
                    arr = np.asarray(im.convert("RGBA") if im.mode == "P" else im)
            except Exception as err:
                raise AmiError(f"{p}: not a readable image ({err})") from err
            if arr.dtype != np.uint8:
                raise AmiError(f"{p}: {arr.dtype} pixels; only 8-bit images are supported")
            if shape is not None and arr.shape != shape:
                raise AmiError(
                    f"{p}: size {arr.shape} differs from {shape} of the earlier frames; "
                    "one camera needs one resolution"
                )
            shape = arr.shape
            out.append(arr)
            if len(out) == _CHUNK or len(out) * arr.nbytes >= CHUNK_BYTES:
                yield np.stack(out)
                out = []
        if out:
            yield np.stack(out)

    return gen


# ------------------------------------------------------------------ HDF5 / NPZ
def array_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if root.is_file():
        return [root]
    return _sorted([p for p in root.iterdir() if p.is_file() and p.suffix.lower() in suffixes])


def _pick(
    names: list[str],
    wanted: str | None,
    defaults: tuple[str, ...],
    what: str,
    where: str,
    flag: str,
    required: bool = True,
) -> str | None:
    if wanted is not None:
        if wanted not in names:
            raise AmiError(
                f"{where}: no array {wanted!r} for {what}; arrays: {', '.join(names[:12])}"
            )
        return wanted
    for d in defaults:
        if d in names:
            return d
    if required:
        raise AmiError(
            f"{where}: cannot tell which array holds {what}; name it with {flag} "
            f"(arrays: {', '.join(names[:12])})"
        )
    return None


def _h5_names(group: Any) -> list[str]:
    import h5py

    names: list[str] = []
    group.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


def open_hdf5(root: Path, keys: ArrayKeys) -> Corpus:
    import h5py

    files = array_files(root, HDF5_SUFFIXES)
    if not files:
        raise AmiError(f"{root}: no .h5/.hdf5 files")
    units: list[tuple[Path, str]] = []  # (file, group path) per episode
    for f in files:
        try:
            with h5py.File(f, "r") as h:
                if keys.episodes:
                    if keys.episodes not in h or not isinstance(h[keys.episodes], h5py.Group):
                        raise AmiError(f"{f}: no group {keys.episodes!r} (--episodes-key)")
                    g = h[keys.episodes]
                    units += [
                        (f, f"{keys.episodes}/{n}")
                        for n in sorted(g, key=natural_key)
                        if isinstance(g[n], h5py.Group)
                    ]
                else:
                    units.append((f, "/"))
        except OSError as err:
            raise AmiError(f"{f}: not a readable HDF5 file ({err})") from err
    if not units:
        raise AmiError(f"{root}: no episodes found under {keys.episodes!r}")
    f0, g0 = units[0]
    with h5py.File(f0, "r") as h:
        names = _h5_names(h[g0])
        where = f"{f0}:{g0}"
        fk = _pick(names, keys.frames, FRAME_KEYS, "frames", where, "--frames-key")
        ak = _pick(names, keys.actions, ACTION_KEYS, "actions", where, "--actions-key")
        sk = _pick(names, keys.state, STATE_KEYS, "state", where, "--state-key", required=False)
        fr = h[g0][fk]
        a_dim = int(np.prod(h[g0][ak].shape[1:]) or 1)
        s_dim = int(np.prod(h[g0][sk].shape[1:]) or 1) if sk else None
        cam = _array_camera(fk, fr.shape, where)
    total = 0
    for f, g in units:
        with h5py.File(f, "r") as h:
            if fk not in h[g]:
                raise AmiError(f"{f}:{g}: no array {fk!r}")
            total += int(h[g][fk].shape[0])

    def read() -> Iterator[Episode]:
        for f, g in units:
            with h5py.File(f, "r") as h:
                grp = h[g]
                for k in (ak, sk):
                    if k and k not in grp:
                        raise AmiError(f"{f}:{g}: no array {k!r}")
                actions = as_matrix(np.asarray(grp[ak]).reshape(len(grp[ak]), -1), f"{f}:{g}/{ak}")
                state = (
                    as_matrix(np.asarray(grp[sk]).reshape(len(grp[sk]), -1), f"{f}:{g}/{sk}")
                    if sk
                    else None
                )
                n = int(grp[fk].shape[0])
            yield Episode(f"{f.name}:{g}", _h5_frames(f, f"{g}/{fk}", n), actions, state, n)

    return Corpus(
        "hdf5",
        "",
        root,
        [cam],
        cam.key,
        len(units),
        total,
        None,
        a_dim,
        s_dim,
        read,
        lambda: list(files),
    )


def _array_camera(key: str, shape: tuple[int, ...], where: str) -> Camera:
    if len(shape) == 3:
        return Camera(key, int(shape[1]), int(shape[2]), 1, "raw")
    if len(shape) == 4 and shape[-1] in (1, 3, 4):
        return Camera(key, int(shape[1]), int(shape[2]), int(shape[3]), "raw")
    if len(shape) == 4 and shape[1] in (1, 3, 4):
        return Camera(key, int(shape[2]), int(shape[3]), int(shape[1]), "raw (channels first)")
    raise AmiError(f"{where}: array {key!r} has shape {shape}; frames need (T, H, W[, C])")


def _to_hwc(chunk: np.ndarray, where: str) -> np.ndarray:
    if chunk.dtype != np.uint8:
        if chunk.dtype.kind == "f" and np.isfinite(chunk).all() and chunk.max(initial=0) <= 1.0:
            chunk = (chunk * 255.0).round()  # float images in [0, 1]
        elif chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
            raise AmiError(f"{where}: frames contain NaN or Inf")
        chunk = np.clip(chunk, 0, 255).astype(np.uint8)
    if chunk.ndim == 4 and chunk.shape[1] in (1, 3, 4) and chunk.shape[-1] not in (1, 3, 4):
        chunk = np.ascontiguousarray(chunk.transpose(0, 2, 3, 1))
    if chunk.ndim == 3:
        chunk = chunk[..., None]
    return chunk


def _h5_frames(path: Path, key: str, n: int):
    def gen() -> Iterator[np.ndarray]:
        import h5py

        with h5py.File(path, "r") as h:
            d = h[key]
            rows = max(1, min(_CHUNK, CHUNK_BYTES // max(1, d.dtype.itemsize * d[0].size)))
            for a in range(0, n, rows):
                yield _to_hwc(d[a : a + rows], f"{path}:{key}")

    return gen


def open_npz(root: Path, keys: ArrayKeys) -> Corpus:
    files = array_files(root, (".npz",))
    if not files:
        raise AmiError(f"{root}: no .npz files")

    def names_of(f: Path) -> list[str]:
        try:
            with np.load(f, allow_pickle=False) as z:
                return list(z.files)
        except (OSError, ValueError) as err:
            raise AmiError(f"{f}: not a readable .npz file ({err})") from err

    names = names_of(files[0])
    where = str(files[0])
    fk = _pick(names, keys.frames, FRAME_KEYS, "frames", where, "--frames-key")
    ak = _pick(names, keys.actions, ACTION_KEYS, "actions", where, "--actions-key")
    sk = _pick(names, keys.state, STATE_KEYS, "state", where, "--state-key", required=False)
    with np.load(files[0], allow_pickle=False) as z:
        cam = _array_camera(fk, z[fk].shape, where)
        a_dim = int(np.prod(z[ak].shape[1:]) or 1)
        s_dim = int(np.prod(z[sk].shape[1:]) or 1) if sk else None

    def read() -> Iterator[Episode]:
        for f in files:
            try:
                z = np.load(f, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise AmiError(f"{f}: not a readable .npz file ({err})") from err
            with z:
                for k in (fk, ak, sk):
                    if k and k not in z.files:
                        raise AmiError(f"{f}: no array {k!r}")
                frames = _to_hwc(z[fk], str(f))
                actions = as_matrix(z[ak].reshape(len(z[ak]), -1), f"{f}:{ak}")
                state = as_matrix(z[sk].reshape(len(z[sk]), -1), f"{f}:{sk}") if sk else None
            yield Episode(f.name, lambda fr=frames: iter([fr]), actions, state, len(frames))

    return Corpus(
        "npz",
        "",
        root,
        [cam],
        cam.key,
        len(files),
        None,
        None,
        a_dim,
        s_dim,
        read,
        lambda: list(files),
    )
