/* Live pages: every element with data-live="URL" is re-fetched from URL and swapped in when the console's
   /events stream says the state changed (and after a reconnect, in case a change was missed). Generic: any
   page can mark a fragment live. No inline script (CSP). Opened <details> (data-key) stay open across swaps. */
(function () {
  "use strict";
  var targets = document.querySelectorAll("[data-live]");
  if (!targets.length || !window.EventSource || !window.fetch) { return; }
  var statusEls = document.querySelectorAll("[data-live-status]");
  var busy = false, again = false, everOpened = false, source = null;

  function setStatus(live) {
    document.body.classList.toggle("live-lost", !live);
    document.documentElement.setAttribute("data-live-state", live ? "open" : "lost");
    for (var i = 0; i < statusEls.length; i++) {
      statusEls[i].textContent = live ? "" : (document.documentElement.lang === "fr" ? "connexion perdue, nouvel essai…" : "connection lost, retrying…");
    }
  }

  function openKeys(el) {
    var keys = {}, open = el.querySelectorAll("details[data-key][open]");
    for (var i = 0; i < open.length; i++) { keys[open[i].getAttribute("data-key")] = true; }
    return keys;
  }

  /* <details data-src="URL">: its body is fetched when it opens (and again after each swap while open) */
  function loadDetails(details) {
    var body = details.querySelector(":scope > :not(summary)");
    fetch(details.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null || !details.isConnected) { return; }
        var holder = document.createElement("div");
        holder.innerHTML = html;
        if (body) { details.removeChild(body); }
        while (holder.firstChild) { details.appendChild(holder.firstChild); }
        details.setAttribute("data-loaded", "1");
      })
      .catch(function () { setStatus(false); });
  }

  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (details.open && details.hasAttribute("data-src") && !details.hasAttribute("data-loaded")) {
      loadDetails(details);
    }
  }, true);  /* toggle does not bubble: listen while it goes down */

  function swap(el, html) {
    var keys = openKeys(el);
    el.innerHTML = html;
    var all = el.querySelectorAll("details[data-key]");
    for (var i = 0; i < all.length; i++) {
      if (keys[all[i].getAttribute("data-key")]) { all[i].open = true; }  /* its toggle event loads it */
    }
    el.setAttribute("data-live-updated", String(Date.now()));
    el.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
  }

  function fetchOne(el) {
    return fetch(el.getAttribute("data-live"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.redirected || response.status === 401) { window.location.reload(); return null; }
        if (!response.ok) { return null; }
        return response.text().then(function (html) { swap(el, html); });
      });
  }

  function refresh() {
    if (busy) { again = true; return; }  /* one fetch at a time per page; a change meanwhile: once more after */
    busy = true;
    Promise.all(Array.prototype.map.call(targets, fetchOne))
      .catch(function () { setStatus(false); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function connect() {
    source = new EventSource("/events");
    source.addEventListener("change", refresh);
    source.addEventListener("open", function () {
      setStatus(true);
      if (everOpened) { refresh(); }  /* back after a restart: what changed meanwhile */
      everOpened = true;
    });
    source.addEventListener("error", function () {
      setStatus(false);
      if (source.readyState === EventSource.CLOSED) {  /* refused (e.g. 401): the browser gives up, we do not */
        source.close();
        refresh();  /* a session that ended sends the page to the login form */
        window.setTimeout(connect, 5000);
      }
    });
  }

  connect();
}());
