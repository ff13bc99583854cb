"""Export renderers: album views in, text out (JSON, CSV, Markdown, HTML).

Pure functions over `AlbumView` (DESIGN.md §1, `export`): no I/O, no terminal.
Every renderer keeps the order it is given; the caller filters and sorts.
Text from the sheet is untrusted: it is escaped for each format, and only
http(s) URLs ever become links or image sources.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import quote

from jitspot.links import is_http_url
from jitspot.text import fold
from jitspot.views import SHEET_KEYS, AlbumView, match_mark

__all__ = [
    "cover_reason",
    "format_duration",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
]

# ---------------------------------------------------------------- shared bits

_LINK_LABELS = {
    "bandcamp": "Bandcamp",
    "spotify": "Spotify",
    "youtube": "YouTube",
    "amazon": "Amazon",
    "google_play": "Google Play",
    "apple_music": "Apple Music",
    "deezer": "Deezer",
    "tidal": "Tidal",
    "soundcloud": "SoundCloud",
}


def _link_label(key: str) -> str:
    return _LINK_LABELS.get(key) or key.replace("_", " ").strip().title() or "Link"


def _safe_links(album: AlbumView) -> list[tuple[str, str]]:
    """(label, url) of the album's http(s) links, in sheet order.

    A Spotify match that the sheet does not link to is added from the
    Spotify metadata, so a matched album still links to its Spotify page.
    """
    links = [(key, url.strip()) for key, url in album["links"].items() if is_http_url(url)]
    spotify = album["spotify"]
    matched_url = spotify["url"] if spotify else None
    if "spotify" not in album["links"] and matched_url and is_http_url(matched_url):
        links.append(("spotify", matched_url.strip()))
    return [(_link_label(key), url) for key, url in links]


def _release(album: AlbumView) -> str:
    return album["release_date"] or album["release_text"] or ""


def format_duration(ms: int | None) -> str:
    """`3_723_000` -> `1:02:03`; under an hour `m:ss`; None -> ''.

    Half a second rounds up (2,500 ms is 0:03): the one rule for every output.
    """
    if ms is None or ms < 0:
        return ""
    minutes, seconds = divmod((ms + 500) // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def _total_duration_ms(album: AlbumView) -> int | None:
    spotify = album["spotify"]
    if spotify is None:
        return None
    if spotify["total_duration_ms"] is not None:
        return spotify["total_duration_ms"]
    durations = [track["duration_ms"] for track in spotify["tracks"] or []]
    if not durations or any(duration is None for duration in durations):
        return None
    return sum(duration for duration in durations if duration is not None)


def _track_count(album: AlbumView) -> int | None:
    spotify = album["spotify"]
    if spotify is None:
        return None
    if spotify["total_tracks"] is not None:
        return spotify["total_tracks"]
    return len(spotify["tracks"]) if spotify["tracks"] is not None else None


def _has_cover(album: AlbumView) -> bool:
    return is_http_url(album["cover_url"])


_COVER_REASONS = {
    "no_spotify_link": "No Spotify link",
    "not_found": "Not found on Spotify",
    "rate_limited": "Rate-limited — try later",
    "not_cached": "Not cached (offline export)",
}


def cover_reason(album: AlbumView) -> str:
    """Why an album shows no cover, in words for people."""
    state = album["cover_state"]
    if state == "unavailable":
        note = fold(album["cover_note"] or "")
        return "Needs Spotify credentials" if "credential" in note else "Spotify unavailable"
    return _COVER_REASONS.get(state, "No cover on Spotify")


# ----------------------------------------------------------------------- JSON


def render_json(albums: Sequence[AlbumView]) -> str:
    """The albums as a JSON list of contract album objects (UTF-8 text, indented)."""
    return json.dumps(list(albums), ensure_ascii=False, indent=2) + "\n"


# ------------------------------------------------------------------------ CSV

_CSV_HEAD = SHEET_KEYS  # id … tab, then one column per link key
_CSV_TAIL = (
    "spotify_id",
    "spotify_id_source",
    "match_score",
    "cover_url",
    "cover_state",
    "cover_note",
    "spotify_name",
    "track_count",
    "total_duration",
    "total_duration_ms",
    "label",
    "popularity",
    "spotify_genres",
    "fetched_at",
)
# A spreadsheet treats a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(cell: str) -> str:
    """Defuse CSV/formula injection: a leading `'` makes the cell plain text."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _link_keys(albums: Iterable[AlbumView]) -> list[str]:
    keys: dict[str, None] = {}
    for album in albums:
        keys.update(dict.fromkeys(album["links"]))
    return list(keys)


