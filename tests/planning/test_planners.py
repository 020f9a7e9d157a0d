import pytest
import torch

from amiwm.errors import AmiError
from amiwm.planning import (
    PLANNER_NAMES,
    CEMPlanner,
    DiscretePlanner,
    GradientPlanner,
    MPPIPlanner,
    make_planner,
)
from amiwm.planning.base import shift_plan

# Linear system x_{t+1} = A x_t + B u_t, cost ||x_H - goal||^2 + LAM * sum ||u_t||^2.
A = torch.tensor([[0.9, 0.2], [-0.1, 0.95]])
B = torch.tensor([[1.0, 0.3], [0.0, 0.8]])
X0 = torch.tensor([0.5, -0.3])
LAM = 0.1
H = 4


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny batched ops are slowest with several threads on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def linear_objective(goal, a_mat=A, b_mat=B, x0=X0):
    def objective(u):
        x = x0.expand(u.shape[0], -1)
        for t in range(u.shape[1]):
            x = x @ a_mat.T + u[:, t] @ b_mat.T
        return (x - goal).square().sum(-1) + LAM * u.square().sum((1, 2))

    return objective


def closed_form(goal, horizon=H):
    """Unconstrained optimum: ridge least squares over the stacked actions."""
    a, b, x0 = A.double(), B.double(), X0.double()
    blocks = [torch.linalg.matrix_power(a, horizon - 1 - t) @ b for t in range(horizon)]
    m = torch.cat(blocks, 1)  # x_H = A^H x0 + m @ vec(u)
    rhs = goal.double() - torch.linalg.matrix_power(a, horizon) @ x0
    u = torch.linalg.solve(m.T @ m + LAM * torch.eye(m.shape[1], dtype=torch.float64), m.T @ rhs)
    return u.reshape(horizon, -1).float()


def all_planners():
    return {
        "cem": CEMPlanner(),
        "mppi": MPPIPlanner(),
        "gd": GradientPlanner(),
    }


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_reaches_closed_form_optimum(name):
    goal = torch.tensor([1.5, 1.0])
    u_star = closed_form(goal)
    low, high = torch.full((2,), -2.0), torch.full((2,), 2.0)
    assert u_star.abs().max() < 1.5  # optimum strictly inside the bounds
    f = linear_objective(goal)
    best = f(u_star[None]).item()
    zero = f(torch.zeros(1, H, 2)).item()
    res = all_planners()[name].plan(f, H, low, high, generator=torch.Generator().manual_seed(0))
    assert res.actions.shape == (H, 2)
    assert res.cost == pytest.approx(f(res.actions[None]).item(), rel=1e-5, abs=1e-6)
    assert res.cost - best <= 2e-3 * (zero - best)
    assert (res.actions - u_star).abs().max() < 0.2
    assert len(res.costs_per_iteration) > 1
    assert all(
        b <= a
        for a, b in zip(res.costs_per_iteration[:-1], res.costs_per_iteration[1:], strict=True)
    )


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_optimum_outside_bounds_lands_on_bound(name):
    # Identity dynamics from 0 towards a far goal: every action should push at full strength.
    goal = torch.tensor([10.0, -10.0])
    f = linear_objective(goal, torch.eye(2), torch.eye(2), torch.zeros(2))
    low, high = torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0])
    seen = []

    def recording(u):
        seen.append(u.detach().clone())
        return f(u)

    res = all_planners()[name].plan(
        recording, 3, low, high, generator=torch.Generator().manual_seed(1)
    )
    expected = torch.tensor([1.0, -1.0]).expand(3, 2)
    assert (res.actions - expected).abs().max() < 0.02
    assert ((res.actions >= low) & (res.actions <= high)).all()
    evaluated = torch.cat(seen)
    assert ((evaluated >= low) & (evaluated <= high)).all()


