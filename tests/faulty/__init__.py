"""Model sources that fail in every way a user's model can, for the fault tests.

Each failure happens when the worker imports or calls the source; the ones at import time
strike before TensorFlow loads, so their tests stay fast.
"""
