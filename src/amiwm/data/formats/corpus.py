"""Robot corpora: find the layout of a folder, describe it, and key its content for caching.

Specs: ``lerobot:DIR``, ``videos:DIR``, ``images:DIR``, ``hdf5:PATH``, ``npz:PATH``, or a plain
folder, whose layout is detected from what it holds: ``meta/info.json`` (LeRobot), video files
(videos), sub-folders of images (images), ``.h5``/``.hdf5`` files (hdf5), ``.npz`` (npz).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from amiwm.data.formats.episodes import Corpus
from amiwm.data.formats.folders import (
    HDF5_SUFFIXES,
    ArrayKeys,
    array_files,
    image_dirs_in,
    open_hdf5,
    open_images,
    open_npz,
    open_videos,
    videos_in,
)
from amiwm.data.spec import CORPORA, CORPUS, DatasetSpec
from amiwm.errors import AmiError

LAYOUTS = CORPORA
_SMALL = 1 << 20  # files up to 1 MiB are hashed whole
_EDGE = 1 << 16  # larger ones: size plus their first and last 64 KiB


def split_spec(spec: str) -> tuple[str | None, Path]:
    """``(layout or None for "detect it", folder or file)`` of a corpus spec."""
    parsed = DatasetSpec.parse(spec)
    if not parsed.is_corpus:
        raise AmiError(f"{spec}: not a robot corpus (a folder, or lerobot:, videos:, ... DIR)")
    return (None if parsed.kind == CORPUS else parsed.kind), Path(parsed.path)


def detect(root: Path) -> str:
    """The layout of a folder, from what it holds; an AmiError when none or several fit."""
    if not root.exists():
        raise AmiError(f"{root}: no such folder")
    if not root.is_dir():
        raise AmiError(f"{root}: not a folder; prefix a single file with hdf5: or npz:")
    if (root / "meta" / "info.json").is_file():
        return "lerobot"
    found = []
    if videos_in(root):
        found.append("videos")
    if image_dirs_in(root):
        found.append("images")
    if array_files(root, HDF5_SUFFIXES):
        found.append("hdf5")
    if array_files(root, (".npz",)):
        found.append("npz")
    if not found:
        if not any(root.iterdir()):
            raise AmiError(f"{root}: empty folder; nothing to import")
        raise AmiError(
            f"{root}: no robot corpus found (no meta/info.json, videos, image folders, .h5 or "
            ".npz files)"
        )
    if len(found) > 1:
        raise AmiError(
            f"{root}: holds {' and '.join(found)}; say which with a prefix, e.g. {found[0]}:{root}"
        )
    return found[0]


def open_corpus(spec: str, camera: str | None = None, keys: ArrayKeys | None = None) -> Corpus:
    """Open a corpus spec: metadata read and checked, no frames decoded yet."""
    layout, root = split_spec(spec)
    keys = keys or ArrayKeys()
    if layout in (None, "lerobot", "videos", "images") and not root.is_dir():
        raise AmiError(f"{root}: no such folder" if not root.exists() else f"{root}: not a folder")
    layout = layout or detect(root)
    if layout == "lerobot":
        from amiwm.data.formats.lerobot import is_lerobot, open_lerobot

        if not is_lerobot(root):
            raise AmiError(f"{root}: no meta/info.json; not a LeRobot dataset")
        return open_lerobot(root, camera)
    if camera is not None and layout != "lerobot":
        raise AmiError(f"--camera applies to LeRobot datasets; {root} has one camera")
    if layout == "videos":
        if not videos_in(root):
            raise AmiError(f"{root}: no videos (.mp4, .mkv, .webm, .avi)")
        return open_videos(root)
    if layout == "images":
        if not image_dirs_in(root):
            raise AmiError(f"{root}: no sub-folders of images")
        return open_images(root)
    if not root.exists():
        raise AmiError(f"{root}: no such file or folder")
    return open_hdf5(root, keys) if layout == "hdf5" else open_npz(root, keys)


def describe_corpus(
    spec: str, camera: str | None = None, keys: ArrayKeys | None = None
) -> dict[str, Any]:
    """Facts about a corpus before any import (``ami-cli data inspect DIR``)."""
    return open_corpus(spec, camera, keys).describe()


def format_corpus(d: dict[str, Any]) -> str:
    """Readable text for ``describe_corpus``."""
    version = f" {d['version']}" if d.get("version") else ""
    frames = d["frames"] if d["frames"] is not None else "unknown (counted on import)"
    rows = [
        ("path", d["path"]),
        ("layout", f"{d['layout']}{version}"),
        ("episodes", str(d["episodes"])),
        ("frames", str(frames)),
        ("fps", f"{d['fps']:g}" if d.get("fps") else "not recorded"),
    ]
    for i, c in enumerate(d["cameras"]):
        size = f"{c['width']}x{c['height']}" if c.get("width") and c.get("height") else "?"
        chans = f", {c['channels']} channels" if c.get("channels") else ""
        mark = "  (used)" if c["key"] == d["camera"] else ""
        rows.append(
            (
                "cameras" if i == 0 else "",
                f"{c['key']}: {size}{chans}, {c.get('codec') or '?'}{mark}",
            )
        )
    rows.append(("actions", f"dim {d['action_dim']}" if d["action_dim"] else "none"))
    rows.append(("state", f"dim {d['state_dim']}" if d["state_dim"] else "none"))
    for note in d.get("notes", []):
        rows.append(("note", note))
    for p in d["problems"] or ["none found"]:
        rows.append(("problem" if d["problems"] else "problems", p))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _file_digest(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with path.open("rb") as fh:
        if size <= _SMALL:
            h.update(fh.read())
        else:
            h.update(fh.read(_EDGE))
            fh.seek(size - _EDGE)
            h.update(fh.read(_EDGE))
    return h.hexdigest()


def content_key(corpus: Corpus, options: dict[str, Any]) -> str:
    """A key for "this corpus, imported this way", independent of where the folder lives.

    It hashes the import options, the layout, every file the import reads (LeRobot: plus
    everything under meta/) by relative path and size, the whole content of files up to 1 MiB
    (metadata, action logs, parquet tables) and the first and last 64 KiB of larger ones
    (video headers and index atoms). Not noticed: an edit inside a large file that keeps its
    size, head and tail; re-import such a corpus with a fresh copy or --out.
    """
    files = set(corpus.files())
    if corpus.layout == "lerobot":
        files |= {p for p in (corpus.root / "meta").rglob("*") if p.is_file()}
    base = corpus.root if corpus.root.is_dir() else corpus.root.parent
    entries = []
    for p in sorted(files):
        if not p.is_file():
            raise AmiError(f"{p}: missing file named by the corpus")
        entries.append([str(p.relative_to(base)), _file_digest(p)])
    blob = json.dumps(
        {"layout": corpus.layout, "version": corpus.version, "options": options, "files": entries},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
