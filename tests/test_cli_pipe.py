"""`ami-cli data inspect X | head`: a reader that goes away ends the command quietly."""

import subprocess
import sys

import numpy as np

from amiwm.data.store import EpisodeWriter


def test_inspect_into_a_closed_pipe(tmp_path):
    store = tmp_path / "d.h5"
    with EpisodeWriter(store, obs_shape=(3,), obs_dtype=np.float32, action_dim=1) as w:
        w.add_episode(np.zeros((5, 3), np.float32), np.zeros((5, 1), np.float32))
    proc = subprocess.Popen(
        [sys.executable, "-m", "amiwm.cli", "data", "inspect", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader (head) is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err and err == ""
