"""The stages' error boundary: a stage script's ``main`` run so that bad input is one line and exit status 1.

Every script under ``stages/`` ends with ``stage_main(main)``. A ``UserError``
(``pixelcnn.errors``) prints ``error: <its sentence>`` once (from rank 0
under ``torchrun``) and exits 1; anything else is a bug and keeps its
traceback. Standard library only, so that ``check_params`` stays free of torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from pixelcnn.errors import UserError


def stage_main(main: Callable[[list[str]], int | None]) -> None:
    """Run ``main(argv)``; a ``UserError`` prints its one sentence (once, from rank 0) and exits 1."""
    try:
        code = main(sys.argv[1:])
    except UserError as exc:
        if os.environ.get("RANK", "0") == "0":
            print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    if code:
        raise SystemExit(code)
