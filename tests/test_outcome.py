"""How a run of refresh or match ended: its exit code, and its JSON (keys, order, values)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import START

from jitspot.errors import ConfigError, JitspotError, RateLimited, SpotifyUnavailable, Stopped
from jitspot.jobs.match import MatchReport
from jitspot.jobs.outcome import exit_code_for
from jitspot.jobs.refresh import RefreshReport

NOT_BEFORE = datetime.fromtimestamp(START + 3600, UTC).isoformat(timespec="seconds")

# -- exit_code_for -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "failed", "code"),
    [
        (None, 0, 0),
        (None, 1, 1),
        (None, 12, 1),
        (SpotifyUnavailable("unreachable"), 0, 69),
        (RateLimited(datetime.fromtimestamp(START + 3600, UTC)), 0, 75),
        (Stopped("signal"), 0, 75),
        (Stopped("max_time"), 3, 75),  # the error decides, not the failures
        (ConfigError("set SPOTIPY_CLIENT_ID"), 0, 78),
    ],
)
def test_exit_code_for(error: JitspotError | None, failed: int, code: int) -> None:
    assert exit_code_for(error, failed) == code


# -- the reports' JSON ---------------------------------------------------------------------


def test_refresh_report__json_keys_in_their_order_with_their_values() -> None:
    report = RefreshReport(
        selected=20,
        refreshed=3,
        not_found=4,
        failed=5,
        skipped=6,
        up_to_date=7,
        left=8,
        covers=9,
        artists=10,
        api_calls=11,
        rate_limited_responses=12,
        waited_seconds=1.23456,
        seconds=65.43219,
        stopped_reason="rate_limited",
        not_before=START + 3600,
        error="rate-limited by Spotify",
        with_credentials=False,
        exit_code=75,
    )
    assert list(report.as_json().items()) == [
        ("selected", 20),
        ("refreshed", 3),
        ("failed", 5),
        ("not_found", 4),
        ("skipped", 6),
        ("up_to_date", 7),
        ("left", 8),
        ("covers", 9),
        ("artists", 10),
        ("api_calls", 11),
        ("rate_limited", True),
        ("rate_limited_responses", 12),
        ("waited_seconds", 1.235),
        ("seconds", 65.432),
        ("stopped_reason", "rate_limited"),
        ("not_before", NOT_BEFORE),
        ("error", "rate-limited by Spotify"),
        ("exit_code", 75),
    ]


def test_refresh_report__a_new_report_is_a_clean_run_of_nothing() -> None:
    assert RefreshReport().as_json() == {
        "selected": 0,
        "refreshed": 0,
        "failed": 0,
        "not_found": 0,
        "skipped": 0,
        "up_to_date": 0,
        "left": 0,
        "covers": 0,
        "artists": 0,
        "api_calls": 0,
        "rate_limited": False,
        "rate_limited_responses": 0,
        "waited_seconds": 0.0,
        "seconds": 0.0,
        "stopped_reason": None,
        "not_before": None,
        "error": None,
        "exit_code": 0,
    }


def test_match_report__json_keys_in_their_order_with_their_values() -> None:
    report = MatchReport(
        selected=20,
        searched=3,
        matched=4,
        review=5,
        no_candidate=6,
        left=7,
        api_calls=8,
        rate_limited_responses=9,
        seconds=65.43219,
        stopped_reason="quota",
        not_before=START + 3600,
        error="the daily quota is used",
        exit_code=75,
    )
    assert list(report.as_json().items()) == [
        ("selected", 20),
        ("searched", 3),
        ("matched", 4),
        ("review", 5),
        ("no_candidate", 6),
        ("left", 7),
        ("api_calls", 8),
        ("rate_limited", False),
        ("rate_limited_responses", 9),
        ("seconds", 65.432),
        ("stopped_reason", "quota"),
        ("not_before", NOT_BEFORE),
        ("error", "the daily quota is used"),
        ("exit_code", 75),
        ("albums", []),
    ]


def test_match_report__a_new_report_is_a_clean_run_of_nothing() -> None:
    assert MatchReport().as_json() == {
        "selected": 0,
        "searched": 0,
        "matched": 0,
        "review": 0,
        "no_candidate": 0,
        "left": 0,
        "api_calls": 0,
        "rate_limited": False,
        "rate_limited_responses": 0,
        "seconds": 0.0,
        "stopped_reason": None,
        "not_before": None,
        "error": None,
        "exit_code": 0,
        "albums": [],
    }
