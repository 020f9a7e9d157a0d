"""Open the dataset a spec names: an episode store as it is, anything else imported once.

An imported dataset (a sensor table today) is read, its constant channels dropped, and written
as an episode store to a temporary file; `adopt` moves it into the run directory once the run
directory has been checked, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from amiwm.data.spec import DatasetSpec
from amiwm.data.store import EpisodeStore
from amiwm.errors import AmiError

IMPORTED = "data.h5"  # an imported dataset's name inside its run directory
_TMP_PREFIX = "amiwm-import-"


def open_dataset(spec: DatasetSpec, run: Path, options: dict[str, Any]) -> EpisodeStore:
    """The store of `spec` for a run in `run`: a store as it is; an imported dataset from
    ``run/data.h5`` when it was imported from the same source, else imported afresh into a
    temporary file (see `adopt`). `options` are the table reader's column options."""
    if not spec.imported:
        return EpisodeStore(Path(spec.path))
    cached = run / IMPORTED
    if cached.exists():
        store = EpisodeStore(cached)
        if store.attrs.get("dataset") == spec.resolved():
            return store
        store.close()
        raise AmiError(f"{cached} was imported from another dataset; choose another --out")
    from amiwm.data.formats import drop_constant, read_sensors

    table = read_sensors(f"{spec.kind}:{spec.path}", **options)
    table, dropped = drop_constant(table)
    tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX))
    try:
        notes = list(getattr(table, "notes", []))
        attrs = {"dataset": spec.resolved(), "dropped_channels": dropped, "notes": notes}
        table.to_store(tmp / IMPORTED, attrs=attrs)
        return EpisodeStore(tmp / IMPORTED)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def discard(store: EpisodeStore) -> None:
    """Remove a fresh import that no run adopted (the run was refused)."""
    if store.path.parent.name.startswith(_TMP_PREFIX):
        store.close()
        shutil.rmtree(store.path.parent, ignore_errors=True)


def adopt(store: EpisodeStore, run: Path) -> EpisodeStore:
    """Move a fresh import into the run directory (a store used in place is returned as is)."""
    if not store.path.parent.name.startswith(_TMP_PREFIX):
        return store
    store.close()
    shutil.move(store.path, run / IMPORTED)
    store.path.parent.rmdir()
    return EpisodeStore(run / IMPORTED)