def _link_column(key: str) -> str:
    taken = key in _CSV_HEAD or key in _CSV_TAIL
    return f"link_{key}" if taken else key


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _sheet_cell(value: object) -> str:
    """A sheet fact as a CSV cell: lists (genres) joined with '; ', None empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return str(value)


def _csv_row(album: AlbumView, link_keys: Sequence[str]) -> list[str]:
    spotify = album["spotify"]
    duration = _total_duration_ms(album)
    cells = [
        *(_sheet_cell(album.get(key)) for key in _CSV_HEAD),
        *(album["links"].get(key, "") for key in link_keys),
        album["spotify_id"] or "",
        album["spotify_id_source"] or "",
        _score(album.get("match_score")),
        album["cover_url"] or "",
        album["cover_state"],
        album["cover_note"] or "",
        (spotify["name"] or "") if spotify else "",
        _num(_track_count(album)),
        format_duration(duration),
        _num(duration),
        (spotify["label"] or "") if spotify else "",
        _num(spotify["popularity"]) if spotify else "",
        "; ".join(spotify["genres"] or []) if spotify else "",
        (spotify["fetched_at"] or "") if spotify else "",
    ]
    return [_neutralise(cell) for cell in cells]


def render_csv(albums: Sequence[AlbumView]) -> str:
    """One CSV row per album: sheet columns, one column per link, Spotify columns.

    Cells that a spreadsheet would run as a formula are prefixed with `'`.
    """
    link_keys = _link_keys(albums)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*_CSV_HEAD, *(_link_column(key) for key in link_keys), *_CSV_TAIL])
    writer.writerows(_csv_row(album, link_keys) for album in albums)
    return out.getvalue()


# ------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\|*_\[\]`<>~])")
_MD_URL_UNSAFE = " ()<>|[]`\\\"'"
_MD_COLUMNS = ("Artist", "Album", "Release", "Kind", "Genres", "Links")


def _md_text(text: str) -> str:
    """Cell text with Markdown/table syntax escaped and line breaks flattened."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_url(url: str) -> str:
    """A URL that cannot end the link or the table cell early."""
    return "".join(quote(ch) if ch in _MD_URL_UNSAFE else ch for ch in url)


def _md_row(album: AlbumView) -> str:
    links = " ".join(f"[{_md_text(label)}]({_md_url(url)})" for label, url in _safe_links(album))
    mark = match_mark(album)
    if mark:
        links += f" ({_md_text(mark)})"
    cells = [
        _md_text(album["artist"]),
        _md_text(album["title"]),
        _md_text(_release(album)),
        _md_text(album["kind"] or ""),
        _md_text(", ".join(album["genres"])),
        links,
    ]
    return "| " + " | ".join(cells) + " |"


