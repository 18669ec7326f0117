"""Where the suite's market data lives: ``tests/data/``, inside the repository (see its README)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
