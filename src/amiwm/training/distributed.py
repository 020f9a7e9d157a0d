"""torch.distributed for training: devices, process groups from torchrun's environment and a
launcher (everything is a no-op in a single process; the collectives live in amiwm.nn)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from amiwm.errors import AmiError


def launched_rank() -> int:
    """The rank torchrun gave this process (0 outside torchrun), initialised or not."""
    return int(os.environ.get("RANK", "0"))


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
