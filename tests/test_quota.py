"""The daily quota's pure decisions: the app's mode, the budget, each share's limit, when the
next call is free, how many windows a piece of work takes, and what a refusal taught."""

from __future__ import annotations

import math

import pytest
from conftest import START

from jitspot.catalog.freshness import CoverSource, Lifetimes, Need, Policy, cover_source, plan_fetch
from jitspot.spotify.quota import (
    DEVELOPMENT_BUDGET,
    LEARNED_MEMORY,
    LEAVE_MARGIN,
    AppMode,
    Share,
    app_mode,
    budget_for,
    learned_budget,
    limit_for,
    next_free,
    quota_status,
    span_of,
    windows_needed,
)

DAY = 86_400.0


@pytest.mark.parametrize(
    ("creds", "forbidden", "allowed", "mode"),
    [
        (False, None, None, AppMode.NONE),
        (False, START + 10, None, AppMode.NONE),
        (True, None, None, AppMode.UNKNOWN),
        (True, START + 10, None, AppMode.DEVELOPMENT),
        (True, START - 10, None, AppMode.UNKNOWN),  # the 403 is forgotten after its day
        (True, None, START + 10, AppMode.EXTENDED),
        (True, START + 10, START + 10, AppMode.DEVELOPMENT),  # a 403 wins
    ],
)
def test_app_mode__from_what_the_last_batch_call_told(
    creds: bool, forbidden: float | None, allowed: float | None, mode: AppMode
) -> None:
    found = app_mode(
        has_credentials=creds,
        batch_forbidden_until=forbidden,
        batch_allowed_until=allowed,
        now=START,
    )
    assert found is mode


@pytest.mark.parametrize(
    ("configured", "learned", "mode", "budget"),
    [
        (None, None, AppMode.DEVELOPMENT, DEVELOPMENT_BUDGET),
        (None, None, AppMode.UNKNOWN, DEVELOPMENT_BUDGET),  # most apps are: be careful
        (None, None, AppMode.EXTENDED, None),
        (None, 640, AppMode.EXTENDED, 640),  # a refusal taught an extended app one
        (2000, None, AppMode.DEVELOPMENT, 2000),
        (2000, 1500, AppMode.DEVELOPMENT, 1500),  # the stricter of the two
        (500, 1500, AppMode.DEVELOPMENT, 500),
        (None, 700, AppMode.DEVELOPMENT, 700),
    ],
)
def test_budget_for__the_stricter_of_configured_and_learned(
    configured: int | None, learned: int | None, mode: AppMode, budget: int | None
) -> None:
    assert budget_for(configured, learned, mode) == budget


@pytest.mark.parametrize(
    ("budget", "reserve", "share", "limit"),
    [
        (1000, 0.25, Share.BULK, 750),
        (1000, 0.25, Share.INTERACTIVE, 1000),
        (1001, 0.25, Share.BULK, 750),  # rounded down: the reserve is never eaten into
        (1000, 0.0, Share.BULK, 1000),
        (3, 0.7, Share.BULK, 0),
        (None, 0.25, Share.BULK, None),
    ],
)
def test_limit_for__bulk_work_leaves_the_reserve(
    budget: int | None, reserve: float, share: Share, limit: int | None
) -> None:
    assert limit_for(budget, reserve, share) == limit


def test_next_free__none_while_the_share_has_room() -> None:
    assert next_free([START, START + 1], 3, DAY) is None
    assert next_free([START, START + 1], None, DAY) is None


def test_next_free__when_enough_calls_have_left_the_window() -> None:
    times = [START, START + 10, START + 20, START + 30]
    # Four in the window, the share ends at 3: for room, two must leave; the second last.
    assert next_free(times, 3, DAY) == START + 10 + DAY
    # The share ends at 2: three must leave; the third oldest leaves last.
    assert next_free(times, 2, DAY) == START + 20 + DAY
    assert next_free(times, 4, DAY) == START + DAY


def test_next_free__never_for_a_share_of_nothing() -> None:
    assert next_free([], 0, DAY) == math.inf


@pytest.mark.parametrize(
    ("calls", "left", "per", "windows"),
    [
        (0, 100, 750, 0),
        (10, None, None, 1),  # no budget: it all fits now
        (100, 100, 750, 1),
        (101, 100, 750, 2),
        (15_823, 750, 750, 22),  # the whole catalog: 22 days at 750 a day
        (1_500, 0, 750, 2),  # nothing left now: two whole windows from the next
        (1_501, 0, 750, 3),
        (10, 0, 0, math.inf),
    ],
)
def test_windows_needed(calls: int, left: int | None, per: int | None, windows: float) -> None:
    assert windows_needed(calls, left, per) == windows


