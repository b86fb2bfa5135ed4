"""The errors a user can cause. The CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class ReportgenError(Exception):
    """Base class: anything raised as this is reported without a traceback."""

    def _render_traceback_(self) -> list[str]:
        """IPython's hook: in a notebook, the same one line the command line prints.

        The error is the user's to fix (a wrong argument, a model that cannot be described),
        so the frames of reportgen and TensorFlow that led to it would only hide the line.
        """
        return [f"{type(self).__name__}: {self}"]


class ConfigError(ReportgenError):
    """The configuration file, or a command-line selection, is wrong."""


class CollectError(ReportgenError):
    """Collecting facts from a model failed (bad source, factory raised, worker died)."""

    def __init__(self, slug: str, message: str) -> None:
        super().__init__(f"{slug}: {message}")
        self.slug = slug
        self.message = message


class CheckError(ReportgenError):
    """A derived number disagrees with Keras or the runtime and --strict was given."""


class RenderError(ReportgenError):
    """A page could not be rendered or the site could not be written."""