@pytest.mark.parametrize("name", [*PLANNER_NAMES, "discrete"])
def test_bounds_never_violated_and_one_batched_call_per_iteration(name):
    low, high = torch.tensor([-0.5, 0.1]), torch.tensor([0.7, 2.0])
    target = torch.tensor([[3.0, -3.0], [-3.0, 3.0], [0.2, 1.0]])
    calls = []

    def objective(u):
        calls.append(u.detach().clone())
        return (u - target).square().sum((1, 2))

    if name == "discrete":
        values = torch.linspace(-0.5, 0.7, 8)[:, None].repeat(1, 2)
        planner = DiscretePlanner(values, samples=64, exhaustive_limit=100)
        iterations, batch = planner.iterations, 64
    else:
        planner = make_planner(name, samples=64, elites=8, iterations=7)
        iterations, batch = 7, 64 if name != "gd" else planner.restarts
    res = planner.plan(objective, 3, low, high, generator=torch.Generator().manual_seed(2))
    assert len(calls) == iterations
    assert all(c.shape == (batch, 3, 2) for c in calls)
    if name != "discrete":
        evaluated = torch.cat(calls)
        assert ((evaluated >= low) & (evaluated <= high)).all()
        assert ((res.actions >= low) & (res.actions <= high)).all()


def test_cem_warm_start_at_optimum_is_kept():
    goal = torch.tensor([1.5, 1.0])
    u_star = closed_form(goal)
    f = linear_objective(goal)
    res = CEMPlanner(iterations=1).plan(
        f,
        H,
        torch.full((2,), -2.0),
        torch.full((2,), 2.0),
        init=u_star,
        generator=torch.Generator().manual_seed(3),
    )
    assert res.cost <= f(u_star[None]).item() + 1e-6


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_warm_start_helps(name):
    goal = torch.tensor([1.5, 1.0])
    u_star = closed_form(goal)
    f = linear_objective(goal)
    low, high = torch.full((2,), -2.0), torch.full((2,), 2.0)
    planner = make_planner(name, iterations=2)
    cold = planner.plan(f, H, low, high, generator=torch.Generator().manual_seed(4))
    warm = planner.plan(f, H, low, high, init=u_star, generator=torch.Generator().manual_seed(4))
    assert warm.cost < cold.cost
    assert warm.cost <= f(u_star[None]).item() + 1e-6


@pytest.mark.parametrize("name", [*PLANNER_NAMES, "discrete"])
def test_same_seed_same_plan(name):
    f = linear_objective(torch.tensor([1.5, 1.0]))
    low, high = torch.full((2,), -2.0), torch.full((2,), 2.0)
    if name == "discrete":
        planner = DiscretePlanner(torch.linspace(-2, 2, 9)[:, None].repeat(1, 2), iterations=3)
    else:
        planner = make_planner(name, iterations=3)
    runs = [
        planner.plan(f, H, low, high, generator=torch.Generator().manual_seed(s)) for s in (5, 5, 6)
    ]
    assert torch.equal(runs[0].actions, runs[1].actions)
    assert runs[0].costs_per_iteration == runs[1].costs_per_iteration
    assert not torch.equal(runs[0].actions, runs[2].actions)


@pytest.mark.parametrize("name", PLANNER_NAMES)
def test_nan_costs_are_skipped(name):
    f = linear_objective(torch.tensor([1.5, 1.0]))

    def objective(u):
        c = f(u)
        return torch.where(u[:, 0, 0] > 0.5, torch.full_like(c, float("nan")), c)

    res = make_planner(name, iterations=5).plan(
        objective,
        H,
        torch.full((2,), -2.0),
        torch.full((2,), 2.0),
        generator=torch.Generator().manual_seed(7),
    )
    assert res.actions[0, 0] <= 0.5
    assert res.cost == pytest.approx(f(res.actions[None]).item(), rel=1e-5)


def toy_1d(values):
    """1-D position from 0; cost: summed squared distance to +3 over the horizon."""

    def objective(u):
        pos = u[..., 0].cumsum(1)
        return (pos - 3.0).square().sum(1)

    return objective


