"""Run the command line: ``python -m profiletools``."""

import sys

from profiletools.cli import main

if __name__ == "__main__":  # (importing the module, as documentation tools do, runs nothing)
    sys.exit(main())
