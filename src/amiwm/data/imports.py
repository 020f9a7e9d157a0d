"""Open the dataset a spec names: an episode store as it is, anything else imported once.

A sensor table is read, its constant channels dropped, and written as an episode store to a
temporary file; a robot corpus is decoded into a cache keyed by its content (a second run on
the same corpus reuses it). `adopt` then gives the run directory its ``data.h5`` once the run
directory has been checked, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from amiwm.config import DataConfig
from amiwm.data.spec import DatasetSpec
from amiwm.data.store import EpisodeStore
from amiwm.errors import AmiError

IMPORTED = "data.h5"  # an imported dataset's name inside its run directory
_TMP_PREFIX = "amiwm-import-"


def open_dataset(
    spec: DatasetSpec, run: Path, options: DataConfig, *, progress: bool = True
) -> EpisodeStore:
    """The store of `spec` for a run in `run`: a store as it is; an imported dataset from
    ``run/data.h5`` when it was imported from the same source, else imported afresh (see
    `adopt`). `options`: how tables are read and corpora imported; `progress`: a bar while a
    corpus is decoded (on a terminal)."""
    if not spec.imported:
        return EpisodeStore(Path(spec.path))
    if spec.is_corpus:
        from amiwm.data.formats.robot import cached_import

        path, _ = cached_import(
            spec.text(), reuse=run / IMPORTED, progress=progress, **options.import_options()
        )
        return EpisodeStore(path)
    cached = run / IMPORTED
    if cached.exists():
        store = EpisodeStore(cached)
        if store.attrs.get("dataset") == spec.resolved():
            return store
        store.close()
        raise AmiError(f"{cached} was imported from another dataset; choose another --out")
    from amiwm.data.formats import drop_constant, read_sensors
    from amiwm.data.formats.tep import check_training

    if spec.kind == "tep":  # a fault run is no training data unless said (tep-any:)
        check_training(spec.path, "tep")
    table = read_sensors(spec.text(), **options.read_options())
    table, dropped = drop_constant(table)
    tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX))
    try:
        notes = list(getattr(table, "notes", []))
        attrs = {"dataset": spec.resolved(), "dropped_channels": dropped, "notes": notes}
        # TEP: the XMVs of row t + 1 act together with its XMEAS (as in an ARX model)
        table.to_store(tmp / IMPORTED, attrs=attrs, next_actions=spec.kind.startswith("tep"))
        return EpisodeStore(tmp / IMPORTED)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def guard(store: EpisodeStore, spec: DatasetSpec) -> Iterator[None]:
    """While a run is prepared from a fresh import: on failure close and delete it, and name
    the dataset in the error instead of the temporary file."""
    if not store.path.parent.name.startswith(_TMP_PREFIX):
        yield
        return
    tmp = store.path
    try:
        yield
    except BaseException as exc:
        store.close()
        shutil.rmtree(tmp.parent, ignore_errors=True)
        if isinstance(exc, AmiError) and str(tmp) in str(exc):
            raise AmiError(str(exc).replace(str(tmp), f"{spec.text()} (imported)")) from None
        raise


def adopt(store: EpisodeStore, run: Path) -> EpisodeStore:
    """Move a fresh table import into the run directory, link a cached corpus import into it (a
    store used in place is returned as is)."""
    from amiwm.data.formats.robot import cache_dir, link_into

    if store.path.parent.resolve() == cache_dir().resolve():
        store.close()
        own = run / IMPORTED
        if own.exists() and not own.samefile(store.path):
            raise AmiError(
                f"{own} was imported from other content (the corpus or the import flags "
                "changed); choose another --out"
            )
        return EpisodeStore(link_into(store.path, run))
    if not store.path.parent.name.startswith(_TMP_PREFIX):
        return store
    store.close()
    shutil.move(store.path, run / IMPORTED)
    store.path.parent.rmdir()
    return EpisodeStore(run / IMPORTED)
