// The jitspot gallery's only script (its hash is in the page's Content-Security-Policy).
// - Covers: a tile carries its cover URL in data-c; the <img> is made only when the tile
//   comes near the viewport, so a 17,000-tile page asks for a screenful of covers (native
//   lazy loading alone still fetched them all in headless Chromium). A cover that fails
//   to load leaves the drawn placeholder, saying so.
// - The filter box, case/accent-insensitive against the server-side folded data-s;
//   `page.html#q=djent` opens filtered and typing keeps the address shareable. What is
//   typed is folded like `text.fold`: letters in the box's data-fold table as Python
//   folds them (ł -> l), then decomposition strips the remaining marks. Typing only
//   flips `hidden` on the tiles whose state changes, debounced.
// - The index and group headings count what the filter shows; a group with nothing
//   shown is hidden. Cut-off text gets its tooltip when pointed at.
(function () {
  "use strict";
  var FAILED = "Cover did not load";

  function broken(img) {
    var cover = img.parentNode;
    img.remove();
    if (cover && !cover.querySelector(".w")) {
      var why = document.createElement("span");
      why.className = "w";
      why.textContent = FAILED;
      cover.appendChild(why);
      cover.title = FAILED;
    }
  }

  document.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t.tagName === "IMG") { broken(t); }
  }, true);
  document.addEventListener("load", function (e) {
    var t = e.target;
    if (t && t.tagName === "IMG") { t.classList.add("on"); }
  }, true);

  function showCover(tile) {
    var url = tile.getAttribute("data-c"), cover = tile.firstElementChild;
    if (!url || !cover || cover.querySelector("img")) { return; }
    var img = document.createElement("img"), name = tile.querySelector("h3");
    img.loading = "lazy";
    img.decoding = "async";
    img.width = img.height = 300;
    img.alt = "Cover of " + name.nextElementSibling.textContent + " by " + name.textContent;
    img.src = url;
    cover.appendChild(img);
  }

  function watchCovers(tiles) {
    var withCover = tiles.filter(function (t) { return t.hasAttribute("data-c"); });
    if (!("IntersectionObserver" in window)) { withCover.forEach(showCover); return; }
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { showCover(e.target); io.unobserve(e.target); }
      });
    }, { rootMargin: "600px 0px" });
    withCover.forEach(function (t) { io.observe(t); });
  }

  // A mouse wheel scrolls the one-line index sideways.
  function wheelIndex(index) {
    if (!index) { return; }
    index.addEventListener("wheel", function (e) {
      if (Math.abs(e.deltaY) > Math.abs(e.deltaX) && index.scrollWidth > index.clientWidth) {
        index.scrollLeft += e.deltaY;
        e.preventDefault();
      }
    }, { passive: false });
  }

  function tooltips(main) {
    main.addEventListener("mouseover", function (e) {
      var t = e.target;
      if ((t.tagName === "H3" || t.tagName === "P") && !t.title &&
          (t.scrollWidth > t.clientWidth || t.scrollHeight > t.clientHeight + 1)) {
        t.title = t.textContent;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var main = document.querySelector("main"), q = document.getElementById("q"),
      shown = document.getElementById("shown"), of = document.getElementById("of"),
      none = document.getElementById("none"), header = document.querySelector("header"),
      sections = [].slice.call(main.querySelectorAll("section")),
      tiles = [].slice.call(main.querySelectorAll("article")),
      keys = tiles.map(function (t) { return t.getAttribute("data-s") || ""; }),
      groupOf = [], // a tile's section, by index: tiles come in their sections' order
      totals = sections.map(function (s, g) {
        var n = s.querySelectorAll("article").length;
        for (var i = 0; i < n; i++) { groupOf.push(g); }
        return n;
      }),
      links = sections.map(function (s) {
        return document.querySelector('.ix a[href="#' + s.id + '"]');
      }),
      table = JSON.parse(q.getAttribute("data-fold") || "{}"), timer = 0, resized = 0,
      counts = totals.slice();

    function fmt(n) { return n.toLocaleString("en-US"); }

    // Sizes of the groups not laid out yet, from the real column count and tile height,
    // so the scroll bar and the index's jumps land where they should.
    function estimate() {
      var grid = main.querySelector(".g"), tile = null;
      for (var i = 0; i < tiles.length && !tile; i++) { tile = tiles[i].hidden ? null : tiles[i]; }
      if (!grid || !tile) { return; }
      var cols = getComputedStyle(grid).gridTemplateColumns.split(" ").length || 1,
        row = tile.getBoundingClientRect().height + parseFloat(getComputedStyle(grid).rowGap),
        head = sections[0].firstElementChild.getBoundingClientRect().height;
      sections.forEach(function (s, g) {
        s.style.containIntrinsicHeight = "auto " +
          Math.ceil(Math.ceil(counts[g] / cols) * row + head) + "px";
      });
      document.documentElement.style.setProperty("--head", header.offsetHeight + 8 + "px");
    }

    function fold(s) {
      return Array.from(s.normalize("NFC"), function (c) {
        var t = table[c];
        return t === undefined ? c : t;
      }).join("").normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
        .toLowerCase().split(/\s+/).filter(Boolean);
    }

    function apply() {
      var words = fold(q.value), n = 0;
      counts = totals.map(function () { return 0; });
      for (var i = 0; i < tiles.length; i++) {
        var ok = true;
        for (var j = 0; j < words.length && ok; j++) { ok = keys[i].indexOf(words[j]) !== -1; }
        if (ok) { n++; counts[groupOf[i]]++; }
        if (tiles[i].hidden === ok) { tiles[i].hidden = !ok; }
      }
      sections.forEach(function (s, g) {
        var c = counts[g], label = c === totals[g] ? fmt(c) : fmt(c) + " of " + fmt(totals[g]);
        s.hidden = c === 0;
        s.querySelector("h2 small").textContent = label;
        if (links[g]) {
          links[g].querySelector("small").textContent = fmt(c);
          links[g].classList.toggle("off", c === 0);
        }
      });
      shown.textContent = fmt(n);
      of.hidden = n === tiles.length;
      if (none) { none.hidden = n !== 0; }
      estimate();
    }

    function share() {
      try {
        history.replaceState(null, "", q.value ? "#q=" + encodeURIComponent(q.value)
          : location.pathname + location.search);
      } catch (e) { /* a file:// page in some browsers */ }
    }

    tooltips(main);
    wheelIndex(document.querySelector(".ix"));
    q.hidden = false;
    q.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { apply(); share(); }, 60);
    });
    var m = /^#q=(.*)$/.exec(location.hash);
    if (m) {
      try { q.value = decodeURIComponent(m[1]); } catch (e) { q.value = m[1]; }
    }
    if (q.value) { apply(); } else { estimate(); }
    // Opened at a group (`page.html#2019-prog-metal`): go there now that the sizes are
    // estimated, before the covers are chosen, so the first covers asked for are its own.
    var target = !m && location.hash.length > 1 && document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "SECTION") { target.scrollIntoView(); }
    watchCovers(tiles);
    window.addEventListener("resize", function () {
      clearTimeout(resized);
      resized = setTimeout(estimate, 150);
    });
  });
}());
