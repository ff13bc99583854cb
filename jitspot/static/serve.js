// jitspot serve's only script (no external script, no framework).
// - Covers: a tile whose cover is not cached carries data-ask. When it comes near the
//   viewport its id joins a queue; the queue goes to /api/covers in one request (the
//   server coalesces what arrives together into batch calls to Spotify), naming the
//   tiles that follow as `then` so the server can fill its batch calls' free places.
//   The answer gives the tile its image, or says why there is none.
// - More tiles: when the "Next" link nears the viewport, the next page's tiles are
//   fetched and appended (the link still works without this script).
// - Sync: "Sync now" POSTs /api/sync; the status is polled every 2 s while one runs.
// - The album page asks /api/albums/ID for tracks and details once it is shown.
(function () {
  "use strict";
  var MARGIN = "300px 0px";  // "near the viewport"
  var FLUSH_MS = 40;         // tiles seen together go in one request
  var MOST_PER_REQUEST = 60;
  var BATCH = 20;            // albums per Spotify batch call
  var POLL_MS = 2000;

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
  function loadMore() {
    var more = document.getElementById("more"), grid = document.getElementById("tiles");
    if (!more || !grid || !("IntersectionObserver" in window)) { return; }
    var busy = false;
    var io = new IntersectionObserver(function (entries) {
      if (!entries.some(function (e) { return e.isIntersecting; }) || busy) { return; }
      busy = true;
      var link = document.getElementById("more");
      fetch(link.href).then(function (r) { return r.text(); }).then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html");
        var tiles = next.querySelectorAll("#tiles > article");
        var fragment = document.createDocumentFragment();
        tiles.forEach(function (t) { fragment.appendChild(document.importNode(t, true)); });
        grid.appendChild(fragment);
        var last = document.getElementById("last"), nextLast = next.getElementById("last");
        if (last && nextLast) { last.textContent = nextLast.textContent; }
        var pager = document.querySelector(".pager"), nextPager = next.querySelector(".pager");
        if (pager && nextPager) { pager.replaceWith(document.importNode(nextPager, true)); }
        io.disconnect();
        watch(grid);
        markLoaded(grid);
        busy = false;
        loadMore();
      }).catch(function () { busy = false; });
    }, { rootMargin: "800px 0px" });
    io.observe(more);
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
    var poller = null, wasRunning = false;

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
        text = state.last_synced ? "Last synced " + ago(state.last_synced) : "Never synced";
        if (state.state === "done" && wasRunning) {
          text = "Synced: " + state.added + " added, " + state.updated + " updated, " +
            state.removed + " removed. Reload to see them.";
        }
      }
      if (state.error) {
        text += (state.state === "failed" ? " Sync failed: " : " ") + state.error;
        if (state.state === "failed") { status.classList.add("err"); }
      }
      status.textContent = text;
      button.disabled = state.state === "running";
      wasRunning = wasRunning || state.state === "running";
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
      (sp.copyrights || []).forEach(function (c) {
        box.appendChild(el("p", "small", typeof c === "string" ? c : (c.text || "")));
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
    sync();
    details();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
