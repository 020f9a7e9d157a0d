"""`import amiwm` stays light and still registers the Gymnasium ids."""

import subprocess
import sys


def run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_amiwm_does_not_import_gymnasium_or_torch():
    assert run("import sys, amiwm; print('gymnasium' in sys.modules, 'torch' in sys.modules)") == (
        "False False"
    )


def test_ids_registered_whether_gymnasium_comes_first_or_second():
    make = "print(gymnasium.make('amiwm/TwoRooms-v0').spec.id)"
    assert run(f"import amiwm, gymnasium; {make}") == "amiwm/TwoRooms-v0"
    assert run(f"import gymnasium, amiwm; {make}") == "amiwm/TwoRooms-v0"
    assert run("import gymnasium; print('amiwm/TwoRooms-v0' in gymnasium.registry)") == "False"
