"""Pure decisions: freshness of cached entries and what to fetch. No I/O, no clock."""

from __future__ import annotations

import pytest

from jitspot.catalog.freshness import (
    DAY,
    Freshness,
    Lifetimes,
    Policy,
    albums_to_fetch,
    artists_to_fetch,
    chunks,
    freshness,
)
from jitspot.model import CacheEntry, Kind

NOW = 1_000 * DAY
LIFE = Lifetimes(found=30 * DAY, not_found=7 * DAY)


def found(kind: Kind, spotify_id: str, age_days: float, **data: object) -> CacheEntry:
    return CacheEntry(kind, spotify_id, "found", NOW - age_days * DAY, dict(data))


def missing(kind: Kind, spotify_id: str, age_days: float) -> CacheEntry:
    return CacheEntry(kind, spotify_id, "not_found", NOW - age_days * DAY)


@pytest.mark.parametrize(
    ("entry", "state"),
    [
        (None, Freshness.MISSING),
        (found("album", "a", 1), Freshness.FRESH),
        (found("album", "a", 31), Freshness.STALE),
        (missing("album", "a", 1), Freshness.FRESH),
        (missing("album", "a", 8), Freshness.MISSING),
    ],
)
def test_freshness__found_goes_stale_not_found_expires(
    entry: CacheEntry | None, state: Freshness
) -> None:
    assert freshness(entry, NOW, LIFE) is state


@pytest.mark.parametrize(
    ("entry", "state"),
    [
        (found("album", "a", 30), Freshness.STALE),
        (found("album", "a", 30 - 1 / DAY), Freshness.FRESH),
        (missing("album", "a", 7), Freshness.MISSING),
        (missing("album", "a", 7 - 1 / DAY), Freshness.FRESH),
    ],
    ids=[
        "found-at-lifetime",
        "found-a-second-before",
        "not-found-at-lifetime",
        "not-found-a-second-before",
    ],
)
def test_freshness__an_entry_exactly_as_old_as_its_lifetime_has_lived_it(
    entry: CacheEntry, state: Freshness
) -> None:
    """The lifetime is how long an entry stays fresh: at that age it no longer is."""
    assert freshness(entry, NOW, LIFE) is state


def entries(*items: CacheEntry) -> dict[str, CacheEntry]:
    return {e.key: e for e in items}


def test_albums_to_fetch__missing_policy_serves_stale_and_fetches_missing_only() -> None:
    cached = entries(
        found("album", "fresh", 1), found("album", "stale", 40), missing("album", "gone", 9)
    )
    wanted = albums_to_fetch(
        ["fresh", "stale", "gone", "new", "new"],
        cached,
        policy=Policy.MISSING,
        now=NOW,
        lifetimes=LIFE,
        with_credentials=True,
    )
    assert wanted == ["gone", "new"]


def test_albums_to_fetch__stale_policy_adds_stale_entries() -> None:
    cached = entries(found("album", "fresh", 1), found("album", "stale", 40))
    wanted = albums_to_fetch(
        ["fresh", "stale"],
        cached,
        policy=Policy.STALE,
        now=NOW,
        lifetimes=LIFE,
        with_credentials=True,
    )
    assert wanted == ["stale"]


def test_albums_to_fetch__stale_policy_with_max_age_overrides_lifetime() -> None:
    cached = entries(found("album", "week", 8), found("album", "day", 1))
    wanted = albums_to_fetch(
        ["week", "day"],
        cached,
        policy=Policy(stale=True, max_age=7 * DAY),
        now=NOW,
        lifetimes=LIFE,
        with_credentials=True,
    )
    assert wanted == ["week"]


def test_albums_to_fetch__all_and_offline() -> None:
    cached = entries(found("album", "a", 1))

    def wanted(policy: Policy) -> list[str]:
        return albums_to_fetch(
            ["a", "b"], cached, policy=policy, now=NOW, lifetimes=LIFE, with_credentials=True
        )

    assert wanted(Policy.ALL) == ["a", "b"]
    assert wanted(Policy.OFFLINE) == []


def test_albums_to_fetch__oembed_cover_is_enough_only_without_credentials() -> None:
    cached = entries(found("oembed", "a", 1, thumbnail_url="https://i.scdn.co/x"))

    def wanted(with_credentials: bool) -> list[str]:
        return albums_to_fetch(
            ["a"],
            cached,
            policy=Policy.MISSING,
            now=NOW,
            lifetimes=LIFE,
            with_credentials=with_credentials,
        )

    assert wanted(with_credentials=False) == []
    assert wanted(with_credentials=True) == ["a"]


def test_artists_to_fetch__uncached_artists_of_found_albums_once() -> None:
    albums = [
        found("album", "a1", 1, artist_ids=["x", "y"]),
        found("album", "a2", 1, artist_ids=["y", "z"]),
        missing("album", "a3", 1),
    ]
    cached = entries(*albums, found("artist", "y", 1, genres=["djent"]))

    def wanted(policy: Policy) -> list[str]:
        return artists_to_fetch(albums, cached, policy=policy, now=NOW, lifetimes=LIFE)

    assert wanted(Policy.MISSING) == ["x", "z"]
    assert wanted(Policy.ALL) == ["x", "y", "z"]
    assert wanted(Policy.OFFLINE) == []


def test_artists_to_fetch__artists_go_stale_and_expire_like_albums() -> None:
    albums = [found("album", "a1", 1, artist_ids=["old", "young", "gone", "lost"])]
    cached = entries(
        *albums,
        found("artist", "old", 40),
        found("artist", "young", 2),
        missing("artist", "gone", 8),  # "not found" past its 7-day lifetime: asked again
        missing("artist", "lost", 1),
    )

    def wanted(policy: Policy) -> list[str]:
        return artists_to_fetch(albums, cached, policy=policy, now=NOW, lifetimes=LIFE)

    assert wanted(Policy.MISSING) == ["gone"]
    assert wanted(Policy.STALE) == ["old", "gone"]
    assert wanted(Policy(missing=False, stale=True, max_age=1 * DAY)) == [
        "old",
        "young",
        "gone",
        "lost",
    ]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # refresh --missing: nothing cached, or an expired "not found"
        (Policy(missing=True), ["never", "expired"]),
        # refresh --stale 10: cached 10+ days ago, found or not; never-fetched ones stay
        (Policy(missing=False, stale=True, max_age=10 * DAY), ["old", "expired"]),
        # refresh --missing --stale 10: either
        (Policy(missing=True, stale=True, max_age=10 * DAY), ["never", "old", "expired"]),
        # refresh of FILTERS alone: everything selected
        (Policy(everything=True), ["never", "old", "young", "expired"]),
    ],
)
def test_albums_to_fetch__refresh_selectors(policy: Policy, expected: list[str]) -> None:
    cached = entries(
        found("album", "old", 12), found("album", "young", 3), missing("album", "expired", 12)
    )
    wanted = albums_to_fetch(
        ["never", "old", "young", "expired"],
        cached,
        policy=policy,
        now=NOW,
        lifetimes=LIFE,
        with_credentials=True,
    )
    assert wanted == expected


def test_chunks__groups_of_at_most_size() -> None:
    assert chunks([str(i) for i in range(45)], 20) == [
        [str(i) for i in range(20)],
        [str(i) for i in range(20, 40)],
        [str(i) for i in range(40, 45)],
    ]
