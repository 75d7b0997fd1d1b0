"""``python -m audiogan`` (also what ``torchrun -m audiogan`` runs)."""

import sys

from .cli import main

sys.exit(main())
