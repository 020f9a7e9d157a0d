"""LeRobot datasets: v2.0/v2.1 (a parquet and an mp4 per episode and camera, meta/episodes.jsonl)
and v3.0 (many episodes per parquet/mp4 file, meta/episodes/chunk-*/file-*.parquet holding
dataset_from_index/dataset_to_index and per-camera from_timestamp/to_timestamp).

Actions are the ``action`` feature, state is ``observation.state``; cameras are the features of
dtype ``video`` (decoded with PyAV) or ``image`` (PNG/JPEG bytes inside the parquet).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.data.formats.episodes import Camera, Corpus, Episode, as_matrix, pick_camera
from amiwm.data.formats.video import CHUNK_BYTES, VideoReader
from amiwm.errors import AmiError

VERSIONS = ("v2.0", "v2.1", "v3.0")
ACTION, STATE = "action", "observation.state"
_V2_DATA = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
_V2_VIDEO = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
_V3_DATA = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
_V3_VIDEO = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"


def is_lerobot(root: Path) -> bool:
    return (root / "meta" / "info.json").is_file()


def _pq() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise AmiError("LeRobot datasets need pyarrow: pip install 'amiwm[robot]'") from err
    return pq


def _read_table(path: Path, columns: list[str] | None = None) -> Any:
    pq = _pq()
    if not path.is_file():
        raise AmiError(f"{path}: missing file named by the dataset metadata")
    try:
        return pq.read_table(path, columns=columns)
    except Exception as err:  # pyarrow raises several types for damaged files
        raise AmiError(f"{path}: unreadable parquet ({str(err).splitlines()[0]})") from err


def _column(table: Any, name: str, path: Path) -> np.ndarray:
    """A list/fixed-size-list or scalar numeric column as a (T, dim) float32 array."""
    import pyarrow as pa

    col = table.column(name).combine_chunks()
    if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type):
        if col.null_count:
            raise AmiError(f"{path}: column {name} has missing rows")
        lens = np.diff(np.asarray(col.offsets)) if pa.types.is_list(col.type) else None
        if lens is not None and len(lens) and (lens != lens[0]).any():
            raise AmiError(f"{path}: column {name} holds vectors of different lengths")
        flat = col.flatten().to_numpy(zero_copy_only=False)
        return as_matrix(flat.reshape(len(col), -1), f"{path}: {name}")
    return as_matrix(col.to_numpy(zero_copy_only=False), f"{path}: {name}")


def _info(root: Path) -> dict[str, Any]:
    path = root / "meta" / "info.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise AmiError(f"{path}: not valid JSON ({err})") from err
    version = str(info.get("codebase_version", ""))
    if version not in VERSIONS:
        raise AmiError(
            f"{path}: LeRobot codebase_version {version or 'missing'!r} is not one this amiwm "
            f"reads ({', '.join(VERSIONS)}); convert it with LeRobot's tools"
        )
    return info


def _cameras(info: dict[str, Any]) -> list[Camera]:
    cams = []
    for key, feat in (info.get("features") or {}).items():
        if feat.get("dtype") not in ("video", "image"):
            continue
        shape = list(feat.get("shape") or [])
        names = list(feat.get("names") or [])
        vinfo = feat.get("info") or feat.get("video_info") or {}
        h = vinfo.get("video.height")
        w = vinfo.get("video.width")
        c = vinfo.get("video.channels")
        if len(shape) == 3 and h is None:  # shape is (H, W, C) or (C, H, W), named
            order = names if len(names) == 3 else ["height", "width", "channels"]
            dims = dict(zip(order, shape, strict=True))
            h, w, c = dims.get("height"), dims.get("width"), dims.get("channels")
        codec = vinfo.get("video.codec") if feat["dtype"] == "video" else "image"
        cams.append(Camera(key, h, w, c, codec))
    return cams


def _dim(info: dict[str, Any], key: str) -> int | None:
    feat = (info.get("features") or {}).get(key)
    if not feat:
        return None
    return int(np.prod(feat.get("shape") or [1]))


def open_lerobot(root: Path, camera: str | None = None) -> Corpus:
    """Describe a LeRobot dataset at ``root`` and prepare to read it (no frames decoded)."""
    info = _info(root)
    version = str(info["codebase_version"])
    cams = _cameras(info)
    key, notes = pick_camera(cams, camera, str(root))
    if _dim(info, ACTION) is None:
        raise AmiError(f"{root}: meta/info.json has no 'action' feature; no actions to learn from")
    reader = _V3 if version == "v3.0" else _V2
    r = reader(root, info, key, next(c for c in cams if c.key == key))
    return Corpus(
        layout="lerobot",
        version=version,
        root=root,
        cameras=cams,
        camera=key,
        num_episodes=len(r.episodes),
        num_frames=int(sum(e["length"] for e in r.episodes)),
        fps=float(info["fps"]) if info.get("fps") else None,
        action_dim=_dim(info, ACTION),
        state_dim=_dim(info, STATE),
        read=r.read,
        files=r.files,
        problems=r.problems(),
        notes=notes,
    )


class _V2:
    """v2.0/v2.1: one parquet per episode; one mp4 per episode and camera."""

    def __init__(self, root: Path, info: dict[str, Any], key: str, cam: Camera) -> None:
        self.root, self.info, self.key, self.cam = root, info, key, cam
        self.chunks = int(info.get("chunks_size") or 1000)
        path = root / "meta" / "episodes.jsonl"
        if not path.is_file():
            raise AmiError(f"{path}: missing; a LeRobot {info['codebase_version']} dataset has it")
        self.episodes = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                self.episodes.append(
                    {"index": int(row["episode_index"]), "length": int(row["length"])}
                )
            except (ValueError, KeyError, TypeError) as err:
                raise AmiError(f"{path}: line {n} is not an episode record ({err})") from err
        if not self.episodes:
            raise AmiError(f"{path}: no episodes")

    def _path(self, template_key: str, default: str, ep: int, video: bool) -> Path:
        template = self.info.get(template_key) or default
        fields = {"episode_chunk": ep // self.chunks, "episode_index": ep, "video_key": self.key}
        return self.root / template.format(**fields)

    def data_path(self, ep: int) -> Path:
        return self._path("data_path", _V2_DATA, ep, False)

    def video_path(self, ep: int) -> Path:
        return self._path("video_path", _V2_VIDEO, ep, True)

    def files(self) -> list[Path]:
        out = [self.data_path(e["index"]) for e in self.episodes]
        if self.cam.codec != "image":
            out += [self.video_path(e["index"]) for e in self.episodes]
        return out

    def problems(self) -> list[str]:
        missing = [p for p in self.files() if not p.is_file()]
        if not missing:
            return []
        return [f"{len(missing)} files named by the metadata are missing, e.g. {missing[0]}"]

    def read(self) -> Iterator[Episode]:
        for e in self.episodes:
            ep = e["index"]
            data = self.data_path(ep)
            cols = _present(
                data, [ACTION, STATE] + ([self.key] if self.cam.codec == "image" else [])
            )
            table = _read_table(data, cols)
            if ACTION not in cols:
                raise AmiError(f"{data}: no 'action' column")
            actions = _column(table, ACTION, data)
            state = _column(table, STATE, data) if STATE in cols else None
            if self.cam.codec == "image":
                frames = _image_frames(table, self.key, data)
                where = data
            else:
                where = self.video_path(ep)
                frames = _video_frames(where)
            yield Episode(
                f"episode {ep} ({where.relative_to(self.root)})",
                frames,
                actions,
                state,
                e["length"],
            )


class _V3:
    """v3.0: episodes packed into shared files, located by meta/episodes/*.parquet."""

    def __init__(self, root: Path, info: dict[str, Any], key: str, cam: Camera) -> None:
        self.root, self.info, self.key, self.cam = root, info, key, cam
        metas = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not metas:
            raise AmiError(f"{root}/meta/episodes: no chunk-*/file-*.parquet; not a v3.0 dataset")
        self.meta_files = metas
        v = f"videos/{key}/"
        want = ["episode_index", "length", "data/chunk_index", "data/file_index"]
        want += ["dataset_from_index", "dataset_to_index"]
        if cam.codec != "image":
            want += [v + "chunk_index", v + "file_index", v + "from_timestamp", v + "to_timestamp"]
        rows: list[dict[str, Any]] = []
        for m in metas:
            cols = _present(m, want)
            lost = [c for c in want if c not in cols]
            if lost:
                raise AmiError(f"{m}: missing columns {', '.join(lost)}")
            rows += _read_table(m, want).to_pylist()
        rows.sort(key=lambda r: r["episode_index"])
        self.episodes = [
            {
                "index": int(r["episode_index"]),
                "length": int(r["length"]),
                "data": (int(r["data/chunk_index"]), int(r["data/file_index"])),
                "rows": (int(r["dataset_from_index"]), int(r["dataset_to_index"])),
                "video": None
                if cam.codec == "image"
                else (
                    int(r[v + "chunk_index"]),
                    int(r[v + "file_index"]),
                    float(r[v + "from_timestamp"]),
                    float(r[v + "to_timestamp"]),
                ),
            }
            for r in rows
        ]

    def data_path(self, chunk: int, file: int) -> Path:
        template = self.info.get("data_path") or _V3_DATA
        return self.root / template.format(chunk_index=chunk, file_index=file)

    def video_path(self, chunk: int, file: int) -> Path:
        template = self.info.get("video_path") or _V3_VIDEO
        return self.root / template.format(video_key=self.key, chunk_index=chunk, file_index=file)

    def files(self) -> list[Path]:
        out = {self.data_path(*e["data"]) for e in self.episodes}
        out |= {self.video_path(*e["video"][:2]) for e in self.episodes if e["video"]}
        return sorted(out) + list(self.meta_files)

    def problems(self) -> list[str]:
        missing = [p for p in self.files() if not p.is_file()]
        if not missing:
            return []
        return [f"{len(missing)} files named by the metadata are missing, e.g. {missing[0]}"]

    def read(self) -> Iterator[Episode]:
        table_path, table, index = None, None, None
        video_path, reader = None, None
        try:
            for e in self.episodes:
                ep = e["index"]
                data = self.data_path(*e["data"])
                if data != table_path:
                    cols = [ACTION, STATE, "index", self.key]
                    table = _read_table(data, _present(data, cols))
                    table_path = data
                    if "index" not in table.column_names:
                        raise AmiError(f"{data}: no 'index' column")
                    index = table.column("index").to_numpy()
                a, b = e["rows"]
                sel = np.flatnonzero((index >= a) & (index < b))
                part = table.take(sel)
                if ACTION not in part.column_names:
                    raise AmiError(f"{data}: no 'action' column")
                actions = _column(part, ACTION, data)
                state = _column(part, STATE, data) if STATE in part.column_names else None
                if e["video"] is None:
                    yield Episode(
                        f"episode {ep} ({data.relative_to(self.root)})",
                        _image_frames(part, self.key, data),
                        actions,
                        state,
                        e["length"],
                    )
                    continue
                chunk, file, t0, t1 = e["video"]
                path = self.video_path(chunk, file)
                if path != video_path:
                    if reader is not None:
                        reader.close()
                    reader, video_path = VideoReader(path), path
                frames = _range_frames(reader, t0, t1)
                name = f"episode {ep} ({path.relative_to(self.root)} {t0:.3f}-{t1:.3f}s)"
                yield Episode(name, frames, actions, state, e["length"])
        finally:
            if reader is not None:
                reader.close()


