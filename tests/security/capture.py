"""The session-wide log capture: every log record of the test session, formatted as production writes it
(:class:`openhsct.site.logs.SafeFormatter` with the request-id and route filters), plus the output of the
servers the tests start. ``tests/security/test_logs.py`` scans it for planted canaries."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from openhsct.site.logs import RequestIdFilter, RoutePathFilter, SafeFormatter

#: Loggers that do not pass their records to the root logger (axes: its own null handler).
NON_PROPAGATING = ("axes",)


class LogCapture(logging.Handler):
    """Keeps each record as the line production would write and knows the servers' output files."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.server_outputs: list[Path] = []
        self.addFilter(RequestIdFilter())
        self.addFilter(RoutePathFilter())
        self.setFormatter(SafeFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def add_server_output(self, path: Path) -> None:
        """Include the file ``path`` (a server's stdout and stderr) in :meth:`text`."""
        self.server_outputs.append(path)

    def text(self) -> str:
        """Everything captured so far: the formatted records, then each server's output. Returns one string."""
        parts = ["\n".join(self.lines)]
        parts += [p.read_text(encoding="utf-8", errors="replace") for p in self.server_outputs if p.exists()]
        return "\n".join(parts)


@contextmanager
def session_capture() -> Iterator[LogCapture]:
    """Attach a :class:`LogCapture` to the root logger (and to the loggers that do not propagate) for the
    duration. Yields it."""
    capture = LogCapture()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in NON_PROPAGATING)]
    reattach(capture)
    try:
        yield capture
    finally:
        for logger in loggers:
            logger.removeHandler(capture)


def reattach(capture: LogCapture) -> None:
    """Attach ``capture`` to the root logger and the non-propagating ones where it is missing (a test that
    configures logging, e.g. by starting the command line in-process, replaces the root's handlers).
    Returns nothing."""
    for logger in [logging.getLogger(), *(logging.getLogger(name) for name in NON_PROPAGATING)]:
        if capture not in logger.handlers:
            logger.addHandler(capture)
