"""Video decoding with PyAV (its wheels bundle FFmpeg with h264, AV1 (dav1d) and more).

``probe`` reads a file's codec, size, frame rate and frame count without decoding pictures;
``VideoReader`` decodes RGB frames of a time range in chunks, decoding forward from where it
is when the next range follows the last (LeRobot v3.0 packs many episodes in one file).
Every failure is a one-line AmiError naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.errors import AmiError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")
CHUNK_BYTES = 16 << 20  # frames decoded per chunk: bounded memory whatever the camera size


def _av() -> Any:
    try:
        import av
    except ImportError as err:
        raise AmiError("reading videos needs PyAV: pip install 'amiwm[robot]' (or av)") from err
    av.logging.set_level(None)  # FFmpeg's own messages stay quiet; errors are raised instead
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds."""

    path: str
    codec: str
    width: int
    height: int
    fps: float
    frames: int
    pix_fmt: str

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.height, self.width


def _open(path: Path) -> Any:
    av = _av()
    if not path.is_file():
        raise AmiError(f"{path}: video not found")
    if path.stat().st_size == 0:
        raise AmiError(f"{path}: empty video file; re-record or remove it")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        why = getattr(err, "strerror", None) or err
        raise AmiError(f"{path}: cannot open the video (truncated or not a video?): {why}") from err
    if not container.streams.video:
        container.close()
        raise AmiError(f"{path}: holds no video stream (truncated or not a video?)")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None or getattr(ctx, "name", None) in (None, "", "none"):
        container.close()
        raise AmiError(f"{path}: unknown video codec; this PyAV/FFmpeg build cannot decode it")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Codec, size, fps and frame count (counted from packets when the header has none)."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        frames = int(stream.frames or 0)
        if frames <= 0:
            av = _av()
            try:
                frames = sum(1 for p in container.demux(stream) if p.size)
            except av.error.FFmpegError as err:
                raise AmiError(f"{path}: damaged video (cannot read its packets): {err}") from err
        return VideoInfo(
            path=str(path),
            codec=str(ctx.name),
            width=int(ctx.width or stream.width or 0),
            height=int(ctx.height or stream.height or 0),
            fps=fps,
            frames=frames,
            pix_fmt=str(ctx.pix_fmt or ""),
        )
    finally:
        container.close()


class VideoReader:
    """Sequential RGB decoding of one file; ``frames`` yields uint8 (n, H, W, 3) chunks."""

    def __init__(self, path: str | Path, threads: bool = True) -> None:
        self.path = Path(path)
        self._container = _open(self.path)
        self._stream = self._container.streams.video[0]
        if threads:
            self._stream.thread_type = "AUTO"
        self._iter: Iterator[Any] | None = None
        self._next_time = 0.0  # timestamp of the next frame the iterator will give
        self._pending: Any = None  # a frame decoded but not yet consumed
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        self.shape: tuple[int, int] | None = None
        # one converter for the file: frame.to_ndarray(format=...) builds one per frame (6x slower)
        self._rgb = _av().video.reformatter.VideoReformatter()

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _decoded(self) -> Iterator[Any]:
        av = _av()
        try:
            yield from self._container.decode(self._stream)
        except av.error.FFmpegError as err:
            why = getattr(err, "strerror", None) or err
            raise AmiError(f"{self.path}: cannot decode the video (damaged?): {why}") from err

    def _seek(self, t: float) -> None:
        tb = self._stream.time_base
        offset = int(max(0.0, t) / tb) if tb else 0
        av = _av()
        try:
            self._container.seek(offset, stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError as err:
            raise AmiError(f"{self.path}: cannot seek to {t:.3f}s: {err}") from err
        self._iter, self._pending, self._next_time = self._decoded(), None, t

    def _time(self, frame: Any) -> float:
        if frame.pts is None:
            return self._next_time
        return float(frame.pts * self._stream.time_base)

    def frames(
        self, start: float = 0.0, stop: float = math.inf, chunk: int | None = None
    ) -> Iterator[np.ndarray]:
        """Frames whose timestamp t has start - half a frame <= t < stop - half a frame, in
        chunks of ``chunk`` frames (default: about 16 MiB of frames, at most 256)."""
        half = 0.5 / self.fps if self.fps else 1e-4
        lo, hi = start - half, stop - half
        if self._iter is None:
            if start <= half:
                self._iter = self._decoded()
            else:
                self._seek(lo)
        elif self._next_time >= start + half or lo > self._next_time + 2.0:
            self._seek(lo)  # a wanted frame was consumed already, or the range is far ahead
        out: list[np.ndarray] = []
        while True:
            frame = self._pending if self._pending is not None else next(self._iter, None)
            self._pending = None
            if frame is None:
                self._next_time = math.inf
                break
            t = self._time(frame)
            if t < lo:
                continue
            if t >= hi:
                self._pending = frame  # the first frame of the next range
                self._next_time = t
                break
            self._next_time = t + (1.0 / self.fps if self.fps else 0.0)
            arr = self._rgb.reformat(frame, format="rgb24").to_ndarray()
            if self.shape is None:
                self.shape = arr.shape[:2]
            elif arr.shape[:2] != self.shape:
                raise AmiError(
                    f"{self.path}: frame size changes from {self.shape[1]}x{self.shape[0]} to "
                    f"{arr.shape[1]}x{arr.shape[0]} at {t:.3f}s; one camera needs one resolution"
                )
            out.append(arr)
            if chunk is None:
                chunk = max(1, min(256, CHUNK_BYTES // arr.nbytes))
            if len(out) >= chunk:
                yield np.stack(out)
                out = []
        if out:
            yield np.stack(out)


def read_frames(path: str | Path, chunk: int | None = None) -> Iterator[np.ndarray]:
    """Every frame of a file, in chunks of uint8 (n, H, W, 3)."""
    with VideoReader(path) as reader:
        yield from reader.frames(chunk=chunk)
