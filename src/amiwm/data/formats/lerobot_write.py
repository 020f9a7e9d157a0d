"""Write LeRobot datasets (v2.1: a parquet and an mp4 per episode and camera; v3.0: episodes
packed into shared files) and plain videos, with PyAV. Used to record simulator episodes, by
benchmarks, and by tests that build corpora on the fly."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.data.formats.video import _av
from amiwm.errors import AmiError

CODECS = {"h264": "libx264", "av1": "libsvtav1", "mpeg4": "mpeg4"}


class VideoEncoder:
    """Append RGB uint8 (H, W, 3) frames to a video file; ``close`` flushes it."""

    def __init__(self, path: Path, fps: int, height: int, width: int, codec: str = "h264") -> None:
        av = _av()
        if codec in ("av1", "libsvtav1"):
            os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner otherwise
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), mode="w")
        name = CODECS.get(codec, codec)
        try:
            self.stream = self.container.add_stream(name, rate=int(fps))
        except Exception as err:
            self.container.close()
            raise AmiError(f"this PyAV build cannot encode {codec!r} ({err})") from err
        self.stream.width, self.stream.height = int(width), int(height)
        self.stream.pix_fmt = "yuv420p"
        if name == "libx264":
            self.stream.options = {"crf": "18", "preset": "veryfast", "g": "30"}
        elif name == "libsvtav1":
            self.stream.options = {"preset": "12", "crf": "30", "g": "30"}
        self.frames = 0

    def add(self, frames: Iterable[np.ndarray]) -> None:
        av = _av()
        for arr in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr, np.uint8), format="rgb24")
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            self.frames += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def write_video(path: Path, frames: np.ndarray, fps: int = 10, codec: str = "h264") -> Path:
    """Encode (T, H, W, 3) uint8 frames into one video file."""
    enc = VideoEncoder(Path(path), fps, frames.shape[1], frames.shape[2], codec)
    enc.add(frames)
    enc.close()
    return Path(path)


class LeRobotRecorder:
    """Record episodes as a LeRobot dataset (``version`` "v2.1" or "v3.0") under ``root``.

    ``cameras`` maps feature keys (e.g. ``observation.images.top``) to (height, width).
    """

    def __init__(
        self,
        root: Path,
        fps: int,
        cameras: dict[str, tuple[int, int]],
        action_dim: int,
        state_dim: int | None = None,
        version: str = "v2.1",
        codec: str = "h264",
        task: str = "",
        robot_type: str = "",
        episodes_per_file: int = 0,
    ) -> None:
        if version not in ("v2.1", "v3.0"):
            raise AmiError(f"unknown LeRobot version {version!r}; write v2.1 or v3.0")
        import pyarrow  # noqa: F401  (fail early when missing)

        self.root, self.fps, self.cameras = Path(root), int(fps), dict(cameras)
        self.action_dim, self.state_dim, self.version, self.codec = (
            action_dim,
            state_dim,
            version,
            codec,
        )
        self.task, self.robot_type = task, robot_type
        self.episodes: list[dict[str, Any]] = []
        self.total = 0
        self.per_file = int(episodes_per_file)  # v3.0: 0 = every episode in one file
        self._rows: dict[int, list[dict[str, Any]]] = {}  # v3.0: data rows per file, for close
        self._encoders: dict[str, tuple[int, VideoEncoder]] = {}

    def add_episode(
        self, frames: dict[str, np.ndarray], actions: np.ndarray, state: np.ndarray | None = None
    ) -> None:
        """One episode: frames per camera (T, H, W, 3) uint8, actions (T, A), state (T, S)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        ep, t = len(self.episodes), len(actions)
        rows = {
            "action": pa.array(np.asarray(actions, np.float32).tolist(), pa.list_(pa.float32())),
            "timestamp": pa.array(np.arange(t, dtype=np.float32) / self.fps),
            "frame_index": pa.array(np.arange(t, dtype=np.int64)),
            "episode_index": pa.array(np.full(t, ep, np.int64)),
            "index": pa.array(self.total + np.arange(t, dtype=np.int64)),
            "task_index": pa.array(np.zeros(t, np.int64)),
        }
        if state is not None:
            rows["observation.state"] = pa.array(
                np.asarray(state, np.float32).tolist(), pa.list_(pa.float32())
            )
        meta: dict[str, Any] = {"episode_index": ep, "tasks": [self.task], "length": t}
        if self.version == "v2.1":
            path = self.root / f"data/chunk-{ep // 1000:03d}/episode_{ep:06d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(rows), path)
            for key, arr in frames.items():
                video = self.root / f"videos/chunk-{ep // 1000:03d}/{key}/episode_{ep:06d}.mp4"
                write_video(video, arr, self.fps, self.codec)
        else:
            file = ep // self.per_file if self.per_file else 0
            self._rows.setdefault(file, []).append(rows)
            meta.update(
                {
                    "data/chunk_index": 0,
                    "data/file_index": file,
                    "dataset_from_index": self.total,
                    "dataset_to_index": self.total + t,
                }
            )
            for key, arr in frames.items():
                old, enc = self._encoders.get(key, (None, None))
                if old != file:
                    if enc is not None:
                        enc.close()
                    h, w = self.cameras[key]
                    path = self.root / f"videos/{key}/chunk-000/file-{file:03d}.mp4"
                    enc = VideoEncoder(path, self.fps, h, w, self.codec)
                    self._encoders[key] = (file, enc)
                start = enc.frames / self.fps
                enc.add(arr)
                meta.update(
                    {
                        f"videos/{key}/chunk_index": 0,
                        f"videos/{key}/file_index": file,
                        f"videos/{key}/from_timestamp": start,
                        f"videos/{key}/to_timestamp": start + t / self.fps,
                    }
                )
        self.episodes.append(meta)
        self.total += t

    def close(self) -> Path:
        """Write the metadata (and for v3.0 the shared files); returns the dataset root."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        meta = self.root / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        if self.version == "v2.1":
            with (meta / "episodes.jsonl").open("w") as fh:
                for e in self.episodes:
                    fh.write(json.dumps(e) + "\n")
            (meta / "tasks.jsonl").write_text(
                json.dumps({"task_index": 0, "task": self.task}) + "\n"
            )
            data = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
            video = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
        else:
            for _, enc in self._encoders.values():
                enc.close()
            for file, tables in self._rows.items():
                path = self.root / f"data/chunk-000/file-{file:03d}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.concat_tables([pa.table(r) for r in tables]), path)
            ep_path = meta / "episodes/chunk-000/file-000.parquet"
            ep_path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(self.episodes), ep_path)
            pq.write_table(
                pa.table({"task_index": [0], "task": [self.task]}), meta / "tasks.parquet"
            )
            data = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
            video = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
        features: dict[str, Any] = {
            "action": {"dtype": "float32", "shape": [self.action_dim], "names": None},
        }
        if self.state_dim:
            features["observation.state"] = {
                "dtype": "float32",
                "shape": [self.state_dim],
                "names": None,
            }
        for key, (h, w) in self.cameras.items():
            features[key] = {
                "dtype": "video",
                "shape": [h, w, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.height": h,
                    "video.width": w,
                    "video.codec": self.codec,
                    "video.pix_fmt": "yuv420p",
                    "video.fps": self.fps,
                    "video.channels": 3,
                },
            }
        for name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
            features[name] = {
                "dtype": "float32" if name == "timestamp" else "int64",
                "shape": [1],
                "names": None,
            }
        info = {
            "codebase_version": self.version,
            "robot_type": self.robot_type,
            "total_episodes": len(self.episodes),
            "total_frames": self.total,
            "total_tasks": 1,
            "chunks_size": 1000,
            "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": data,
            "video_path": video,
            "features": features,
        }
        (meta / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        return self.root
