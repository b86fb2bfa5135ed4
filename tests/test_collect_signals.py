"""Ctrl-C and SIGTERM stop a build at once, whichever thread the kernel hands them to."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

import reportgen.collect as collect
from reportgen.config import load_config


def test_a_signal_taken_by_a_pool_thread_still_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The kernel may deliver a process signal to any thread. Python runs the handler in
    the main thread, but only when that thread wakes up: an endless ``Future.result()``
    left it asleep until the worker ended (the test ``test_interrupt_...`` hung this way)."""
    spec = load_config().select(["lenet"])[0]
    # As under a terminal: a suite run in the background without job control inherits
    # an ignored SIGINT.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))

    def hanging_collect(*args: object, group: collect.WorkerGroup, **kwargs: object) -> Path:
        time.sleep(0.5)  # let the main thread settle into its wait first
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # this pool thread only
        deadline = time.monotonic() + 10
        while not group.stopping.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise collect.CollectError(spec.slug, "interrupted")

    monkeypatch.setattr(collect, "collect_one", hanging_collect)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        collect.collect_models([spec], tmp_path)
    assert time.monotonic() - started < 5
