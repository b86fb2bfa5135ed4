"""A native crash at import: the worker dies of SIGSEGV."""

import os
import signal

os.kill(os.getpid(), signal.SIGSEGV)


def build() -> None:  # pragma: no cover - never reached
    pass
