"""What the collect worker says: a failure as one line, and the time each phase took.

Pure Python, no TensorFlow: every collect module uses it, whatever it loads, and the
worker can report a failure before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator


class CollectFailure(Exception):
    """A model-specific failure inside the worker; its message becomes the user's one line."""


ONE_LINE_LIMIT = 300
"""Characters of an exception's text kept in a one-line message. Long enough for the whole
cause TensorFlow and Keras state once their framing is dropped (a failed reshape in a
tf.function: 259 characters with its type; Keras's "could not infer the output shape" of a
layer: 295); what it cuts is the tail of a dump, such as the object config Keras appends
to "Could not locate class" (323). Short enough that the line the user reads, our own
words around it included (``slug: the forward pass cannot be traced as a TensorFlow
graph: …``, up to about 100 characters), stays within the 400 that ``reportgen.jsonfile``
allows a message."""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FRAME = re.compile(r'File ".*", line \d+')
"""A traceback frame as tf.function quotes it; the line after it is the quoted source."""
_ERROR_NAME = re.compile(r"\w+(Error|Exception)\b")


def one_line(exc: BaseException, *, typed: bool = False) -> str:
    """The cause an exception states, on one line of at most :data:`ONE_LINE_LIMIT` characters.

    Line breaks and runs of whitespace become single spaces. What TensorFlow and Keras wrap
    round the cause is dropped: terminal colours; tf.function's ``in user code:`` with its
    traceback frames (each ``File "…", line N`` and the source line quoted after it);
    Keras's ``Exception encountered when calling …``; everything from ``Arguments received
    by …`` on. An empty message is the exception's type name. ``typed`` puts the type name
    in front (``ValueError: …``) unless the text already starts with an error's name.
    """
    kept: list[str] = []
    skip_next = False
    for raw in _ANSI.sub("", str(exc)).splitlines():
        line = raw.strip()
        if skip_next:
            skip_next = False
            continue
        if _FRAME.match(line):
            skip_next = True
            continue
        if line.startswith("Arguments received by"):
            break
        if line and line != "in user code:" and not line.startswith("Exception encountered when"):
            kept.append(line)
    text = " ".join(" ".join(kept).split()) or type(exc).__name__
    if typed and not _ERROR_NAME.match(text):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= ONE_LINE_LIMIT else text[: ONE_LINE_LIMIT - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Where the collect worker's time goes

PHASE_LOGGER = "reportgen.collect.phase"
"""Logger of one line per phase of a collection; the worker sends it to its log."""
_phase_log = logging.getLogger(PHASE_LOGGER)
_phase_depth = 0


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Log the wall and CPU time (all threads) of the block, indented by nesting depth."""
    global _phase_depth
    wall, cpu = time.perf_counter(), time.process_time()
    _phase_depth += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        _phase_depth -= 1
        if _phase_log.isEnabledFor(logging.INFO):
            _phase_log.info(
                "phase %-40s %7.2f s wall %7.2f s CPU%s",
                "  " * _phase_depth + name,
                time.perf_counter() - wall,
                time.process_time() - cpu,
                " (failed)" if failed else "",
            )
