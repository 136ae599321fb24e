"""The error raised when a comparison cannot be made as asked (too few patients, no overlap, bad input)."""

from __future__ import annotations

from openhsct.errors import OpenHSCTError


class ComparativeError(OpenHSCTError):
    """A comparative analysis that cannot run on these data; the message says why and what to change."""

    exit_code = 2
