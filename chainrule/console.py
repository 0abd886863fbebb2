"""Writing to a terminal or a pipe: stop quietly when the reader goes away (``… | head``)."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_broken_pipe():
    """Inside, a closed stdout ends the program quietly (exit 0) instead of a BrokenPipeError traceback."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the interpreter's final flush is quiet
        raise SystemExit(0) from None
