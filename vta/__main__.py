"""``python -m vta`` and the ``vta`` command."""

import sys

from vta.cli import main

if __name__ == "__main__":
    sys.exit(main())
