import sys

from amiwm.cli import main

sys.exit(main())
