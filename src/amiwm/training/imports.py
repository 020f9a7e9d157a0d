"""Temporary imports of sensor tables: never left behind, never named in errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from amiwm.data.store import EpisodeStore
from amiwm.errors import AmiError

PREFIX = "amiwm-import-"


def is_temporary(path: Path) -> bool:
    """Whether ``path`` (a store file) lies in a temporary import folder."""
    return path.parent.name.startswith(PREFIX)


@contextmanager
def removed_on_error(folder: Path) -> Iterator[None]:
    """Delete ``folder`` (a fresh temporary import) when the block fails."""
    try:
        yield
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


@contextmanager
def import_guard(store: EpisodeStore, spec: str) -> Iterator[None]:
    """While a run is prepared from a temporary import: on failure close and delete it, and
    name the dataset ``spec`` in the error instead of the temporary file."""
    if not is_temporary(store.path):
        yield
        return
    tmp = store.path
    try:
        yield
    except AmiError as exc:
        store.close()
        shutil.rmtree(tmp.parent, ignore_errors=True)
        text = str(exc)
        if str(tmp) not in text:
            raise
        raise AmiError(text.replace(str(tmp), f"{spec} (imported)")) from None
    except BaseException:
        store.close()
        shutil.rmtree(tmp.parent, ignore_errors=True)
        raise
