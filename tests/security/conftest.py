"""Fixtures of the security tests: a production-settings server on loopback (:mod:`tests.security.live`)."""

from __future__ import annotations

import pytest

from tests.security import live


@pytest.fixture(scope="session")
def live_site(tmp_path_factory, captured_logs):
    """The running production-settings server; its output joins the session's log capture. Stopped by PID
    at the end of the session."""
    folder = tmp_path_factory.mktemp("live-site")
    site = live.start(folder, folder / "server-output.log")
    captured_logs.add_server_output(site.output)
    try:
        yield site
    finally:
        live.stop(site.process)
