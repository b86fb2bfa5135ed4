"""Shared fixtures. TensorFlow is imported at most once per test session, lazily.

Two tiers (``tests/test_tiers.py`` states the rule): ``test_tf_*`` modules may use
TensorFlow and collect workers; in every other module, :func:`fast_tier_guard` fails a
test that starts a collect worker or imports TensorFlow or Keras.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

TF_TIER_PREFIX = "test_tf_"
"""A test module whose name starts so is the TensorFlow tier; every other is the fast one."""

TF_MODULES = ("tensorflow", "keras")


@pytest.fixture(scope="session")
def lenet_model() -> Any:
    """The built-in Keras LeNet (random weights), built once for every TF test."""
    from reportgen.zoo.lenet import build_lenet

    return build_lenet()


@pytest.fixture(autouse=True)
def fast_tier_guard(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Outside ``test_tf_*`` modules: no collect worker, no TensorFlow or Keras import.

    A worker is refused before it starts. An import is seen only when TensorFlow was not
    loaded before the test (an earlier TensorFlow-tier test in the same session loads it),
    so ``pytest -m "not tf"`` checks every fast test.
    """
    if Path(str(request.node.path)).name.startswith(TF_TIER_PREFIX):
        yield
        return
    started: list[str] = []

    def refuse(self: Any, argv: list[str], *args: Any, **kwargs: Any) -> int:
        started.append(" ".join(argv[1:]))
        raise AssertionError("a fast-tier test started a collect worker")

    monkeypatch.setattr("reportgen.collect.WorkerGroup.run", refuse)
    loaded_before = {name for name in TF_MODULES if name in sys.modules}
    yield
    where = f"{request.node.nodeid}: move it to a {TF_TIER_PREFIX}* module (tests/test_tiers.py)"
    assert not started, f"started a collect worker ({started[0]}); {where}"
    imported = [n for n in TF_MODULES if n in sys.modules and n not in loaded_before]
    assert not imported, f"imported {imported[0]}; {where}"
