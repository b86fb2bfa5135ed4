"""A model module that takes far more memory than the limit the test sets."""

import time

BLOB = bytearray(700 * 2**20)
for i in range(0, len(BLOB), 4096):  # touch every page so it is resident
    BLOB[i] = 1
time.sleep(600)


def build() -> None:  # pragma: no cover - never reached
    pass