def render_markdown(albums: Sequence[AlbumView]) -> str:
    """A Markdown table (Artist | Album | Release | Kind | Genres | Links) for posts."""
    lines = [
        "| " + " | ".join(_MD_COLUMNS) + " |",
        "|" + "|".join("---" for _ in _MD_COLUMNS) + "|",
        *(_md_row(album) for album in albums),
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------- HTML

_CSS = """
:root{color-scheme:light dark;--bg:#f6f5f2;--fg:#1c1c1f;--muted:#6a6a73;--card:#fff;
--line:#e3e1dc;--accent:#1f8f52;--chip:#efeee9;--shadow:0 1px 2px rgb(0 0 0/.06),
0 4px 14px rgb(0 0 0/.06)}
@media (prefers-color-scheme:dark){:root{--bg:#111214;--fg:#ececef;--muted:#9a9aa5;
--card:#1b1c20;--line:#2b2c32;--accent:#3ddc84;--chip:#26272d;--shadow:0 1px 2px rgb(0 0 0/.4)}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.4 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-font-smoothing:antialiased}
header{position:sticky;top:0;z-index:2;background:color-mix(in srgb,var(--bg) 88%,transparent);
backdrop-filter:blur(10px);border-bottom:1px solid var(--line)}
.bar{max-width:1480px;margin:0 auto;padding:14px 24px;display:flex;flex-wrap:wrap;
align-items:center;gap:8px 24px}
h1{margin:0;font-size:22px;font-weight:750;letter-spacing:-.01em}
.stats{margin:0;color:var(--muted);font-size:13px;font-variant-numeric:tabular-nums}
.stats b{color:var(--fg);font-weight:600}
#q{margin-left:auto;width:min(320px,100%);padding:8px 12px;font:inherit;color:inherit;
background:var(--card);border:1px solid var(--line);border-radius:999px;outline:none}
#q:focus{border-color:var(--accent);box-shadow:0 0 0 3px color-mix(in srgb,var(--accent) 25%,
transparent)}
main{max-width:1480px;margin:0 auto;padding:20px 24px 8px;display:grid;gap:20px 16px;
grid-template-columns:repeat(auto-fill,minmax(180px,1fr))}
.tile{min-width:0}
.tile[hidden]{display:none}
.cover{position:relative;aspect-ratio:1;border-radius:8px;overflow:hidden;box-shadow:var(--shadow);
background:repeating-radial-gradient(circle at 50% 42%,rgb(255 255 255/.05) 0 1px,
transparent 1px 5px),
linear-gradient(135deg,hsl(var(--h) 42% 46%),hsl(calc(var(--h) + 40) 48% 24%));
color:#fff;display:flex;flex-direction:column;align-items:center;justify-content:center}
.cover img{position:absolute;inset:0;width:100%;height:100%;object-fit:cover;display:block;
color:transparent}
.cover img.broken{display:none}
.initials{margin-top:-12%;font-size:44px;font-weight:800;letter-spacing:.02em;opacity:.92;
text-shadow:0 2px 10px rgb(0 0 0/.25)}
.why{position:absolute;left:10px;right:10px;bottom:10px;display:flex;justify-content:center}
.why span{padding:3px 9px;border-radius:10px;background:rgb(0 0 0/.38);font-size:11px;
font-weight:600;line-height:1.3;text-align:center;letter-spacing:.01em}
.meta{padding:8px 2px 0}
.artist,.title{margin:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.artist{font-weight:650}
.title{color:var(--fg);opacity:.86}
.sub,.genres{margin:2px 0 0;color:var(--muted);font-size:12px}
.sub{font-variant-numeric:tabular-nums}
.genres{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}
.links{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px}
.links a{font-size:10.5px;line-height:1;padding:4px 6px;border-radius:999px;background:var(--chip);
color:var(--fg);text-decoration:none;border:1px solid var(--line)}
.links a:hover,.links a:focus-visible{border-color:var(--accent);color:var(--accent)}
.empty{grid-column:1/-1;text-align:center;color:var(--muted);padding:48px 0}
footer{max-width:1480px;margin:0 auto;padding:24px;color:var(--muted);font-size:12px}
@media (max-width:520px){.bar{padding:12px 14px}h1{font-size:19px}#q{width:100%}
main{grid-template-columns:repeat(2,minmax(0,1fr));padding:14px;gap:16px 12px}
.initials{font-size:34px}footer{padding:18px 14px}}
"""

# Filter box (case/accent-insensitive against the server-side folded `data-search`;
# `page.html#q=djent` opens filtered and typing keeps the address shareable), and
# hiding covers that fail to load so the drawn placeholder shows instead. What is
# typed is folded like `text.fold`: letters in the box's `data-fold` table as
# Python folds them (`ł` -> `l`), then decomposition strips the remaining marks.
_SCRIPT = """
document.addEventListener("error",function(e){var t=e.target;
if(t&&t.tagName==="IMG"){t.classList.add("broken");}},true);
document.addEventListener("DOMContentLoaded",function(){
var q=document.getElementById("q"),shown=document.getElementById("shown"),
of=document.getElementById("of"),
none=document.getElementById("none"),tiles=[].slice.call(document.querySelectorAll(".tile")),
keys=tiles.map(function(t){return t.getAttribute("data-search")||"";}),timer=0,
table=JSON.parse(q.getAttribute("data-fold")||"{}");
function fold(s){return Array.from(s.normalize("NFC"),function(c){var t=table[c];
return t===undefined?c:t;}).join("").normalize("NFKD").replace(/[\\u0300-\\u036f]/g,"")
.toLowerCase().split(/\\s+/).filter(Boolean);}
function apply(){var words=fold(q.value),n=0;
for(var i=0;i<tiles.length;i++){var ok=true;
for(var j=0;j<words.length&&ok;j++){ok=keys[i].indexOf(words[j])!==-1;}
if(ok){n++;}if(tiles[i].hidden===ok){tiles[i].hidden=!ok;}}
shown.textContent=n.toLocaleString("en-US");of.hidden=n===tiles.length;none.hidden=n!==0;}
function share(){try{history.replaceState(null,"",q.value?"#q="+encodeURIComponent(q.value)
:location.pathname+location.search);}catch(e){}}
q.hidden=false;q.addEventListener("input",function(){clearTimeout(timer);
timer=setTimeout(function(){apply();share();},60);});
var m=/^#q=(.*)$/.exec(location.hash);
if(m){try{q.value=decodeURIComponent(m[1]);}catch(e){q.value=m[1];}}
if(q.value){apply();}});
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    return (
        "default-src 'none'; img-src http: https:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def _esc(text: str) -> str:
    return escape(text, quote=True)


def _initials(artist: str) -> str:
    """`Dream Theater` -> `DT`, `Caligula's Horse` -> `CH`, `1349` -> `1`."""
    firsts = [match.group() for word in artist.split() if (match := _WORD_CHAR.search(word))]
    if firsts:
        return "".join(firsts[:2]).upper()
    return artist.strip()[:1] or "?"


_WORD_CHAR = re.compile(r"[^\W_]")


def _hue(artist: str) -> int:
    return zlib.crc32(fold(artist).encode()) % 360


def _search_parts(album: AlbumView) -> list[str]:
    spotify = album["spotify"]
    parts = [
        album["artist"],
        album["title"],
        *album["genres"],
        *((spotify["genres"] or []) if spotify else []),
        _release(album),
        album["kind"] or "",
        album["vocal_style"] or "",
        album["location"] or "",
    ]
    return [part for part in parts if part]


def _search_key(album: AlbumView) -> str:
    return fold(" ".join(_search_parts(album)))


# Latin letters a visitor may type that decomposition does not fold (ß, ø, ł...).
_COMMON_LETTERS = "".join(
    chr(code) for code in range(0xC0, 0x180) if unicodedata.category(chr(code)).startswith("L")
)


def _script_fold(letter: str) -> str:
    """What the page's script makes of `letter` without the table."""
    decomposed = unicodedata.normalize("NFKD", letter)
    return "".join(ch for ch in decomposed if not "\u0300" <= ch <= "\u036f").lower()


def _fold_table(albums: Sequence[AlbumView]) -> str:
    """JSON {letter: folded} for the script: the page's letters and common Latin ones
    that the script's own decomposition would fold differently from `text.fold`."""
    from anyascii import anyascii

    letters = set(_COMMON_LETTERS)
    for album in albums:
        text = " ".join(_search_parts(album))
        if not text.isascii():
            letters.update(unicodedata.normalize("NFC", text))
    table = {
        letter: folded
        for letter in sorted(letters)
        if not letter.isascii() and (folded := anyascii(letter).lower()) != _script_fold(letter)
    }
    return json.dumps(table, ensure_ascii=False, separators=(",", ":"))


def _cover_html(album: AlbumView) -> str:
    artist, title = album["artist"], album["title"]
    if _has_cover(album):
        cover_url = (album["cover_url"] or "").strip()
        alt = f"Cover of {title} by {artist}"
        image = (
            f'<img loading="lazy" decoding="async" width="300" height="300"'
            f' src="{_esc(cover_url)}" alt="{_esc(alt)}">'
        )
        reason = "Cover did not load"
    else:
        image = ""
        reason = cover_reason(album)
    tooltip = "" if image else f' title="{_esc(album["cover_note"] or reason)}"'
    return (
        f'<div class="cover" style="--h:{_hue(artist)}"{tooltip}>'
        f'<span class="initials" aria-hidden="true">{_esc(_initials(artist))}</span>'
        f'<span class="why"><span>{_esc(reason)}</span></span>{image}</div>'
    )


def _sub_html(album: AlbumView) -> str:
    parts: list[str] = []
    if album["release_date"]:
        date = _esc(album["release_date"])
        parts.append(f'<time datetime="{date}">{date}</time>')
    elif album["release_text"]:
        parts.append(_esc(album["release_text"]))
    if album["kind"]:
        parts.append(_esc(album["kind"]))
    duration = format_duration(_total_duration_ms(album))
    if duration:
        parts.append(duration)
    return f'<p class="sub">{" · ".join(parts)}</p>' if parts else ""


def _links_html(album: AlbumView) -> str:
    anchors = [
        f'<a href="{_esc(url)}" target="_blank" rel="noopener noreferrer">{_esc(label)}</a>'
        for label, url in _safe_links(album)
    ]
    return f'<nav class="links">{"".join(anchors)}</nav>' if anchors else ""


def _tile_html(album: AlbumView) -> str:
    artist, title = _esc(album["artist"]), _esc(album["title"])
    genres = _esc(", ".join(album["genres"]))
    genres_html = f'<p class="genres" title="{genres}">{genres}</p>' if genres else ""
    return (
        f'<article class="tile" data-search="{_esc(_search_key(album))}">'
        f"{_cover_html(album)}"
        f'<div class="meta"><p class="artist" title="{artist}">{artist}</p>'
        f'<p class="title" title="{title}">{title}</p>'
        f"{_sub_html(album)}{genres_html}{_links_html(album)}</div></article>"
    )


def _header_html(
    albums: Sequence[AlbumView], title: str, generated_at: str | None, fold_table: str
) -> str:
    total = len(albums)
    covers = sum(1 for album in albums if _has_cover(album))
    noun = "album" if total == 1 else "albums"
    stats = (
        f'<b id="shown">{total:,}</b><span id="of" hidden> of {total:,}</span> {noun}'
        f" · <b>{covers:,}</b> with covers"
    )
    if generated_at:
        stats += f" · generated {_esc(generated_at)}"
    return (
        f'<header><div class="bar"><h1>{_esc(title)}</h1><p class="stats">{stats}</p>'
        '<input id="q" type="search" placeholder="Filter by artist, album or genre…"'
        ' aria-label="Filter albums" autocomplete="off" spellcheck="false"'
        f' data-fold="{_esc(fold_table)}" hidden>'
        "</div></header>"
    )


def _empty_html(albums: Sequence[AlbumView]) -> str:
    if not albums:
        return '<p class="empty">No albums in this export.</p>'
    return '<p class="empty" id="none" hidden>No album matches the filter.</p>'


def render_html(
    albums: Sequence[AlbumView],
    *,
    title: str = "jitspot catalog",
    generated_at: str | None = None,
) -> str:
    """One self-contained HTML page: a filterable gallery of cover tiles.

    No external styles, fonts or scripts; covers load lazily from their http(s)
    URLs, and an album without one shows a drawn placeholder saying why.
    """
    tiles = "\n".join(_tile_html(album) for album in albums)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(_csp())}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        '<meta name="generator" content="jitspot">\n'
        f"<title>{_esc(title)}</title>\n"
        f"<style>{_CSS}</style>\n<script>{_SCRIPT}</script>\n</head><body>\n"
        f"{_header_html(albums, title, generated_at, _fold_table(albums))}\n<main>\n{tiles}\n"
        f"{_empty_html(albums)}\n</main>\n"
        "<footer>Made with jitspot. Cover art and album data from Spotify; "
        "covers © their owners.</footer>\n</body></html>\n"
    )