def _present(path: Path, wanted: list[str]) -> list[str]:
    pq = _pq()
    if not path.is_file():
        raise AmiError(f"{path}: missing file named by the dataset metadata")
    try:
        names = set(pq.read_schema(path).names)
    except Exception as err:
        raise AmiError(f"{path}: unreadable parquet ({str(err).splitlines()[0]})") from err
    return [c for c in wanted if c in names]


def _video_frames(path: Path):
    def gen() -> Iterator[np.ndarray]:
        with VideoReader(path) as reader:
            yield from reader.frames()

    return gen


def _range_frames(reader: VideoReader, t0: float, t1: float):
    def gen() -> Iterator[np.ndarray]:
        yield from reader.frames(t0, t1)

    return gen


def _image_frames(table: Any, key: str, path: Path):
    """Frames stored as encoded images (struct {bytes, path}) in a parquet column."""

    def gen() -> Iterator[np.ndarray]:
        from PIL import Image

        if key not in table.column_names:
            raise AmiError(f"{path}: no column {key!r} holding the camera's images")
        out = []
        for n, cell in enumerate(table.column(key).to_pylist()):
            raw = cell.get("bytes") if isinstance(cell, dict) else cell
            if not raw:
                raise AmiError(f"{path}: row {n} of {key} holds no image bytes")
            try:
                out.append(np.asarray(Image.open(io.BytesIO(raw))))
            except Exception as err:
                raise AmiError(f"{path}: row {n} of {key} is not a readable image ({err})") from err
            if len(out) == 256 or len(out) * out[-1].nbytes >= CHUNK_BYTES:
                yield _stack(out, path)
                out = []
        if out:
            yield _stack(out, path)

    return gen


def _stack(frames: list[np.ndarray], where: Path) -> np.ndarray:
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise AmiError(f"{where}: images of different sizes {sorted(shapes)[:2]} in one camera")
    return np.stack(frames)
