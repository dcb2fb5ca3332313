"""`python -m modelrollout_operator.cli` runs the `modelrollout` command line."""

import sys

from . import main

sys.exit(main())
