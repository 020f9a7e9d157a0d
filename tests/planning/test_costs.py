import pytest
import torch

from amiwm.errors import AmiError
from amiwm.planning import action_penalty, final_distance, summed_distance


def test_final_distance_uses_last_latent_squared():
    latents = torch.zeros(2, 3, 2)
    latents[0, -1] = torch.tensor([3.0, 4.0])
    latents[1, 0] = torch.tensor([3.0, 4.0])  # not the last step: ignored
    assert torch.equal(final_distance(latents, torch.zeros(2)), torch.tensor([25.0, 0.0]))
    per_sample_goal = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    assert torch.equal(final_distance(latents, per_sample_goal), torch.tensor([0.0, 1.0]))


def test_summed_distance_with_discount():
    latents = torch.ones(1, 3, 1) * torch.tensor([1.0, 2.0, 3.0])[None, :, None]
    assert summed_distance(latents, torch.zeros(1)).item() == pytest.approx(1 + 4 + 9)
    assert summed_distance(latents, torch.zeros(1), discount=0.5).item() == pytest.approx(
        1 + 0.5 * 4 + 0.25 * 9
    )
    goals = torch.tensor([[1.0]])
    assert summed_distance(latents, goals).item() == pytest.approx(0 + 1 + 4)


def test_costs_are_differentiable_and_penalty():
    latents = torch.randn(4, 5, 3, requires_grad=True)
    final_distance(latents, torch.zeros(3)).sum().backward()
    assert latents.grad is not None and latents.grad[:, :-1].abs().sum() == 0
    actions = torch.tensor([[[1.0, -2.0]], [[0.0, 0.5]]])
    assert torch.allclose(action_penalty(actions, 0.1), torch.tensor([0.5, 0.025]))


def test_cost_shape_errors():
    with pytest.raises(AmiError):
        final_distance(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(AmiError):
        summed_distance(torch.zeros(2, 3, 4), torch.zeros(5))
    with pytest.raises(AmiError):
        final_distance(torch.zeros(2, 3, 4), torch.zeros(3, 4))
    with pytest.raises(AmiError):
        action_penalty(torch.zeros(3, 2), 1.0)


def test_goal_set_scores_the_nearest_member():
    latents = torch.tensor([[[0.0, 0.0], [3.0, 4.0]], [[1.0, 1.0], [1.0, 0.0]]])  # (2, 2, 2)
    members = torch.tensor([[3.0, 4.0], [1.0, 0.0], [10.0, 10.0]])
    expected = torch.tensor(
        [[min(((z - g) ** 2).sum().item() for g in members) for z in row] for row in latents]
    )
    for goal in (members[None], members[None].expand(2, -1, -1)):
        assert torch.allclose(final_distance(latents, goal), expected[:, -1])
        assert torch.allclose(summed_distance(latents, goal), expected.sum(1))
    # one member is the single goal
    assert torch.allclose(
        final_distance(latents, members[:1][None]), final_distance(latents, members[0])
    )
    # differentiable where a latent sits on a member
    z = latents.clone().requires_grad_(True)
    summed_distance(z, members[None]).sum().backward()
    assert torch.isfinite(z.grad).all()
    with pytest.raises(AmiError):
        final_distance(latents, torch.zeros(1, 3, 5))  # wrong D
    with pytest.raises(AmiError):
        final_distance(latents, torch.zeros(3, 3, 2))  # neither 1 nor N sets
