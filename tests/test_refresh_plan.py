"""The pure decisions of `refresh`: the selectors, the call estimate, the rate, the tally."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import START

from jitspot.catalog.freshness import DAY, Lifetimes, Policy
from jitspot.catalog.resolver import Resolution
from jitspot.errors import JitspotError, RateLimited, SpotifyUnavailable, Stopped
from jitspot.jobs.refresh import Choice, estimate_calls, tally
from jitspot.model import AlbumFilter, CacheEntry, Kind, StoredAlbum
from jitspot.spotify.pacing import DEFAULT_START_RATE, learned_rate

# -- Choice: what the user chose -----------------------------------------------------------


def test_choice__nothing_chosen_is_a_problem_naming_the_choices() -> None:
    problem = Choice().problem()
    assert problem is not None
    for choice in ("ALBUM", "FILTERS", "--artist", "--all", "--missing", "--stale DAYS"):
        assert choice in problem


@pytest.mark.parametrize(
    "choice",
    [
        Choice(everything=True, refs=("Blue Lines",)),
        Choice(everything=True, filters=AlbumFilter(artist="massive")),
        Choice(everything=True, filters=AlbumFilter(tabs=("2021",)), missing=True),
    ],
    ids=["all+album", "all+filter", "all+filter+missing"],
)
def test_choice__all_with_albums_or_filters_is_a_problem(choice: Choice) -> None:
    problem = choice.problem()
    assert problem is not None
    assert "--all" in problem
    assert "without ALBUMs or FILTERS" in problem


@pytest.mark.parametrize(
    "choice",
    [
        Choice(refs=("Blue Lines",)),
        Choice(filters=AlbumFilter(year=2021)),
        Choice(filters=AlbumFilter(query="prog"), refs=("x",)),
        Choice(everything=True),
        Choice(everything=True, missing=True, stale_days=30),
        Choice(missing=True),
        Choice(stale_days=30),
        Choice(stale_days=0),  # --stale 0: everything cached, still a choice
        Choice(filters=AlbumFilter(genre="prog"), missing=True, stale_days=7),
    ],
)
def test_choice__usable_combinations_have_no_problem(choice: Choice) -> None:
    assert choice.problem() is None


@pytest.mark.parametrize(
    ("choice", "policy"),
    [
        (Choice(refs=("x",)), Policy.ALL),
        (Choice(filters=AlbumFilter(artist="x")), Policy.ALL),
        (Choice(everything=True), Policy.ALL),
        (Choice(missing=True), Policy(missing=True)),
        (Choice(everything=True, missing=True), Policy(missing=True)),
        (Choice(refs=("x",), missing=True), Policy(missing=True)),
        (Choice(stale_days=30), Policy(missing=False, stale=True, max_age=30 * DAY)),
        (Choice(stale_days=0.5), Policy(missing=False, stale=True, max_age=0.5 * DAY)),
        (
            Choice(filters=AlbumFilter(year=2020), missing=True, stale_days=30),
            Policy(missing=True, stale=True, max_age=30 * DAY),
        ),
    ],
)
def test_choice__policy_of_each_selector_combination(choice: Choice, policy: Policy) -> None:
    assert choice.policy == policy


def test_choice__missing_and_stale_together_mean_either() -> None:
    policy = Choice(missing=True, stale_days=30).policy
    life = Lifetimes(found=90 * DAY)  # --stale DAYS decides, not the lifetime
    now = START
    old = CacheEntry("album", "a", "found", now - 31 * DAY, {})
    young = CacheEntry("album", "a", "found", now - 29 * DAY, {})
    assert policy.wants(None, now, life)  # missing
    assert policy.wants(old, now, life)  # stale
    assert not policy.wants(young, now, life)  # neither


# -- estimate_calls ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "calls", "words"),
    [
        (
            {"with_credentials": False, "album_batches": True, "artist_batches": True},
            (45, 0),
            "oEmbed, one call per album",
        ),
        ({}, (3, 1), "batches of 20 albums, batches of 50 artists"),
        ({"album_batches": False, "artist_batches": False}, (45, 7), "one call per artist"),
        ({"artist_batches": False}, (3, 7), "batches of 20 albums, one call per artist"),
        ({"album_batches": False}, (45, 1), "one call per album, batches of 50 artists"),
        ({"genres": False}, (3, 0), "no artist calls"),
        ({"genres": False, "album_batches": False}, (45, 0), "one call per album, no artist"),
    ],
    ids=[
        "oembed",
        "batches",
        "no-batches",
        "album-batches-only",
        "artist-batches-only",
        "no-genres",
        "no-genres-no-batches",
    ],
)
def test_estimate_calls__per_mode(
    kwargs: dict[str, bool], calls: tuple[int, int], words: str
) -> None:
    options = {
        "with_credentials": True,
        "album_batches": True,
        "artist_batches": True,
        "genres": True,
    }
    options.update(kwargs)
    album_calls, artist_calls, mode = estimate_calls(45, 7, **options)
    assert (album_calls, artist_calls) == calls
    assert words in mode


@pytest.mark.parametrize(
    ("albums", "artists", "calls"),
    [(0, 0, (0, 0)), (1, 1, (1, 1)), (20, 50, (1, 1)), (21, 51, (2, 2)), (40, 100, (2, 2))],
)
def test_estimate_calls__batches_round_up(
    albums: int, artists: int, calls: tuple[int, int]
) -> None:
    result = estimate_calls(
        albums, artists, with_credentials=True, album_batches=True, artist_batches=True, genres=True
    )
    assert result[:2] == calls


# -- learned_rate --------------------------------------------------------------------------


def curve(w_max: float | None) -> dict[str, object]:
    return {"low": 1.0, "cut_at": START - 60, "w_max": w_max, "cut_count": None, "held": False}


@pytest.mark.parametrize(
    ("doc", "ceiling", "expected"),
    [
        (None, None, (DEFAULT_START_RATE, False)),
        ({}, None, (DEFAULT_START_RATE, False)),
        ("not a document", None, (DEFAULT_START_RATE, False)),
        ({"curve": {"low": "x"}}, None, (DEFAULT_START_RATE, False)),
        (None, 1.5, (1.5, False)),
        ({"curve": curve(None)}, None, (DEFAULT_START_RATE, False)),
        ({"curve": curve(None)}, 0.5, (0.5, False)),
        ({"curve": curve(4.2)}, None, (4.2, True)),
        ({"curve": curve(4.2)}, 2.0, (2.0, True)),
        ({"curve": curve(4.2)}, 10.0, (4.2, True)),
    ],
    ids=[
        "no-doc",
        "empty-doc",
        "not-a-dict",
        "broken-curve",
        "no-doc-ceiling",
        "no-429-yet",
        "no-429-yet-ceiling",
        "learned",
        "learned-above-ceiling",
        "learned-below-ceiling",
    ],
)
def test_learned_rate(doc: object, ceiling: float | None, expected: tuple[float, bool]) -> None:
    rate, learned = learned_rate(doc, START, ceiling)
    assert rate == pytest.approx(expected[0])
    assert learned is expected[1]


NOT_BEFORE = datetime.fromtimestamp(START + 3600, UTC)


# -- tally ---------------------------------------------------------------------------------


def stored(row: int, spotify_id: str | None) -> StoredAlbum:
    return StoredAlbum(
        id=row,
        tab="2021",
        row_number=row + 5,
        artist=f"Band {row}",
        title=f"Album {row}",
        release_date="2021-01-01",
        release_text=None,
        year=2021,
        kind="LP",
        genres=("Prog",),
        vocal_style=None,
        vocal_style_raw=None,
        location=None,
        links={},
        sheet_spotify_id=spotify_id,
        spotify_link_invalid=False,
        match_id=None,
        match_score=None,
        match_state=None,
        removed=False,
    )


def entry(kind: Kind, spotify_id: str, found: bool = True) -> CacheEntry:
    if found:
        return CacheEntry(kind, spotify_id, "found", START, {"name": spotify_id})
    return CacheEntry(kind, spotify_id, "not_found", START)


def resolution(error: JitspotError | None = None) -> Resolution:
    result = Resolution(with_credentials=True, error=error)
    for e in [entry("album", "ok1"), entry("album", "ok2"), entry("album", "gone", found=False)]:
        result.entries[e.key] = e
    old = CacheEntry("album", "fresh", "found", START - DAY, {"name": "fresh"})
    result.entries[old.key] = old
    result.fetched = {"ok1", "ok2", "gone"}
    result.fetched_artists = {"art1", "art2", "art3"}
    result.failed = {"bad": "unavailable", "stop": "stopped", "limited": "rate_limited"}
    result.api_calls = 9
    result.rate_limited_responses = 2
    result.backoff_seconds = 4.5
    return result


SELECTED = [
    stored(1, "ok1"),
    stored(2, "ok2"),
    stored(3, "ok1"),  # the same album on two rows: counted per row
    stored(4, "gone"),
    stored(5, "bad"),
    stored(6, "stop"),
    stored(7, "limited"),
    stored(8, "later"),  # due, but the run ended before its turn
    stored(9, "fresh"),  # not due under --missing / --stale
    stored(10, None),  # no Spotify link
    stored(11, None),
]
DUE = {"ok1", "ok2", "gone", "bad", "stop", "limited", "later"}


def test_tally__counts_each_selected_row_once() -> None:
    report = tally(SELECTED, resolution(), DUE, with_credentials=True)
    assert report.selected == 11
    assert report.refreshed == 3
    assert report.not_found == 1
    assert report.failed == 1
    assert report.left == 3  # stopped, rate_limited, and the one never reached
    assert report.up_to_date == 1
    assert report.skipped == 2
    counted = (
        report.refreshed
        + report.not_found
        + report.failed
        + report.left
        + report.up_to_date
        + report.skipped
    )
    assert counted == report.selected
    assert report.artists == 3
    assert (report.api_calls, report.rate_limited_responses) == (9, 2)
    assert report.waited_seconds == 4.5
    assert report.stopped_reason is None
    assert report.not_before is None
    assert report.error is None
    assert report.exit_code == 1  # one album failed


def test_tally__without_failures_exits_0() -> None:
    selected = [stored(1, "ok1"), stored(2, "gone"), stored(3, "fresh"), stored(4, None)]
    report = tally(selected, resolution(), {"ok1", "gone"}, with_credentials=True)
    assert (report.refreshed, report.not_found, report.up_to_date, report.skipped) == (1, 1, 1, 1)
    assert report.exit_code == 0
    assert report.as_json()["exit_code"] == 0
    assert report.as_json()["stopped_reason"] is None


def test_tally__a_stop_carries_its_reason_and_exit_75() -> None:
    report = tally(SELECTED, resolution(Stopped("max_time")), DUE, with_credentials=True)
    assert report.stopped_reason == "max_time"
    assert report.exit_code == 75
    assert report.error is not None and "--max-time" in report.error
    assert report.left == 3
    assert report.as_json()["rate_limited"] is False

    signalled = tally(SELECTED, resolution(Stopped("signal")), DUE, with_credentials=True)
    assert signalled.stopped_reason == "signal"
    assert signalled.exit_code == 75


def test_tally__a_rate_limit_carries_not_before() -> None:
    result = resolution(RateLimited(NOT_BEFORE))
    result.rate_limited_until = START + 3600
    report = tally(SELECTED, result, DUE, with_credentials=True)
    assert report.stopped_reason == "rate_limited"
    assert report.not_before == START + 3600
    assert report.exit_code == 75
    shown = report.as_json()
    assert shown["rate_limited"] is True
    assert shown["not_before"] == NOT_BEFORE.isoformat(timespec="seconds")


def test_tally__an_unreachable_spotify_exits_69() -> None:
    report = tally(SELECTED, resolution(SpotifyUnavailable("down")), DUE, with_credentials=True)
    assert report.exit_code == 69
    assert report.stopped_reason is None
    assert report.error == "down"


def test_tally__without_credentials_oembed_entries_count_as_refreshed() -> None:
    result = Resolution(with_credentials=False)
    covers = [entry("oembed", "c1"), entry("oembed", "c2", found=False)]
    for e in covers:
        result.entries[e.key] = e
    result.fetched = {"c1", "c2"}
    selected = [stored(1, "c1"), stored(2, "c2")]
    report = tally(selected, result, {"c1", "c2"}, with_credentials=False)
    assert (report.refreshed, report.not_found) == (1, 1)
    assert report.with_credentials is False
    # With credentials too, when a cover was all that was due (its metadata failed
    # nothing): the oEmbed entry is what was renewed.
    with_creds = tally(selected, result, {"c1", "c2"}, with_credentials=True)
    assert (with_creds.refreshed, with_creds.not_found) == (1, 1)
    # ...but an album whose metadata waits for the quota is left for a later run.
    result.failed = {"c1": "quota"}
    waiting = tally(selected, result, {"c1", "c2"}, with_credentials=True)
    assert (waiting.refreshed, waiting.not_found, waiting.left) == (0, 1, 1)
