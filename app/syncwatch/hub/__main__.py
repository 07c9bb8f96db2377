"""``python -m syncwatch.hub``: the same as ``syncwatch hub``."""

import sys

from syncwatch.hub.command import main

sys.exit(main())
