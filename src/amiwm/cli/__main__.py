"""`python -m amiwm.cli COMMAND FLAGS`, also what torchrun launches (`-m amiwm.cli train ...`)."""

import os
import sys

from amiwm.cli import main

status = main()
if "WORLD_SIZE" in os.environ:
    sys.stdout.flush()
    sys.stderr.flush()
    # Under torchrun everything is written and closed: skip the C++ teardown at interpreter
    # exit, which with gloo can abort ("terminate called without an active exception").
    os._exit(status)
sys.exit(status)
