"""VICReg on wide latents (fewer rows than dimensions) uses the Gram matrix: same loss."""

import torch

from amiwm.models.regularizers import VICReg


def reference(z: torch.Tensor, std_target: float = 1.0, cov_weight: float = 0.04) -> torch.Tensor:
    """VICReg written out with the d x d covariance."""
    n, d = z.shape
    z = z - z.mean(0)
    cov = z.T @ z / (n - 1)
    std = torch.sqrt(torch.diagonal(cov) + 1e-4)
    off = cov - torch.diag(torch.diagonal(cov))
    return torch.relu(std_target - std).mean() + cov_weight * off.square().sum() / d


def test_wide_vicreg_matches_the_covariance_form():
    g = torch.Generator().manual_seed(0)
    for n, d, scale in ((32, 512, 1.0), (64, 1024, 0.3), (16, 300, 3.0)):
        base = torch.randn(n, 8, generator=g) @ torch.randn(8, d, generator=g)  # correlated
        z64 = (scale * base + torch.randn(n, d, generator=g)).double().requires_grad_()
        want = reference(z64)
        (want_grad,) = torch.autograd.grad(want, z64)
        z = z64.detach().float().requires_grad_()
        got = VICReg()(z)
        got.backward()
        assert torch.allclose(got.double(), want, rtol=1e-4), (n, d, got.item(), want.item())
        # float32 against float64: absolute error relative to the largest gradient entry
        # (Intel and AMD BLAS kernels round differently; seen 2e-6 of a largest entry of 7)
        atol = 1e-6 * float(want_grad.abs().max())
        assert torch.allclose(z.grad.double(), want_grad, rtol=1e-3, atol=atol)


def test_wide_vicreg_off_diagonal_is_zero_for_orthogonal_columns():
    z = torch.zeros(8, 64)
    z[:4, 0], z[4:, 0] = 1.0, -1.0
    z[::2, 1], z[1::2, 1] = 1.0, -1.0  # orthogonal to column 0
    reg = VICReg(cov_weight=1.0)
    std = torch.sqrt(torch.tensor([8 / 7, 8 / 7] + [0.0] * 62) + 1e-4)
    assert torch.allclose(reg(z), torch.relu(1 - std).mean(), atol=1e-6)
