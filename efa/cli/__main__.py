"""``python -m efa.cli``: the ``efa`` command (the workflow's jobs run it so)."""

import sys

from efa.cli.main import main

sys.exit(main())
