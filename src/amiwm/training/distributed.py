"""torch.distributed for training: process groups from torchrun's environment, exact
global-batch statistics, and a launcher (everything is a no-op in a single process)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from amiwm.errors import AmiError


def world_size() -> int:
    """Number of processes, 1 when torch.distributed is not initialised."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank, 0 when torch.distributed is not initialised."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def launched_rank() -> int:
    """The rank torchrun gave this process (0 outside torchrun), initialised or not."""
    return int(os.environ.get("RANK", "0"))


def is_distributed() -> bool:
    """True when there are several processes to reduce over."""
    return world_size() > 1


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """Differentiable all-reduce sum over ranks (x itself in a single process).

    The backward pass all-reduces the incoming gradient too, so when every rank computes the same
    loss from the reduced value, each rank's local gradient is world_size times the gradient of
    that loss; DDP's averaging over ranks then gives exactly the full-batch gradient.
    """
    return _AllReduceSum.apply(x) if is_distributed() else x


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; the gradient of a sum is the sum of the ranks' incoming gradients."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


def global_count(n: int, device: torch.device | str = "cpu") -> int:
    """Total number of rows over ranks when each rank holds n."""
    if not is_distributed():
        return n
    t = torch.tensor([n], dtype=torch.long, device=device)
    dist.all_reduce(t)
    return int(t.item())


class BatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics span the global batch under torch.distributed.

    torch's SyncBatchNorm is GPU-only; this one works with gloo on CPU too. In a single process,
    or in eval mode, it is exactly nn.BatchNorm1d (same parameters, buffers and state-dict keys).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        xf = x.float()
        n = global_count(xf.shape[0], xf.device)
        mean = global_sum(xf.sum(0)) / n
        var = global_sum((xf - mean).square().sum(0)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum
                if m is None:  # cumulative average, as nn.BatchNorm1d
                    m = 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean, m)
                self.running_var.lerp_(var * n / max(n - 1, 1), m)
        y = (xf - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight + self.bias
        return y.to(x.dtype)


def pick_device(name: str) -> torch.device:
    """'cpu', 'cuda', 'cuda:N' or 'auto' (cuda when available); under torchrun, cuda means this
    process's local GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not name.startswith("cuda"):
        raise AmiError(f"--device must be cpu, cuda, cuda:N or auto, got {name!r}")
    if not torch.cuda.is_available():
        raise AmiError(f"--device {name}: no CUDA GPU is available here; use --device cpu")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        name = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    dev = torch.device(name)
    index = dev.index or 0
    if index >= torch.cuda.device_count():
        raise AmiError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) here")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def check_devices(name: str, nproc: int) -> None:
    """Before launching nproc processes: refuse what some of them would fail on."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return
    if name != "auto":
        pick_device(name)  # the same one-line errors as a single process gets
    if name not in ("auto", "cuda"):
        raise AmiError(f"--device {name} with --nproc: each process takes its own GPU; use cuda")
    gpus = torch.cuda.device_count()
    if nproc > gpus:
        raise AmiError(
            f"--nproc {nproc} with --device {name} needs {nproc} GPUs, this machine has {gpus}; "
            "use --device cpu or fewer processes"
        )


@contextmanager
def session(device: str = "cpu") -> Iterator[torch.device]:
    """This process's device; joins the process group torchrun describes in the environment
    (WORLD_SIZE > 1: gloo on CPU; on GPUs nccl for CUDA tensors and gloo for CPU ones) and
    leaves it on exit."""
    dev = pick_device(device)
    size = int(os.environ.get("WORLD_SIZE", "1"))
    owned = size > 1 and not dist.is_initialized()
    if owned:
        backend = "cpu:gloo,cuda:nccl" if dev.type == "cuda" else "gloo"
        kw: dict[str, Any] = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend, timeout=timedelta(minutes=30), **kw)
    try:
        yield dev
    finally:
        if owned:
            dist.barrier()  # nobody tears the group down while a peer still talks to it
            dist.destroy_process_group()


def broadcast_json(obj: Any, device: torch.device | str = "cpu") -> Any:
    """Rank 0's JSON-serialisable value on every rank (no pickle)."""
    if not is_distributed():
        return obj
    data = json.dumps(obj).encode() if rank() == 0 else b""
    size = torch.tensor([len(data)], dtype=torch.long, device=device)
    dist.broadcast(size, 0)
    buf = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if rank() == 0:
        buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buf, 0)
    return json.loads(buf.cpu().numpy().tobytes().decode())


def average(values: torch.Tensor) -> torch.Tensor:
    """Mean over ranks of a detached vector (the value itself in a single process)."""
    if not is_distributed():
        return values
    out = values.detach().clone()
    dist.all_reduce(out)
    return out / world_size()


def launch(nproc: int, module: str, argv: list[str]) -> int:
    """Run ``python -m module argv`` in nproc processes with torchrun on this machine; the exit
    status (1 when a process failed: its own error line is already on stderr)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    if nproc < 1:
        raise AmiError(f"--nproc must be >= 1, got {nproc}")
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "--module", module, *argv]
    )
    try:
        run(args)
    except ChildFailedError:
        return 1
    return 0
