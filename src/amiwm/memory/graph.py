"""A reachability graph over remembered latents, as a planning `LatentGraph`.

Edges: consecutive steps of one episode (records are sorted by episode and time; a pair is
linked when its time gap is at most the subsampling stride, weight = the gap in steps), and
pairs of latents closer than `radius_scale` times the median one-step latent distance
(||next_latent - latent|| over the records), weighted by distance / one-step distance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from amiwm.errors import AmiError

if TYPE_CHECKING:
    from amiwm.memory.store import MemoryStore
    from amiwm.planning.graph import LatentGraph


def reachability_graph(
    store: MemoryStore,
    radius_scale: float = 0.35,
    max_nodes: int = 10000,
    bidirectional: bool = True,
) -> tuple[LatentGraph, np.ndarray]:
    """(graph, ids): node i of the graph is the record with id ids[i].

    With more than `max_nodes` records every k-th record (in episode, time order) is kept.
    `bidirectional` also adds each time edge backwards (assumes moves can be undone).
    """
    import torch

    from amiwm.planning.graph import LatentGraph, _pairs_within

    if max_nodes < 2:
        raise AmiError(f"max_nodes must be >= 2, got {max_nodes}")
    c = store.columns()
    n = len(c["id"])
    if n < 2:
        raise AmiError(f"memory store {store.path} holds {n} records; a graph needs at least 2")
    every = -(-n // max_nodes)
    keep = np.lexsort((c["id"], c["time"], c["episode"]))[::every]
    ids, z, ep, t = c["id"][keep], c["latent"][keep], c["episode"][keep], c["time"][keep]
    gap = t[1:] - t[:-1]
    linked = (ep[1:] == ep[:-1]) & (gap > 0) & (gap <= every)
    src_t = np.nonzero(linked)[0]
    w_t = gap[linked].astype(np.float64)
    step = float(np.median(c["hop"]))
    zt = torch.from_numpy(np.ascontiguousarray(z))
    src_s, dst_s, d_s = _pairs_within(zt, radius_scale * step)
    w_s = d_s / max(step, 1e-9) + 1e-3
    src = [src_t, src_s]
    dst = [src_t + 1, dst_s]
    weight = [w_t, w_s]
    if bidirectional:
        src.insert(1, src_t + 1)
        dst.insert(1, src_t)
        weight.insert(1, w_t)
    graph = LatentGraph(
        zt, np.concatenate(src), np.concatenate(dst), np.concatenate(weight), steps_per_hop=every
    )
    return graph, ids
