"""Reading sheets: sources (xlsx, csv, json), rows, Spotify links, and the import into the store."""
