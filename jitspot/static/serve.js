// jitspot serve's only script (no external script, no framework).
// - Covers: a tile whose cover is not cached carries data-ask. When it comes near the
//   viewport its id joins a queue; the queue goes to /api/covers in one request (the
//   server coalesces what arrives together into batch calls to Spotify), naming the
//   tiles that follow as `then` so the server can fill its batch calls' free places.
//   The answer gives the tile its image, or says why there is none.
// - More tiles: when the "Next" link nears the viewport, the next page's tiles are
//   fetched and appended (the link still works without this script); the address
//   keeps the depth (`upto=N`, history.replaceState) and the history entry the tile at
//   the top of the view, so Back (or a reload) renders as deep and scrolls to it.
// - Search as you type: the form's fields apply themselves (text after a 250 ms
//   pause, a choice at once); the address follows (replaceState) and the results are
//   swapped in without a reload. The form still submits without this script.
// - Sync: "Sync now" POSTs /api/sync; the status is polled every 2 s while one runs,
//   and the tiles are read again once the import stage is over.
// - The album page asks /api/albums/ID for tracks and details once it is shown.
(function () {
  "use strict";
  var MARGIN = "300px 0px";  // "near the viewport"
  var FLUSH_MS = 40;         // tiles seen together go in one request
  var MOST_PER_REQUEST = 60;
  var BATCH = 20;            // albums per Spotify batch call
  var POLL_MS = 2000;
  var TYPING_MS = 250;       // a pause in typing that applies the search
  document.documentElement.classList.add("js");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function isHttp(url) { return typeof url === "string" && /^https?:\/\//i.test(url); }

  // -- images fade in once loaded; a failed one leaves the placeholder, saying so --------
  document.addEventListener("load", function (e) {
    if (e.target && e.target.tagName === "IMG") { e.target.classList.add("on"); }
  }, true);
  document.addEventListener("error", function (e) {
    var img = e.target;
    if (img && img.tagName === "IMG" && img.parentNode) {
      var cover = img.parentNode;
      img.remove();
      setReason(cover, "Cover did not load", null);
    }
  }, true);
  function markLoaded(root) {
    root.querySelectorAll(".c img").forEach(function (img) {
      if (img.complete && img.naturalWidth > 0) { img.classList.add("on"); }
    });
  }

  function setReason(cover, reason, note) {
    var why = cover.querySelector(".w") || cover.appendChild(el("span", "w"));
    why.classList.remove("ld");
    why.textContent = reason;
    cover.title = note || reason;
  }

  function setImage(cover, url, alt) {
    if (cover.querySelector("img")) { return; }
    var img = el("img");
    img.decoding = "async";
    img.width = img.height = 300;
    img.alt = alt;
    img.src = url;
    var why = cover.querySelector(".w");
    if (why) { why.remove(); }
    cover.appendChild(img);
  }

  function applyCover(tile, answer) {
    var cover = tile.querySelector(".c");
    if (!cover) { return; }
    if (isHttp(answer.cover_url)) {
      var h3 = tile.querySelector("h3"), title = tile.querySelector(".t");
      var alt = "Cover of " + (title ? title.textContent : "") + " by " + (h3 ? h3.textContent : "");
      setImage(cover, answer.cover_url, alt);
    } else {
      setReason(cover, answer.reason || "No cover", answer.note);
    }
  }

  // -- covers asked as tiles come into view ------------------------------------------------
  var queue = [], timer = null, observer = null, waiting = {};

  function flush() {
    timer = null;
    while (queue.length) {
      askCovers(queue.splice(0, MOST_PER_REQUEST));
    }
  }

  // The tiles after the last one asked, in page order, that have not asked yet: what
  // the visitor likely sees next. The server fetches them only in the places its batch
  // calls leave free (a call costs the same for 1 album as for 20), never more calls.
  function following(lastId, count) {
    var last = (waiting[lastId] || [])[0], next = [];
    if (!last) { return next; }
    var tiles = document.querySelectorAll("article[data-ask]");
    for (var i = 0; i < tiles.length && next.length < count; i++) {
      if (last.compareDocumentPosition(tiles[i]) & Node.DOCUMENT_POSITION_FOLLOWING) {
        next.push(tiles[i].getAttribute("data-id"));
      }
    }
    return next;
  }

  function askCovers(ids) {
    var query = ids.map(function (id) { return "id=" + encodeURIComponent(id); })
      .concat(following(ids[ids.length - 1], BATCH).map(function (id) {
        return "then=" + encodeURIComponent(id);
      })).join("&");
    fetch("/api/covers?" + query, { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : r.json().then(function (b) { throw new Error(b.error || r.status); }); })
      .then(function (body) {
        body.covers.forEach(function (answer) {
          (waiting[answer.id] || []).forEach(function (tile) { applyCover(tile, answer); });
          delete waiting[answer.id];
        });
      })
      .catch(function (err) {
        ids.forEach(function (id) {
          (waiting[id] || []).forEach(function (tile) {
            var cover = tile.querySelector(".c");
            if (cover) { setReason(cover, "Cover not loaded", String(err.message || err)); }
          });
          delete waiting[id];
        });
      });
  }

  function seen(tile) {
    var id = tile.getAttribute("data-id");
    tile.removeAttribute("data-ask");
    var cover = tile.querySelector(".c");
    if (cover && !cover.querySelector(".w")) {
      var loading = cover.appendChild(el("span", "w ld", "Loading cover…"));
      loading.setAttribute("aria-hidden", "true");
    }
    if (!waiting[id]) { waiting[id] = []; queue.push(id); }
    waiting[id].push(tile);
    if (!timer) { timer = setTimeout(flush, FLUSH_MS); }
  }

  function watch(root) {
    var tiles = Array.prototype.slice.call(root.querySelectorAll("article[data-ask]"));
    if (!tiles.length) { return; }
    if (!("IntersectionObserver" in window)) { tiles.forEach(seen); return; }
    if (!observer) {
      observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (e) {
          if (e.isIntersecting) { observer.unobserve(e.target); seen(e.target); }
        });
      }, { rootMargin: MARGIN });
    }
    tiles.forEach(function (t) { observer.observe(t); });
  }

  // -- the next page's tiles appended as the end comes near ------------------------------------
  var moreObserver = null;

  function loadMore() {
    if (moreObserver) { moreObserver.disconnect(); moreObserver = null; }
    var more = document.getElementById("more"), grid = document.getElementById("tiles");
    if (!more || !grid || !("IntersectionObserver" in window)) { return; }
    var busy = false;
    var io = moreObserver = new IntersectionObserver(function (entries) {
      if (!entries.some(function (e) { return e.isIntersecting; }) || busy) { return; }
      busy = true;
      var link = document.getElementById("more");
      var page = Number(new URL(link.href).searchParams.get("page"));
      fetch(link.href).then(function (r) { return r.text(); }).then(function (html) {
        if (io !== moreObserver) { return; }  // the results were swapped meanwhile
        var next = new DOMParser().parseFromString(html, "text/html");
        var tiles = next.querySelectorAll("#tiles > article");
        var fragment = document.createDocumentFragment();
        tiles.forEach(function (t) { fragment.appendChild(document.importNode(t, true)); });
        grid.appendChild(fragment);
        var last = document.getElementById("last"), nextLast = next.getElementById("last");
        if (last && nextLast) { last.textContent = nextLast.textContent; }
        pagerDownTo(page, next.getElementById("more"));
        keepDepth(page);
        watch(grid);
        markLoaded(grid);
        busy = false;
        loadMore();
      }).catch(function () { busy = false; });
    }, { rootMargin: "800px 0px" });
    io.observe(more);
  }

  // The pager says which pages the list holds now ("Pages 1–4 of 39"); "Next" leads on.
  function pagerDownTo(page, nextMore) {
    var pager = document.querySelector(".pager"), text = document.getElementById("page-of");
    if (!pager || !text) { return; }
    var first = pager.getAttribute("data-first"), pages = pager.getAttribute("data-pages");
    text.textContent = (String(page) === first ? "Page " + page : "Pages " + first + "–" + page) +
      " of " + pages;
    var more = document.getElementById("more");
    if (nextMore) { more.href = nextMore.getAttribute("href"); } else if (more) { more.remove(); }
  }

  // The address says how deep the list goes, so Back and reload render as much.
  function keepDepth(page) {
    var url = new URL(location.href);
    url.searchParams.set("upto", String(page));
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }

  // -- the place in the list: the tile at the top of the view, kept in the history entry -----
  var placeTimer = null;

  function topTile() {
    var header = document.querySelector("header");
    var top = header ? header.getBoundingClientRect().bottom : 0;
    var tiles = document.querySelectorAll("#tiles > article");
    for (var i = 0; i < tiles.length; i++) {
      if (tiles[i].getBoundingClientRect().bottom > top + 1) { return tiles[i]; }
    }
    return null;
  }

  function keepPlace() {
    placeTimer = null;
    var tile = topTile();
    var state = Object.assign({}, history.state || {}, { tile: tile ? tile.getAttribute("data-id") : null });
    history.replaceState(state, "", location.href);
  }

  function restorePlace() {
    var id = history.state && history.state.tile;
    var tile = id && document.querySelector('#tiles > article[data-id="' + CSS.escape(String(id)) + '"]');
    if (!tile) { return; }
    // Tiles far from the view are laid out with estimated sizes (content-visibility):
    // scroll, let the tiles above take their real size, scroll again until it holds.
    var tries = 0, still = 0;
    (function place() {
      var header = document.querySelector("header");
      var below = header ? header.getBoundingClientRect().height : 0;
      var off = tile.getBoundingClientRect().top - below;
      if (Math.abs(off) > 1) { window.scrollBy(0, off); still = 0; } else { still++; }
      if (still < 2 && tries++ < 60) {
        requestAnimationFrame(place);
      } else {
        document.documentElement.setAttribute("data-restored", id);
      }
    })();
  }

  function place() {
    if ("scrollRestoration" in history) { history.scrollRestoration = "manual"; }
    restorePlace();
    window.addEventListener("scroll", function () {
      if (!placeTimer) { placeTimer = setTimeout(keepPlace, 150); }
    }, { passive: true });
    // Leaving the page (an album opened): the place as it is at that moment.
    document.addEventListener("click", function (e) {
      if (e.target.closest && e.target.closest("#tiles a")) { clearTimeout(placeTimer); keepPlace(); }
    }, true);
    window.addEventListener("pagehide", function () { clearTimeout(placeTimer); keepPlace(); });
  }

  // -- the form applies itself -------------------------------------------------------------------
  var swapping = 0;

  function formAddress(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      // An empty field, and the default order, say nothing.
      if (typeof value !== "string" || !value.trim() || (name === "sort" && value === "date")) {
        return;
      }
      params.append(name, value.trim());
    });
    var query = params.toString();
    return "/" + (query ? "?" + query : "");
  }

  // Read the catalog at `address` and put its results, count and pager in place.
  function swap(address) {
    var mine = ++swapping;
    var results = document.getElementById("results");
    if (results) { results.setAttribute("aria-busy", "true"); }
    return fetch(address, { headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok && r.status !== 400) { throw new Error("HTTP " + r.status); }
      return r.text();
    }).then(function (html) {
      if (mine !== swapping) { return; }  // a newer search has gone out meanwhile
      var next = new DOMParser().parseFromString(html, "text/html");
      var fresh = next.getElementById("results"), stats = next.getElementById("stats");
      results = document.getElementById("results");
      if (!fresh || !results) { location.assign(address); return; }
      results.replaceWith(document.importNode(fresh, true));
      var old = document.getElementById("stats");
      if (old && stats) { old.replaceWith(document.importNode(stats, true)); }
      var reset = document.querySelector("#filters .reset"), nextReset = next.querySelector("#filters .reset");
      if (reset && !nextReset) { reset.remove(); }
      if (!reset && nextReset) { document.querySelector("#filters .show").after(document.importNode(nextReset, true)); }
      history.replaceState({}, "", address);
      watch(document);
      markLoaded(document);
      loadMore();
    }).catch(function () {
      if (mine === swapping) { location.assign(address); }  // the plain way still works
    });
  }

  function liveForm() {
    var form = document.getElementById("filters");
    if (!form) { return; }
    var typing = null;
    function apply() {
      clearTimeout(typing);
      typing = null;
      var address = formAddress(form);
      if (address !== location.pathname + location.search) {
        history.replaceState({}, "", address);
        window.scrollTo(0, 0);
        swap(address);
      }
    }
    form.addEventListener("input", function (e) {
      if (e.target.tagName !== "INPUT") { return; }
      clearTimeout(typing);
      typing = setTimeout(apply, TYPING_MS);
    });
    form.addEventListener("change", function (e) {
      if (e.target.tagName === "SELECT") { apply(); }
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
    var toggle = document.getElementById("toggle-filters"), more = document.getElementById("more-filters");
    if (toggle && more) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-expanded") !== "true";
        toggle.setAttribute("aria-expanded", String(open));
        more.classList.toggle("open", open);
      });
    }
  }

  // -- Sync now ----------------------------------------------------------------------------
  function ago(iso) {
    var then = Date.parse(iso);
    if (isNaN(then)) { return iso; }
    var s = Math.max(0, (Date.now() - then) / 1000);
    if (s < 60) { return "just now"; }
    if (s < 3600) { return Math.round(s / 60) + " min ago"; }
    if (s < 86400) { return Math.round(s / 3600) + " h ago"; }
    return Math.round(s / 86400) + " days ago";
  }

  function sync() {
    var box = document.getElementById("sync");
    if (!box) { return; }
    var button = document.getElementById("sync-now"), status = document.getElementById("sync-status");
    var poller = null, wasRunning = false, importing = false;

    function show(state) {
      status.classList.remove("err");
      if (!state.sheet_configured) { return; }
      var text;
      if (state.state === "running") {
        var stage = state.stage === "import" ? "Importing the sheet…" :
          (state.stage === "artists" ? "Fetching artists " : "Fetching new covers ") +
          state.done + "/" + state.total;
        text = "Syncing: " + stage;
      } else {
        text = state.last_synced ? "Last synced " + ago(state.last_synced) +
          (state.last_synced_text ? " — " + state.last_synced_text : "") : "Never synced";
        if (state.state === "done" && wasRunning) {
          text = "Synced: " + state.added + " added, " + state.updated + " updated, " +
            state.removed + " removed.";
        }
      }
      if (state.error) {
        text += (state.state === "failed" ? " Sync failed: " : " ") + state.error;
        if (state.state === "failed") { status.classList.add("err"); }
      }
      status.textContent = text;
      button.disabled = state.state === "running";
      wasRunning = wasRunning || state.state === "running";
      // The albums are in the store once the import stage is over: show them now,
      // not after the covers (which come as the tiles ask for them anyway).
      var nowImporting = state.state === "running" && state.stage === "import";
      if (importing && !nowImporting && state.state !== "failed" && document.getElementById("results")) {
        swap(location.pathname + location.search);
      }
      importing = nowImporting;
    }

    function poll() {
      fetch("/api/sync").then(function (r) { return r.json(); }).then(function (state) {
        show(state);
        if (state.state === "running") { poller = setTimeout(poll, POLL_MS); } else { poller = null; }
      }).catch(function () { poller = setTimeout(poll, POLL_MS * 2); });
    }

    if (button && !button.disabled) {
      button.addEventListener("click", function () {
        button.disabled = true;
        fetch("/api/sync", { method: "POST" }).then(function (r) {
          return r.json().then(function (body) {
            if (!r.ok) { throw new Error(body.error || ("HTTP " + r.status)); }
            wasRunning = true;
            show(body);
            if (!poller) { poller = setTimeout(poll, POLL_MS); }
          });
        }).catch(function (err) {
          button.disabled = false;
          status.textContent = "Sync refused: " + (err.message || err);
          status.classList.add("err");
        });
      });
    }
    if (box.getAttribute("data-configured") === "yes") { poll(); }
  }

  // -- the album page's tracks and details ---------------------------------------------------
  function duration(ms) {
    if (typeof ms !== "number" || ms < 0) { return ""; }
    var total = Math.floor((ms + 500) / 1000), h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60), s = total % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  // Spotify's copyrights carry a type: C (©, the release) or P (℗, the recording).
  // Each text once, its symbols in front (a text that already has its symbol keeps it).
  var SYMBOLS = { C: "©", P: "℗" };
  function copyrightLines(copyrights) {
    var lines = [], byText = {};
    copyrights.forEach(function (c) {
      var text = (typeof c === "string" ? c : (c && c.text) || "").trim();
      var symbol = c && typeof c === "object" ? SYMBOLS[String(c.type || "").toUpperCase()] : null;
      if (!text) { return; }
      var bare = text.replace(/^(?:[©℗]|\((?:c|p)\))\s*/i, "");
      var key = bare.toLowerCase();
      if (!(key in byText)) { byText[key] = { text: bare, symbols: [], written: text }; lines.push(byText[key]); }
      if (symbol && byText[key].symbols.indexOf(symbol) < 0) { byText[key].symbols.push(symbol); }
    });
    return lines.map(function (line) {
      if (!line.symbols.length) { return line.written; }
      return line.symbols.sort(function (a, b) { return a === "©" ? -1 : b === "©" ? 1 : 0; })
        .join(" ") + " " + line.text;
    });
  }

  function details() {
    var album = document.getElementById("album"), box = document.getElementById("details");
    if (!album || !box || !box.querySelector(".loading")) { return; }
    fetch("/api/albums/" + album.getAttribute("data-id")).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.error || ("HTTP " + r.status)); }
        return body;
      });
    }).then(function (a) {
      box.textContent = "";
      var cover = document.getElementById("cover");
      if (cover && isHttp(a.cover_url)) {
        setImage(cover, a.cover_url, "Cover of " + a.title + " by " + a.artist);
      } else if (cover && a.cover_state !== "cached" && a.cover_state !== "fetched") {
        setReason(cover, a.cover_note || "No cover", a.cover_note);
      }
      var sp = a.spotify;
      if (!sp) { box.appendChild(el("p", "note", a.cover_note || "Nothing from Spotify.")); return; }
      var facts = el("dl");
      function fact(name, value) {
        if (value === null || value === undefined || value === "") { return; }
        facts.appendChild(el("dt", null, name));
        facts.appendChild(el("dd", null, String(value)));
      }
      fact("On Spotify", sp.name);
      fact("Spotify date", sp.release_date);
      // Fields Spotify withholds from a development-mode app are said so, never left blank.
      var withheld = sp.withheld || [];
      function given(name, value) {
        return withheld.indexOf(name) >= 0 ? "not available to development-mode apps" : value;
      }
      fact("Label", given("label", sp.label));
      fact("Popularity", given("popularity", sp.popularity));
      fact("Spotify genres", sp.genres && sp.genres.length ? sp.genres.join(", ") : null);
      fact("Length", sp.total_duration_ms ? duration(sp.total_duration_ms) : null);
      box.appendChild(facts);
      if (sp.tracks && sp.tracks.length) {
        var table = el("table"), discs = {};
        sp.tracks.forEach(function (t) { discs[t.disc] = true; });
        var several = Object.keys(discs).length > 1;
        sp.tracks.forEach(function (t) {
          var row = table.insertRow();
          row.appendChild(el("td", "n", (several ? t.disc + "." : "") + t.number));
          row.appendChild(el("td", null, t.name));
          row.appendChild(el("td", "d", duration(t.duration_ms)));
        });
        var more = sp.tracks_complete === false && sp.total_tracks > sp.tracks.length;
        box.appendChild(el("h3", null, more ? "The first " + sp.tracks.length + " of " +
          sp.total_tracks + " tracks" : sp.tracks.length + " tracks"));
        box.appendChild(table);
      }
      copyrightLines(sp.copyrights || []).forEach(function (line) {
        box.appendChild(el("p", "small copyright", line));
      });
      if (a.cover_note) { box.appendChild(el("p", "note", a.cover_note)); }
      if (isHttp(sp.url)) {
        var link = el("a", null, "Open in Spotify");
        link.href = sp.url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        var p = el("p");
        p.appendChild(link);
        box.appendChild(p);
      }
    }).catch(function (err) {
      box.textContent = "";
      box.appendChild(el("p", "note", "Details did not load: " + (err.message || err)));
    });
  }

  function start() {
    markLoaded(document);
    watch(document);
    loadMore();
    liveForm();
    sync();
    details();
    if (document.getElementById("tiles")) { place(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
