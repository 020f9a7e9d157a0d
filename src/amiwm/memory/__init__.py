"""Persistent latent memory: an on-disk, crash-safe, bounded store of latent transitions."""

from amiwm.memory.cache import Records
from amiwm.memory.format import format_stats
from amiwm.memory.layout import checkpoint_fingerprint
from amiwm.memory.store import MemoryStore

__all__ = ["MemoryStore", "Records", "checkpoint_fingerprint", "format_stats"]
