"""``python -m audiogan`` (also what ``torchrun -m audiogan`` runs)."""

import sys

from audiogan.cli import main

sys.exit(main())
