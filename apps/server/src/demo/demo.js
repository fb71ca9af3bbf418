// The dev-mode demo page: who is signed in, kept up to date by the client script
// (onSessionChange: this tab's sign-in and sign-out, other tabs, keep-alive reads).
(function () {
  "use strict";
  var client = window.Portcullis;
  var home = window.location.origin + "/";

  function byId(id) {
    return document.getElementById(id);
  }

  function show(session) {
    var user = session && session.user;
    byId("status").textContent = user ? "Signed in" : "Signed out";
    byId("signed-in").hidden = !user;
    byId("signed-out").hidden = !!user;
    byId("user-name").textContent = user ? user.name || "(no name)" : "";
    byId("user-email").textContent = user && user.email ? "<" + user.email + ">" : "";
  }

  // Sign-in comes back to the site's URL (NEXTAUTH_URL): say so when this page is elsewhere.
  var site = document.querySelector('meta[name="portcullis-site"]').content;
  if (site && new URL(site).origin !== window.location.origin) {
    var note = byId("elsewhere");
    note.textContent =
      "This page is open at " + window.location.origin + " but the site's URL is " + site +
      ": sign-in returns there. Open " + new URL(site).origin + "/ instead.";
    note.hidden = false;
  }

  client.configure({ keepAlive: 60 });
  client.onSessionChange(show);
  client.getSession().then(show);

  byId("sign-in").addEventListener("click", function () {
    // No provider: the built-in sign-in page, then back here.
    client.signIn(undefined, { callbackUrl: home });
  });
  byId("sign-out").addEventListener("click", function () {
    client.signOut({ callbackUrl: home, redirect: false });
  });
})();
