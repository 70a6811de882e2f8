"""Imported first by every stage: this checkout's ``src/`` goes first on ``sys.path``.

So a stage runs the library of the checkout it belongs to, never another
installed copy: ``dvc exp run --queue`` runs experiments in temporary copies
of the repository, whose code may differ from the workspace's.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
