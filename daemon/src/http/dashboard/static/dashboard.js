// Picket dashboard, live parts: when /v1/events says a scan moved, re-read this page and
// swap in the new content of each element marked data-live (by id). The server renders
// every byte of markup; without JavaScript the pages read the same and a reload refreshes.
(function () {
  'use strict';
  if (!window.EventSource || !window.fetch || !document.querySelector('[data-live]')) {
    return;
  }
  var busy = false;
  var again = false;
  var timer = null;

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, 'text/html');
    document.querySelectorAll('[data-live]').forEach(function (el) {
      var next = fresh.getElementById(el.id);
      if (next && next.innerHTML !== el.innerHTML) {
        el.innerHTML = next.innerHTML;
      }
    });
    document.body.setAttribute('data-refreshed', String(Date.now()));
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) {
        if (!r.ok) { throw new Error('HTTP ' + r.status); }
        return r.text();
      })
      .then(swap)
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; soon(); }
      });
  }

  // Events come in bursts (a run ends, its findings, the scan ends): one read per burst.
  function soon() {
    if (timer) { return; }
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  }

  var events = new EventSource('/v1/events');
  events.onopen = soon;  // what happened before the stream opened
  events.onmessage = soon;
  ['started', 'tool_started', 'tool_finished', 'warning', 'finished'].forEach(function (kind) {
    events.addEventListener(kind, soon);
  });
})();