def test_learned_budget__held_for_a_while_and_only_for_the_budget_it_corrected() -> None:
    doc = {"budget": 640, "at": START, "configured": None}
    assert learned_budget(doc, None, START + DAY) == 640
    assert learned_budget(doc, None, START + LEARNED_MEMORY + 1) is None  # taught anew
    assert learned_budget(doc, 2000, START + DAY) is None  # the user said something new
    assert learned_budget({"budget": 640, "at": START, "configured": 2000}, 2000, START) == 640
    assert learned_budget(None, None, START) is None
    assert learned_budget({"budget": "many"}, None, START) is None


def test_quota_status__left_for_each_share_and_the_next_free_call() -> None:
    times = [START + i for i in range(760)]
    status = quota_status(
        times,
        now=START + 1000,
        window=DAY,
        configured=None,
        learned=None,
        mode=AppMode.DEVELOPMENT,
        reserve=0.25,
        not_before=None,
        exceeded_total=0,
    )
    assert (status.budget, status.used) == (1000, 760)
    assert (status.bulk_left, status.interactive_left) == (0, 240)
    # Bulk work may call again once 11 calls have left: the 11th oldest at START + 10.
    assert status.next_free_at == START + 10 + DAY + LEAVE_MARGIN  # a day's: a second
    assert status.interactive_next_free_at is None
    assert status.as_json()["next_free_at"] is not None


def test_quota_status__a_refusals_not_before_holds_every_share() -> None:
    status = quota_status(
        [],
        now=START,
        window=DAY,
        configured=None,
        learned=640,
        mode=AppMode.DEVELOPMENT,
        reserve=0.25,
        not_before=START + 3600,
        exceeded_total=1,
    )
    assert status.budget == 640 and status.bulk_left == 480
    assert status.next_free_at == status.interactive_next_free_at == START + 3600
    assert status.exceeded_total == 1


@pytest.mark.parametrize(
    ("setting", "mode", "source"),
    [
        ("auto", AppMode.DEVELOPMENT, "oembed"),
        ("auto", AppMode.EXTENDED, "api"),
        ("auto", AppMode.UNKNOWN, "api"),  # the first batch call tells
        ("auto", AppMode.NONE, "oembed"),
        ("api", AppMode.DEVELOPMENT, "api"),
        ("oembed", AppMode.EXTENDED, "oembed"),
        ("api", AppMode.NONE, "oembed"),  # without credentials there is nothing else
    ],
)
def test_cover_source(setting: str, mode: AppMode, source: str) -> None:
    assert cover_source(setting, mode) == source


def _plan(
    source: CoverSource, *, bulk: bool, need: Need, creds: bool = True
) -> tuple[list[str], list[str]]:
    plan = plan_fetch(
        ["a", "b"],
        {},
        policy=Policy.MISSING,
        now=START,
        lifetimes=Lifetimes(),
        need=need,
        source=source,
        bulk=bulk,
        with_credentials=creds,
    )
    return plan.covers, plan.albums


def test_plan_fetch__bulk_work_of_a_development_mode_app_asks_oembed_for_covers_first() -> None:
    assert _plan("oembed", bulk=True, need=Need.ALBUM) == (["a", "b"], ["a", "b"])


def test_plan_fetch__a_look_up_asks_the_web_api_and_oembed_only_as_a_fallback() -> None:
    assert _plan("oembed", bulk=False, need=Need.TRACKS) == ([], ["a", "b"])


def test_plan_fetch__a_tile_of_a_development_mode_app_costs_no_quota() -> None:
    assert _plan("oembed", bulk=False, need=Need.COVER) == (["a", "b"], [])


def test_plan_fetch__covers_from_the_web_api_come_with_the_album() -> None:
    assert _plan("api", bulk=True, need=Need.COVER) == ([], ["a", "b"])


def test_plan_fetch__without_credentials_only_oembed() -> None:
    assert _plan("api", bulk=True, need=Need.TRACKS, creds=False) == (["a", "b"], [])


@pytest.mark.parametrize(
    ("window", "span"),
    [(DAY, DAY + 1.0), (2 * DAY, 2 * DAY + 1.0), (30.0, 30.05), (4320.0, 4320.05)],
)
def test_span_of__a_call_is_counted_a_little_past_the_window(window: float, span: float) -> None:
    assert span_of(window) == pytest.approx(span)
