import torch

from amiwm.models.regularizers import SIGReg, VICReg, effective_rank


def test_sigreg_small_on_gaussian_large_on_collapsed():
    g = torch.Generator().manual_seed(0)
    reg = SIGReg(projections=256)
    gaussian = reg(torch.randn(1024, 32, generator=g), g).item()
    collapsed = reg(torch.randn(1024, 1, generator=g).repeat(1, 32), g).item()
    shifted = reg(torch.randn(1024, 32, generator=g) * 0.2 + 1.0, g).item()
    assert gaussian < 3.0
    assert collapsed > 20 * gaussian
    assert shifted > 20 * gaussian


def test_sigreg_gradient_pushes_towards_gaussian():
    g = torch.Generator().manual_seed(1)
    z = (torch.randn(512, 16, generator=g) * 0.1).requires_grad_()
    reg = SIGReg(projections=64)
    opt = torch.optim.Adam([z], lr=0.02)
    start = reg(z, torch.Generator().manual_seed(2)).item()
    for i in range(200):
        loss = reg(z, torch.Generator().manual_seed(i))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert reg(z, torch.Generator().manual_seed(2)).item() < start / 5
    assert 0.5 < z.std().item() < 1.5


def test_vicreg_penalises_collapse():
    reg = VICReg()
    assert reg(torch.randn(512, 16)).item() < 0.1
    assert reg(torch.zeros(512, 16)).item() > 0.9


def test_effective_rank():
    assert effective_rank(torch.randn(2048, 16)) > 14
    assert effective_rank(torch.randn(2048, 1).repeat(1, 16)) < 1.1
