"""Secrets never reach stderr: not in messages, arguments, tracebacks or stack dumps."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result

from jitspot.logs import configure_logging, register_secret

Run = Callable[..., Result]
SECRET = "s3cr3t-client-value"
BEARER = "BQDx9.tokenpart_Zz-42"


@pytest.mark.usefixtures("restore_logging")
def test_logs__exception_traceback_is_redacted(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(debug=True, verbose=False, quiet=False)
    register_secret(SECRET)
    log = logging.getLogger("jitspot.test")

    try:
        raise RuntimeError(f"token call failed: secret={SECRET} Authorization: Bearer {BEARER}")
    except RuntimeError:
        log.exception("refresh failed for %s", SECRET)
    err = capfd.readouterr().err

    assert "Traceback" in err and "RuntimeError: token call failed" in err
    assert SECRET not in err
    assert BEARER not in err


@pytest.mark.usefixtures("restore_logging")
def test_logs__stack_info_is_redacted(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(debug=True, verbose=False, quiet=False)
    register_secret("s3cr3t_client_value")

    def where_the_secret_is_named_s3cr3t_client_value() -> None:
        logging.getLogger("jitspot.test").debug("here", stack_info=True)

    where_the_secret_is_named_s3cr3t_client_value()
    err = capfd.readouterr().err

    assert "Stack (most recent call last)" in err
    assert "where_the_secret_is_named_***" in err


@pytest.mark.usefixtures("restore_logging")
def test_cli_debug__token_in_a_source_url_is_never_printed(run: Run) -> None:
    url = f"http://127.0.0.1:9/releases.xlsx?access_token={BEARER}"

    result = run("--debug", "import", url)

    assert result.exit_code != 0
    assert "Traceback" in result.stderr  # --debug did print the traceback...
    assert BEARER not in result.stderr  # ...without the token, there or in the one line
    assert result.stderr.splitlines()[-1].startswith("jitspot: ")


@pytest.mark.usefixtures("restore_logging")
def test_cli_debug__unexpected_error_is_logged_redacted_then_one_line(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug no part of jitspot expects, whose text carries a token: the boundary
    # must log it through the redacting handler and still end in one line.
    from jitspot.sheets import importer

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom with Authorization: {BEARER}")

    monkeypatch.setattr(importer, "import_source", broken)
    source = tmp_path / "export.json"
    source.write_text(json.dumps([{"artist": "Mgła", "title": "Age"}]))

    result = run("--debug", "import", str(source))

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith("ERROR jitspot: unexpected") for line in lines)
    assert "Traceback" in result.stderr
    assert BEARER not in result.stderr
    assert lines[-1].startswith("jitspot: unexpected RuntimeError")
