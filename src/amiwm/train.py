"""`python -m amiwm.train FLAGS` is `ami-cli train FLAGS`: the module torchrun launches.

torchrun --nproc_per_node=4 -m amiwm.train --dataset data.h5 --out runs/ddp
"""

import os
import sys

from amiwm.cli import main

if __name__ == "__main__":
    status = main(["train", *sys.argv[1:]])
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written and closed. Skip the C++ teardown at interpreter exit: with gloo it
    # can abort ("terminate called without an active exception") after a successful run.
    os._exit(status)
