"""Entry point of the one-folder PyInstaller build: the same `syncwatch` command as pip's."""

import sys

from syncwatch.cli import main

if __name__ == "__main__":
    sys.exit(main())
