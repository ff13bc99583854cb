"""jitspot: a release-sheet catalog enriched from Spotify just in time."""

__version__ = "0.1.0"
