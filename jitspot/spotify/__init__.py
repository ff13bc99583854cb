"""Talking to Spotify: the gateway, its pacing, the daily quota, and the answers reduced to data."""
