"""A model module that ends the process outright (os._exit) while being imported."""

import os

os._exit(7)


def build() -> None:  # pragma: no cover - never reached
    pass
