"""``python -m pyrt.venues.local [--port 8765] ...``: serve the local venue until Ctrl-C."""

from __future__ import annotations

import logging
import sys

from ._cli import run_venue_cli

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(run_venue_cli(sys.argv[1:]))
