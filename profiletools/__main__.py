"""Run the command line: ``python -m profiletools``."""

import sys

from profiletools.cli import main

sys.exit(main())