def test_discrete_exhaustive_push_push_push():
    names = ["push", "wait", "pull", "lift"]
    values = torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    calls = []
    f = toy_1d(values)

    def objective(u):
        calls.append(u.shape)
        return f(u)

    planner = DiscretePlanner(values, names)
    res = planner.plan(objective, 3)
    assert calls == [(4**3, 3, 2)]
    assert planner.describe(res.indices) == ["push", "push", "push"]
    assert torch.equal(res.actions, values[[0, 0, 0]])
    assert res.cost == pytest.approx(4.0 + 1.0)


def test_discrete_categorical_cem_finds_unique_optimum():
    names = ["push", "wait", "pull", "nudge", "back", "jump"]
    values = torch.tensor([[1.0], [0.0], [-1.0], [0.5], [-0.5], [2.0]])
    planner = DiscretePlanner(values, names, iterations=15)
    horizon = 8
    assert len(values) ** horizon > planner.exhaustive_limit  # categorical CEM regime
    res = planner.plan(toy_1d(values), horizon, generator=torch.Generator().manual_seed(8))
    # Positions 2, 3, 3, ...: cost 1, reached only by jump, push, then waiting.
    assert planner.describe(res.indices) == ["jump", "push"] + ["wait"] * 6
    assert res.cost == pytest.approx(1.0)
    assert len(res.costs_per_iteration) == 15


def test_discrete_warm_start_from_actions():
    values = torch.tensor([[1.0], [0.0], [-1.0], [0.5], [-0.5], [2.0]])
    init = torch.tensor([[2.1], [0.9]] + [[0.1]] * 6)  # nearest: jump, push, wait...
    res = DiscretePlanner(values, iterations=1, samples=32, elites=4).plan(
        toy_1d(values), 8, init=init, generator=torch.Generator().manual_seed(9)
    )
    assert res.cost == pytest.approx(1.0)


def test_make_planner_names_and_budget():
    with pytest.raises(AmiError, match="cem, mppi, gd"):
        make_planner("rrt")
    with pytest.raises(AmiError, match="budget"):
        make_planner("cem", iteratons=3)
    cem = make_planner("cem", samples=50, elites=5, iterations=3)
    assert (cem.samples, cem.elites, cem.iterations) == (50, 5, 3)
    gd = make_planner("gradient", samples=50, elites=None, iterations=4)
    assert isinstance(gd, GradientPlanner) and gd.iterations == 4
    assert isinstance(make_planner("mppi"), MPPIPlanner)


def test_bad_inputs_raise_ami_error():
    f = linear_objective(torch.zeros(2))
    low, high = torch.full((2,), -1.0), torch.ones(2)
    planner = CEMPlanner(iterations=1)
    with pytest.raises(AmiError):
        CEMPlanner(samples=10, elites=20)
    with pytest.raises(AmiError):
        planner.plan(f, 0, low, high)
    with pytest.raises(AmiError):
        planner.plan(f, 3, high, low)
    with pytest.raises(AmiError):
        planner.plan(f, 3, low, torch.ones(3))
    with pytest.raises(AmiError):
        planner.plan(f, 3, low, high, init=torch.zeros(2, 2))
    with pytest.raises(AmiError, match="costs"):
        planner.plan(lambda u: u.sum(), 3, low, high)
    with pytest.raises(AmiError, match="differentiable"):
        GradientPlanner(iterations=2).plan(lambda u: f(u).detach(), 3, low, high)
    with pytest.raises(AmiError):
        DiscretePlanner(torch.zeros(3, 1), names=["a", "b"])


def test_shift_plan():
    plan = torch.arange(8.0).reshape(4, 2)
    assert torch.equal(shift_plan(plan, 1), torch.tensor([[2.0, 3], [4, 5], [6, 7], [6, 7]]))
    assert torch.equal(shift_plan(plan, 2, fill="zero")[2:], torch.zeros(2, 2))
    assert torch.equal(shift_plan(plan, 0), plan)
    assert torch.equal(shift_plan(plan, 9), torch.tensor([[6.0, 7]]).expand(4, 2))
    with pytest.raises(AmiError):
        shift_plan(plan, -1)
