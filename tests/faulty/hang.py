"""A model module that never finishes importing."""

import time

time.sleep(600)


def build() -> None:  # pragma: no cover - never reached
    pass
