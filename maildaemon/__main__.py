"""`python -m maildaemon` is the same as the `maildaemon` console script."""

import sys

from maildaemon.cli import main

sys.exit(main())
