"""The one base error that every user-facing failure derives from.

The CLI turns an :class:`OpenHSCTError` into a short Rich message and its ``exit_code``;
anything else is a bug and is shown as one (with a traceback only when ``OPENHSCT_DEBUG`` is set).
"""

from __future__ import annotations


class OpenHSCTError(Exception):
    """A failure the user can act on. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        if exit_code is not None:
            self.exit_code = exit_code


class ValidationError(OpenHSCTError):
    """Input broke one or more rules; ``details`` lists each as ``FILE:ROW:COLUMN: rule (value)``."""

    exit_code = 2
