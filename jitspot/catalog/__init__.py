"""The catalog: the cache of Spotify answers, freshness, the resolver, and album views."""
