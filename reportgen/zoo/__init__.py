"""The built-in reference models: their factories (``lenet.py``, ``applications.py``, ...),
their articles (``articles/``) and the configuration that lists them (``reportgen.toml``,
:data:`reportgen.config.BUILTIN_CONFIG`), read like any project's configuration.

Importing this package imports nothing else: the factories' modules are imported by the
collect worker, by name, as a project's own factories are.
"""
