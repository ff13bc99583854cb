"""The jobs that run over chosen albums: refresh, match, housekeeping, sync, and stats."""
