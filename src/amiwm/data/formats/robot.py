"""Import a robot corpus into an amiwm episode store: once, atomically, in bounded memory.

Episodes are read one at a time and their frames in chunks (at most a few hundred frames of
the camera's size in memory), resized by ``amiwm.frames.fit_frames`` and appended to an
``EpisodeWriter`` (a hidden partial file renamed into place at the end: a failed import leaves
nothing). ``cached_import`` keeps imports in a cache folder keyed by the corpus' content and
the import options, so a second run on an unchanged corpus reuses the first import.

``frameskip`` k keeps frames 0, k, 2k, ... (and their state). The k actions between two kept
frames are combined by ``action_combine``: ``concat`` (an action block of k * A values, in
time order), ``sum`` (for delta actions), ``mean`` or ``first``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from amiwm.data.formats.corpus import content_key, open_corpus
from amiwm.data.formats.episodes import Corpus, Episode
from amiwm.data.formats.folders import ArrayKeys
from amiwm.data.store import EpisodeStore, EpisodeWriter, partial_path
from amiwm.errors import AmiError
from amiwm.frames import check_policy, fit_frames

ACTION_COMBINES = ("concat", "sum", "mean", "first")
IMPORTER_VERSION = 1  # part of the cache key: bump when imports of the same corpus would differ


def cache_dir() -> Path:
    """Where imports are kept: $AMIWM_CACHE, else ~/.cache/amiwm/imports."""
    env = os.environ.get("AMIWM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "amiwm" / "imports"


def _size(frame_size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (frame_size, frame_size) if isinstance(frame_size, int) else frame_size
    if h < 1 or w < 1:
        raise AmiError(f"--frame-size must be positive, got {frame_size}")
    return int(h), int(w)


def combine_actions(actions: np.ndarray, k: int, rule: str) -> np.ndarray:
    """Actions (T, A) of every frame -> (ceil(T / k) - 1, A') between the kept frames."""
    if k == 1:
        return actions[: max(0, len(actions) - 1)]
    kept = (len(actions) + k - 1) // k
    blocks = actions[: (kept - 1) * k].reshape(kept - 1, k, actions.shape[1])
    if rule == "concat":
        return blocks.reshape(kept - 1, -1)
    if rule == "sum":
        return blocks.sum(1)
    if rule == "mean":
        return blocks.mean(1)
    return blocks[:, 0]


def import_options(
    frame_size: int | tuple[int, int] = 64,
    resize: str = "crop",
    camera: str | None = None,
    frameskip: int = 1,
    action_combine: str = "concat",
    keys: ArrayKeys | None = None,
) -> dict[str, Any]:
    """The checked options of an import (also part of its cache key)."""
    check_policy(resize)
    if frameskip < 1:
        raise AmiError(f"--frameskip must be >= 1, got {frameskip}")
    if action_combine not in ACTION_COMBINES:
        raise AmiError(
            f"unknown action combination {action_combine!r}; "
            f"use one of {', '.join(ACTION_COMBINES)}"
        )
    return {
        "frame_size": list(_size(frame_size)),
        "resize": resize,
        "camera": camera,
        "frameskip": int(frameskip),
        "action_combine": action_combine,
        "keys": vars(keys or ArrayKeys()),
        "importer_version": IMPORTER_VERSION,
    }


def _check_episode(ep: Episode, corpus: Corpus) -> None:
    """Actions and state of an episode: present, finite, of the corpus' dims and lengths."""
    if ep.actions is None:
        raise AmiError(f"{ep.name}: no actions")
    bad = ~np.isfinite(ep.actions).all(1)
    if bad.any():
        t = int(np.argmax(bad))
        raise AmiError(
            f"{ep.name}: action at frame {t} is NaN or Inf ({int(bad.sum())} rows in all)"
        )
    if ep.state is not None:
        bad = ~np.isfinite(ep.state).all(1)
        if bad.any():
            raise AmiError(f"{ep.name}: state at frame {int(np.argmax(bad))} is NaN or Inf")
        if len(ep.state) != len(ep.actions):
            raise AmiError(f"{ep.name}: {len(ep.actions)} actions but {len(ep.state)} state rows")
    if ep.length is not None and ep.length != len(ep.actions):
        raise AmiError(
            f"{ep.name}: the metadata says {ep.length} frames but there are "
            f"{len(ep.actions)} actions"
        )
    if ep.actions.shape[1] != corpus.action_dim:
        raise AmiError(
            f"{ep.name}: actions of dim {ep.actions.shape[1]}, the first episode's are "
            f"{corpus.action_dim}"
        )
    if (ep.state is None) != (corpus.state_dim is None):
        has = "no" if ep.state is None else "a"
        raise AmiError(f"{ep.name}: {has} state log, unlike the first episode")
    if ep.state is not None and ep.state.shape[1] != corpus.state_dim:
        raise AmiError(
            f"{ep.name}: state of dim {ep.state.shape[1]}, "
            f"the first episode's is {corpus.state_dim}"
        )


class _Frames:
    """Chunks of one episode: checked, subsampled and resized, counting the camera's frames."""

    def __init__(self, ep: Episode, camera_shape: list[tuple[int, ...]], size, resize, k, bar):
        self.ep, self.camera_shape, self.size, self.resize, self.k = (
            ep,
            camera_shape,
            size,
            resize,
            k,
        )
        self.bar, self.seen = bar, 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for chunk in self.ep.frames():
            if chunk.ndim == 3:  # (n, H, W) grayscale
                chunk = chunk[..., None]
            shape = tuple(chunk.shape[1:])
            if not self.camera_shape:
                self.camera_shape.append(shape)
            elif shape != self.camera_shape[0]:
                raise AmiError(
                    f"{self.ep.name}: frames of {_wh(shape)} but earlier frames were "
                    f"{_wh(self.camera_shape[0])}; one camera needs one resolution"
                )
            first = (-self.seen) % self.k
            picked = chunk[first :: self.k]
            self.seen += len(chunk)
            self.bar(len(chunk))
            if len(picked):
                yield fit_frames(picked, self.size, self.resize)


def _wh(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}x{shape[2] if len(shape) > 2 else 1}"


def import_corpus(
    spec: str,
    out: str | Path,
    *,
    frame_size: int | tuple[int, int] = 64,
    resize: str = "crop",
    camera: str | None = None,
    frameskip: int = 1,
    action_combine: str = "concat",
    keys: ArrayKeys | None = None,
    attrs: dict[str, Any] | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Decode a corpus into an episode store at ``out``; returns ``out``. Nothing is written
    (and an existing ``out`` is left untouched) when any episode is bad."""
    opts = import_options(frame_size, resize, camera, frameskip, action_combine, keys)
    corpus = open_corpus(spec, camera, keys)
    if corpus.problems:
        more = (
            f" (and {len(corpus.problems) - 1} more; see `ami-cli data inspect`)"
            if len(corpus.problems) > 1
            else ""
        )
        raise AmiError(_problem(corpus, more))
    if corpus.num_episodes == 0:
        raise AmiError(f"{corpus.root}: no episodes")
    if not corpus.action_dim:
        raise AmiError(f"{corpus.root}: no actions found")
    return _write(
        corpus, Path(out), opts, attrs or {}, progress, overwrite, content_key(corpus, opts)
    )


def _write(corpus, out: Path, opts, attrs, progress: bool, overwrite: bool, key: str) -> Path:
    size, resize, k = tuple(opts["frame_size"]), opts["resize"], opts["frameskip"]
    a_dim = corpus.action_dim * (k if opts["action_combine"] == "concat" else 1)
    camera_shape: list[tuple[int, ...]] = []
    meta = {
        "source": str(corpus.root.resolve()),
        "source_key": key,
        "layout": corpus.layout,
        "layout_version": corpus.version,
        "camera": corpus.camera,
        "resize": resize,
        "frame_size": list(size),
        "frameskip": k,
        "action_combine": opts["action_combine"] if k > 1 else "none",
        "source_fps": corpus.fps,
        "fps": corpus.fps / k if corpus.fps else None,
        "source_action_dim": corpus.action_dim,
        "notes": list(corpus.notes),
        **attrs,
    }
    writer = EpisodeWriter(
        out,
        obs_shape=(*size, 3),
        obs_dtype=np.uint8,
        action_dim=a_dim,
        state_dim=corpus.state_dim or None,
        attrs=meta,
        overwrite=overwrite,
    )
    episodes = contextlib.closing(corpus.read())
    opened = False
    try:
        with _bar(progress, corpus.num_frames, corpus.root.name) as advance, episodes as eps:
            for ep in eps:
                _check_episode(ep, corpus)
                frames = _Frames(ep, camera_shape, size, resize, k, advance)
                chunks: Iterator[np.ndarray] = iter(frames)
                if not opened:  # the camera's size is known from the first decoded chunk
                    first = next(chunks, None)
                    if first is None:
                        raise _count_error(ep, 0)
                    writer.attrs["camera_shape"] = list(camera_shape[0])
                    writer.open()
                    opened = True
                    chunks = itertools.chain([first], chunks)
                kept = (len(ep.actions) + k - 1) // k
                actions = combine_actions(ep.actions, k, opts["action_combine"])
                state = ep.state[::k] if ep.state is not None else None
                try:
                    length = writer.add_episode_chunks(chunks, actions, state)
                except AmiError:
                    if frames.seen != len(ep.actions):
                        raise _count_error(ep, frames.seen) from None
                    raise
                if frames.seen != len(ep.actions) or length != kept:
                    raise _count_error(ep, frames.seen)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return out


def _problem(corpus: Corpus, more: str = "") -> str:
    first = corpus.problems[0]
    return (first if first.startswith(str(corpus.root)) else f"{corpus.root}: {first}") + more


def _count_error(ep: Episode, frames: int) -> AmiError:
    hint = " (truncated video?)" if frames < len(ep.actions) else ""
    return AmiError(f"{ep.name}: {frames} frames but {len(ep.actions)} actions{hint}")


@contextlib.contextmanager
def _bar(enabled: bool, total: int | None, name: str):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("[bold]import {task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn("frames"), TimeRemainingColumn()]
    progress = Progress(*columns, transient=False)
    progress.disable = not (enabled and progress.console.is_terminal)  # no bars in logs
    with progress as bar:
        task = bar.add_task(name, total=total)
        yield lambda n: bar.advance(task, n)


def cached_import(
    spec: str, *, progress: bool = True, reuse: Path | None = None, **options: Any
) -> tuple[Path, bool]:
    """The store for ``spec`` imported with ``options``: ``reuse`` (e.g. a run's data.h5) or
    the cache entry when it holds this content key (returns ``(path, True)``); else a fresh
    import written into the cache atomically (``(path, False)``)."""
    keys = options.pop("keys", None)
    keys = ArrayKeys(**keys) if isinstance(keys, dict) else keys
    opts = import_options(keys=keys, **options)
    corpus = open_corpus(spec, options.get("camera"), keys)
    key = content_key(corpus, opts)
    if reuse is not None and reuse.is_file():
        with contextlib.suppress(AmiError), EpisodeStore(reuse) as store:
            if store.attrs.get("source_key") == key:
                return reuse, True
    path = cache_dir() / f"{key}.h5"
    if path.exists():
        with contextlib.suppress(AmiError), EpisodeStore(path) as store:
            if store.attrs.get("source_key") == key:
                return path, True
        path.unlink()  # a damaged or foreign file under our key: import again
    if corpus.problems:
        raise AmiError(_problem(corpus))
    if corpus.num_episodes == 0 or not corpus.action_dim:
        raise AmiError(f"{corpus.root}: no episodes with actions")
    partial_path(path).unlink(missing_ok=True)
    _write(corpus, path, opts, {}, progress, False, key)
    return path, False


def link_into(store: Path, out: Path) -> Path:
    """Give a run directory its own name for a cached store: a hard link (a copy across file
    systems); stores are never modified after they are written."""
    target = out / "data.h5"
    if target.exists():
        return target
    try:
        os.link(store, target)
    except OSError:
        shutil.copyfile(store, target)
    return target
