"""`jitspot serve` on the command line: loopback by default, clear errors, Ctrl-C ends it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from conftest import Result

from jitspot.web.server import is_loopback

Run = Callable[..., Result]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve__beyond_loopback_needs_allow_remote(run: Run) -> None:
    result = run("serve", "--host", "0.0.0.0")

    assert result.exit_code == 2
    assert "--allow-remote" in result.stderr


def test_serve__a_port_in_use_is_a_config_error_that_says_so(run: Run) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run("serve", "--port", str(port))

    assert result.exit_code == 78
    assert result.stderr == (
        f"jitspot: port {port} on 127.0.0.1 is in use (another jitspot serve?); choose one with --port\n"
    )


@pytest.fixture
def serving(home: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`jitspot serve --port 0` in its own process; yields it and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jitspot", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "JITSPOT_HOME": str(home)},
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        yield process, found.group()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _get(url: str) -> requests.Response:
    deadline = time.monotonic() + 15
    while True:
        try:
            return requests.get(url, timeout=10)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve__answers_on_loopback_and_a_signal_ends_it_with_0(
    serving: tuple[subprocess.Popen[str], str], stop: signal.Signals
) -> None:
    process, url = serving

    page = _get(url)
    process.send_signal(stop)
    code = process.wait(timeout=30)

    assert page.status_code == 200
    assert "jitspot" in page.text
    assert code == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()
