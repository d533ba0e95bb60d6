"""`python -m carbonctl` is the `carbonctl` console script."""

import sys

from carbonctl.cli import main

sys.exit(main())
