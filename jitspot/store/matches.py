"""What `match` decided, kept apart from the sheet's links."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from jitspot.model import MatchRecord
from jitspot.store.db import Database, rows_in, to_json


class Matches(Database):
    """Match records and a person's decisions on them."""

    def record_matches(self, records: Iterable[MatchRecord]) -> None:
        """Write what `match` decided, all in one transaction.

        A row that holds a person's decision (accepted, rejected) is left as it
        is, even if a run read it before the decision was made.
        """
        rows = [
            (r.state, r.match_id, r.score, to_json(list(r.candidates)), r.album_id) for r in records
        ]
        if not rows:
            return
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE albums SET match_state = ?, match_id = ?, match_score = ?,"
                " match_candidates = ? WHERE id = ? AND spotify_id IS NULL"
                " AND coalesce(match_state, '') NOT IN ('accepted', 'rejected')",
                rows,
            )

    def decide_match(
        self, album_id: int, state: str | None, match_id: str | None, score: float | None
    ) -> None:
        """A person's decision (accepted with an id, rejected, or forgotten: state None).

        The candidates stay, so that the review can still show them.
        """
        with self.transaction() as conn:
            conn.execute(
                "UPDATE albums SET match_state = ?, match_id = ?, match_score = ? WHERE id = ?",
                (state, match_id, score, album_id),
            )

    def match_candidates(self, album_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """The kept search candidates of albums (for review), by album id."""
        select = "SELECT id, match_candidates FROM albums"
        rows = rows_in(self.conn, select, "id", list(album_ids), "match_candidates IS NOT NULL")
        return {row[0]: json.loads(row[1]) for row in rows}
