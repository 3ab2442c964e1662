"""``python -m rpochaos.gameday plan PLAN --inventory INV [...]`` / ``... heal --inventory INV``."""

import sys

from rpochaos.gameday.cli import main

sys.exit(main())
