"""The goal-offset protocol, the episode loop and the Agent protocol import without torch, so an
outside world model (benchmarks/swm/lewm_side.py, run under another torch) can be evaluated by
the same code."""

import subprocess
import sys

TORCH_FREE = (
    "amiwm.planning.base",
    "amiwm.planning.episodes",
    "amiwm.planning.protocol",
    "amiwm.envs.blocks",
    "amiwm.data.collect",
)


def test_protocol_modules_do_not_import_torch():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in TORCH_FREE)
        + "from amiwm.planning.protocol import evaluate_protocol, goal_pairs\n"
        + "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_planners_still_work_with_lazy_torch():
    import torch

    from amiwm.planning.base import clamp_actions, prepare, shift_plan

    low, high, mean = prepare(3, torch.full((2,), -1.0), torch.ones(2), None)
    assert mean.shape == (3, 2) and torch.equal(mean, torch.zeros(3, 2))
    assert torch.equal(clamp_actions(torch.full((2,), 5.0), low, high), torch.ones(2))
    plan = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(shift_plan(plan, 1), torch.tensor([[2.0, 3], [4, 5], [4, 5]]))
