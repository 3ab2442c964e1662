"""``python -m rpochaos.images``: see ``rpochaos.images.cli``."""

import sys

from rpochaos.images.cli import main

sys.exit(main())
