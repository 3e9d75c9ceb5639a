"""``python -m r1lib`` runs the CLI."""

import sys

from r1lib.app.cli import main

sys.exit(main())
