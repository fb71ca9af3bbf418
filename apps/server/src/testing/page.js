// The client script's test page: settings from the query (?keepAlive=1&clientMaxAge=60),
// the session as this tab sees it (#status, #user), what caused the last change (#event),
// how many GET /session the client sent (#session-fetches) and a random id per page load
// (#loaded: unchanged means the page was not reloaded).
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var client = window.Portcullis;
  var sessionFetches = 0;
  var changes = 0;

  function text(id, value) {
    document.getElementById(id).textContent = String(value);
  }

  var realFetch = window.fetch;
  window.fetch = function (input, init) {
    var url = new URL(typeof input === "string" ? input : input.url, window.location.href);
    if (url.pathname === client.options.basePath + "/session") text("session-fetches", ++sessionFetches);
    return realFetch.call(window, input, init);
  };

  function show(session, event) {
    var user = session && session.user;
    text("status", user ? "signed-in" : "signed-out");
    text("user", user ? user.name || "" : "");
    text("event", event || "none");
    text("changes", ++changes);
  }

  text("loaded", Math.random().toString(36).slice(2));
  client.configure({
    keepAlive: Number(params.get("keepAlive") || 0),
    clientMaxAge: Number(params.get("clientMaxAge") || 0),
  });
  client.onSessionChange(show);
  client.getSession();
})();
