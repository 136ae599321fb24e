"""Log records that cannot be forged and carry no patient data (OWASP ASVS 4.0 7.1.1, 7.1.2, 7.3.1, 8.3.1).

- :class:`RequestIdFilter` stamps each record with the id of the request being served (or ``-``), the id
  that the 500 page shows, so a report from a user leads to the log line;
- :class:`RoutePathFilter` replaces a request's URL path in Django's request records by the route pattern
  that matched it (``clinic/<str:centre_code>/patients/<pkey:patient_key>/``): paths name records (a
  patient by an opaque key, :mod:`openhsct.security.keys`), route patterns name none;
- :class:`SafeFormatter` escapes line breaks and other control characters in every message, so text a
  user typed (a username, a form value) cannot start a new, forged log line; a traceback's lines follow
  the record indented with ``  | ``.
"""

from __future__ import annotations

import contextvars
import logging
import re

#: The id of the request this thread or task serves (set by :class:`openhsct.site.security.RequestIdMiddleware`).
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("openhsct_request_id", default="-")

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
CONTINUATION = "  | "


def escape(text: str) -> str:
    """``text`` with line breaks and control characters written as escapes (``\\n``, ``\\x1b``,
    ``\\u2028``). Returns a string that prints on one line."""

    def one(match: re.Match) -> str:
        char = match.group()
        if char in _NAMED:
            return _NAMED[char]
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(one, text)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request's id, ``-`` outside a request). Keeps every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


def route_of(request) -> str:
    """The route pattern that matched ``request`` (``/`` + pattern), or ``(unmatched path)``. Returns text
    with no part of the requested path in it."""
    match = getattr(request, "resolver_match", None)
    if match is None or getattr(match, "route", None) is None:
        return "(unmatched path)"
    return "/" + str(match.route)


class RoutePathFilter(logging.Filter):
    """In records that carry a ``request`` (Django's ``django.request`` and ``django.security`` loggers), the
    request's path among the arguments becomes its route pattern. Keeps every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        if path and isinstance(record.args, tuple):
            route = route_of(request)
            record.args = tuple(route if arg == path or arg == request.get_full_path() else arg
                                for arg in record.args)
        return True


class SafeFormatter(logging.Formatter):
    """One line per record: the message escaped (:func:`escape`); a traceback, when there is one, on the
    following lines, each starting with ``  | `` so none can pass for a record of its own."""

    def __init__(self, fmt: str = LINE_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        saved = record.msg, record.args, record.exc_text, record.stack_info
        record.msg, record.args = escape(record.getMessage()), None
        record.exc_text, record.stack_info = None, None
        exc_info = record.exc_info
        record.exc_info = None
        try:
            line = super().format(record)
        finally:
            record.msg, record.args, record.exc_text, record.stack_info = saved
            record.exc_info = exc_info
        extra = []
        if exc_info:
            extra.append(self.formatException(exc_info))
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        for block in extra:
            line += "".join("\n" + CONTINUATION + escape(part) for part in block.splitlines())
        return line


def logging_config(*, level: str = "WARNING", stream: bool = False) -> dict:
    """Django's LOGGING; with ``stream``, records at ``level`` and above go to stderr through the filters
    above and :class:`SafeFormatter`. django-axes' own messages are dropped
    (login failures are audited by the registry, not logged). Returns the dictConfig dictionary."""
    handlers = {"null": {"class": "logging.NullHandler"}}
    root_handlers: list[str] = []
    if stream:
        handlers["stderr"] = {
            "class": "logging.StreamHandler", "formatter": "safe", "filters": ["request_id", "route_path"],
            "level": level,
        }
        root_handlers = ["stderr"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "openhsct.site.logs.RequestIdFilter"},
            "route_path": {"()": "openhsct.site.logs.RoutePathFilter"},
        },
        "formatters": {"safe": {"()": "openhsct.site.logs.SafeFormatter"}},
        "handlers": handlers,
        "root": {"handlers": root_handlers, "level": level},
        "loggers": {
            "axes": {"handlers": ["null"], "propagate": False},
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.request": {"level": "WARNING"},
            "openhsct": {"level": "INFO"},
        },
    }
