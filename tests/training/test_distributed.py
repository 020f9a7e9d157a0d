"""2-process gloo check: global-batch SIGReg/VICReg equal the 1-process full-batch computation.

The test launches this file as a script in 2 subprocesses (rank, world size, port, out dir); each
rank takes its half of a fixed batch of latents, computes the regularizer with torch.distributed
initialised, backpropagates and writes loss and gradients to safetensors.

What is compared, and why: every rank computes the same global loss L, and the differentiable
all-reduce sums the identical upstream gradients of the W ranks in backward, so rank r's gradient
on its latents is W * dL/dz_r. DDP averages parameter gradients over ranks, i.e. divides the sum
of the rank gradients by W, which gives exactly sum_r dL/dz_r * dz_r/dtheta, the full-batch
gradient. So we assert rank_grad / W == the rank's slice of the 1-process gradient, and, end to
end, that a DDP-wrapped linear encoder gets the 1-process parameter gradient.
"""

from __future__ import annotations

import faulthandler
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from amiwm.models.regularizers import SIGReg, VICReg

WORLD = 2
N, D, IN = 16, 8, 4
SEED = 7


def _regs() -> dict[str, torch.nn.Module]:
    return {"sigreg": SIGReg(projections=32, knots=9), "vicreg": VICReg()}


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.nn.Linear]:
    """A fixed non-Gaussian batch (std 0.5: VICReg's hinge is active), inputs and an encoder."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(N, D, generator=g) * 0.5 + 0.3
    z[:, 1] += 0.8 * z[:, 0]  # correlated dims: non-zero covariance term
    x = torch.randn(N, IN, generator=g)
    torch.manual_seed(0)
    return z, x, torch.nn.Linear(IN, D)


def _run(reg: torch.nn.Module, z: torch.Tensor, x: torch.Tensor, enc: torch.nn.Module) -> dict:
    """Loss and gradient on latents z, and parameter gradients of enc(x) through the reg."""
    z = z.clone().requires_grad_()
    loss = reg(z, torch.Generator().manual_seed(SEED))
    loss.backward()
    enc.zero_grad()
    reg(enc(x), torch.Generator().manual_seed(SEED)).backward()
    grads = {k: p.grad.detach().clone() for k, p in enc.named_parameters()}
    return {"loss": loss.detach().reshape(1), "grad": z.grad.detach(), **grads}


def _worker(rank: int, world: int, port: int, out: Path) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    faulthandler.dump_traceback_later(45, exit=True)  # a stack trace rather than a silent hang
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=30))
    z, x, enc = _data()
    ddp = DistributedDataParallel(enc)
    b = N // world
    part = slice(rank * b, (rank + 1) * b)
    for name, reg in _regs().items():
        res = _run(reg, z[part], x[part], ddp)
        res = {k.removeprefix("module."): v for k, v in res.items()}
        save_file(res, str(out / f"{name}_{rank}.safetensors"))
    dist.barrier()
    # gloo's destroy_process_group can hang at teardown on this machine: results are on disk
    sys.stdout.flush()
    os._exit(0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("ddp")
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(r), str(WORLD), str(port), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(WORLD)
    ]
    try:
        logs = [p.communicate(timeout=60)[0] for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        logs = [p.communicate()[0] for p in procs]
        pytest.fail("distributed workers timed out:\n" + "\n".join(logs))
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
    return {
        name: [load_file(str(out / f"{name}_{r}.safetensors")) for r in range(WORLD)]
        for name in _regs()
    }


@pytest.mark.parametrize("name", ["sigreg", "vicreg"])
def test_global_batch_matches_single_process(ranks: dict, name: str) -> None:
    z, x, enc = _data()
    full = _run(_regs()[name], z, x, enc)
    b = N // WORLD
    for r, res in enumerate(ranks[name]):
        # (a) every rank's loss is the full-batch loss
        torch.testing.assert_close(res["loss"], full["loss"], rtol=1e-5, atol=1e-5)
        # (b) rank gradient / W (DDP's averaging) equals the slice of the full-batch gradient
        torch.testing.assert_close(
            res["grad"] / WORLD, full["grad"][r * b : (r + 1) * b], rtol=1e-5, atol=1e-5
        )
        # end to end: DDP-averaged parameter gradients equal the full-batch ones
        for k in ("weight", "bias"):
            torch.testing.assert_close(res[k], full[k], rtol=1e-5, atol=1e-5)
    assert full["grad"].abs().max() > 1e-3  # the gradients compared are not trivially zero


@pytest.mark.parametrize("name", ["sigreg", "vicreg"])
def test_per_device_computation_differs(name: str) -> None:
    """Negative control: the per-device (non-reduced) statistics give another loss and grads."""
    z, x, enc = _data()
    full = _run(_regs()[name], z, x, enc)
    b = N // WORLD
    halves = [
        _run(_regs()[name], z[r * b : (r + 1) * b], x[r * b : (r + 1) * b], enc)
        for r in range(WORLD)
    ]
    local_loss = torch.stack([h["loss"] for h in halves]).mean()
    assert not torch.allclose(local_loss, full["loss"], rtol=1e-3, atol=1e-3)
    local_grad = torch.cat([h["grad"] for h in halves]) / WORLD  # DDP-style average
    assert not torch.allclose(local_grad, full["grad"], rtol=1e-3, atol=1e-3)


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
