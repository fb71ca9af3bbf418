/*
 * Portcullis browser client: the API of NextAuth v3's `next-auth/client` (spec §14) for
 * any page, with no dependencies and no build step.
 *
 *   Classic script:  <script src="/api/auth/client.js"></script>  → window.Portcullis
 *   ES module:       import { getSession } from "/api/auth/client.mjs";
 *
 * One file serves both: this script defines the client once on `globalThis.Portcullis`
 * (it runs unchanged as a classic script or as a module), and `client.mjs` imports it and
 * re-exports the functions by name. Types: `client.d.ts`, served beside it.
 *
 * Every open tab of the site keeps one view of the session: a change is announced on the
 * BroadcastChannel "nextauth" and under the localStorage key "nextauth.message" in v3's
 * message format, so a tab running NextAuth's own client follows too (§14.5).
 */
(function () {
  "use strict";

  var root = typeof globalThis !== "undefined" ? globalThis : window;
  // Loaded twice (a classic script and the module entry): keep the first instance.
  if (root.Portcullis) return;

  var STORAGE_KEY = "nextauth.message";
  var CHANNEL_NAME = "nextauth";
  var DEFAULT_BASE_PATH = "/api/auth";

  var config = { basePath: DEFAULT_BASE_PATH, keepAlive: 0, clientMaxAge: 0 };
  // True once the base path was chosen on purpose (configure, or this script's own URL).
  var basePathKnown = false;
  useScriptUrl(typeof document !== "undefined" && document.currentScript
    ? document.currentScript.src
    : null);

  // §14.5 state: undefined = never fetched, null = no session.
  var session = undefined;
  var lastSync = 0; // unix seconds, set when a fetch starts
  var inflight = null; // the latest session fetch, while it runs
  var fetches = 0; // numbers fetches, so a slow answer never overwrites a newer one
  var timer = null;
  var listeners = [];

  // Marks the localStorage copy of a message this client also sent on the channel: a tab
  // with the channel reads it there, and skips the copy.
  var clientId = "portcullis-" + randomId();

  var channel = null;
  if (typeof BroadcastChannel === "function") {
    try {
      channel = new BroadcastChannel(CHANNEL_NAME);
      channel.onmessage = function (event) {
        receive(event.data, false);
      };
    } catch (_) {
      channel = null;
    }
  }
  if (typeof window !== "undefined" && window.addEventListener) {
    window.addEventListener("storage", function (event) {
      if (event.key !== STORAGE_KEY || !event.newValue) return;
      var message;
      try {
        message = JSON.parse(event.newValue);
      } catch (_) {
        return;
      }
      receive(message, true);
    });
  }
  if (typeof document !== "undefined" && document.addEventListener) {
    document.addEventListener("visibilitychange", function () {
      // Only a page that uses the session refetches (v3: only a mounted useSession).
      if (!document.hidden && session !== undefined) {
        getSession({ event: "visibilitychange" }).catch(logError);
      }
    });
  }

  function now() {
    return Math.floor(Date.now() / 1000);
  }

  function randomId() {
    var bytes = new Uint8Array(8);
    if (root.crypto && root.crypto.getRandomValues) root.crypto.getRandomValues(bytes);
    else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b < 16 ? "0" : "") + b.toString(16);
      })
      .join("");
  }

  function logError(error) {
    if (root.console) root.console.error("[portcullis] CLIENT_FETCH_ERROR", error);
  }

  function route(path) {
    return config.basePath + "/" + path;
  }

  // The base path is the folder this script was loaded from, unless configured.
  function useScriptUrl(src) {
    if (basePathKnown || !src) return;
    try {
      var path = new URL(src, root.location ? root.location.href : undefined).pathname;
      config.basePath = path.slice(0, path.lastIndexOf("/"));
      basePathKnown = true;
    } catch (_) {
      /* keep the default */
    }
  }

  // `GET <base>/<path>` as JSON (§14.2): null when the status is not OK, the body is not
  // JSON, or the object has no keys.
  function fetchData(path) {
    return fetch(route(path))
      .then(function (res) {
        return res.json().then(function (data) {
          if (!res.ok) throw new Error("GET " + path + ": HTTP " + res.status);
          return data && typeof data === "object" && Object.keys(data).length > 0 ? data : null;
        });
      })
      .catch(function (error) {
        logError(error);
        return null;
      });
  }

  function postForm(url, fields) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields),
    }).then(function (res) {
      return res.json().then(
        function (data) {
          return { res: res, data: data || {} };
        },
        function () {
          return { res: res, data: {} };
        }
      );
    });
  }

  function navigate(url) {
    root.location.replace(url);
    // Only the hash changed: replace() does not load the page.
    if (url.indexOf("#") !== -1) root.location.reload();
  }

  // --- cross-tab messages (§14.5) -------------------------------------------------------

  // Announces a change to the other tabs: on the channel, and under the localStorage key in
  // v3's format ({event, data: {trigger}, clientId, timestamp}), which v3's client reads.
  function post(trigger) {
    var message = { event: "session", data: { trigger: trigger }, timestamp: now() };
    if (channel) {
      try {
        channel.postMessage(message);
        message = { event: "session", data: { trigger: trigger }, clientId: clientId, timestamp: message.timestamp };
      } catch (_) {
        /* a closed channel: localStorage alone carries it */
      }
    }
    try {
      // Removed first, so a message equal to the last one (same second) still fires a
      // storage event; v3's client ignores the removal (its newValue is null).
      root.localStorage.removeItem(STORAGE_KEY);
      root.localStorage.setItem(STORAGE_KEY, JSON.stringify(message));
    } catch (_) {
      /* storage disabled: the channel carries it */
    }
  }

  function receive(message, fromStorage) {
    if (!message || message.event !== "session" || !message.data) return;
    // Sent on the channel too, and read there.
    if (fromStorage && channel && typeof message.clientId === "string" && message.clientId.indexOf("portcullis-") === 0) return;
    getSession({ event: "storage" }).catch(logError);
  }

  // --- session state (§14.5) -------------------------------------------------------------

  function store(value, event) {
    var before = JSON.stringify(session === undefined ? "\u0000never" : session);
    session = value;
    if (JSON.stringify(value) === before) return;
    listeners.slice().forEach(function (listener) {
      try {
        listener(value, event);
      } catch (error) {
        if (root.console) root.console.error("[portcullis] onSessionChange listener", error);
      }
    });
  }

  // Whether §14.5 asks for a fetch for this event (never for "storage": the caller fetches).
  function stale(event) {
    if (session === undefined) return inflight === null;
    if (config.clientMaxAge === 0) return event !== null;
    if (session === null) return false;
    return now() >= lastSync + config.clientMaxAge;
  }

  function fetchSession(event, announce) {
    var id = ++fetches;
    lastSync = now();
    var request = fetchData("session").then(function (value) {
      if (id === fetches) {
        inflight = null;
        store(value, event);
      }
      if (announce) post("getSession");
      return value;
    });
    inflight = request;
    return request;
  }

  /**
   * The session, or null. `event` says why it is asked for, and decides between the cache
   * and `GET <base>/session` exactly as v3's client does (§14.5):
   * - "storage" (another tab announced a change), or never fetched: fetch;
   * - no event: the cache when clientMaxAge is 0; otherwise the cache while it is younger
   *   than clientMaxAge seconds (a cached "no session" is kept: a sign-in arrives as a
   *   message);
   * - any other event ("visibilitychange", "timer", …): fetch, unless clientMaxAge is set
   *   and the cache is younger or holds no session.
   * `force: true` always fetches (v3's exported getSession). Every fetch but one caused by
   * "storage" is announced to the other tabs.
   */
  function getSession(options) {
    var event = options && options.event != null ? String(options.event) : null;
    var force = !!(options && options.force);
    if (force || event === "storage" || stale(event)) {
      return fetchSession(event, event !== "storage");
    }
    return inflight || Promise.resolve(session === undefined ? null : session);
  }

  /** The CSRF token (`GET <base>/csrf`), or undefined. */
  function getCsrfToken() {
    return fetchData("csrf").then(function (data) {
      return data ? data.csrfToken : undefined;
    });
  }

  /** The configured providers keyed by id (`GET <base>/providers`), or null. */
  function getProviders() {
    return fetchData("providers");
  }

  /**
   * Signs in (§14.3). Credentials and e-mail providers POST their fields with `json=true`;
   * with `redirect: false` they answer `{error, status, ok, url}` instead of navigating.
   * OAuth providers POST to `<base>/signin/<id>` and the page goes to the URL answered.
   * No (or an unknown) provider: the built-in sign-in page.
   */
  function signIn(provider, options, authorizationParams) {
    options = options || {};
    var callbackUrl = options.callbackUrl != null ? options.callbackUrl : root.location.href;
    var redirect = options.redirect != null ? options.redirect : true;
    return getProviders().then(function (providers) {
      if (!providers) {
        navigate(route("error"));
        return undefined;
      }
      if (provider == null || !Object.prototype.hasOwnProperty.call(providers, provider)) {
        navigate(route("signin") + "?callbackUrl=" + encodeURIComponent(callbackUrl));
        return undefined;
      }
      var type = providers[provider].type;
      var returns = type === "credentials" || type === "email";
      var action = type === "credentials" ? "callback/" : "signin/";
      var url =
        route(action + encodeURIComponent(provider)) +
        "?" +
        new URLSearchParams(authorizationParams || {});
      return getCsrfToken()
        .then(function (csrfToken) {
          var fields = {};
          Object.keys(options).forEach(function (key) {
            fields[key] = String(options[key]);
          });
          fields.csrfToken = csrfToken;
          fields.callbackUrl = callbackUrl;
          fields.json = "true";
          return postForm(url, fields);
        })
        .then(function (answer) {
          var res = answer.res;
          var data = answer.data;
          if (redirect || !returns) {
            navigate(data.url != null ? data.url : callbackUrl);
            return undefined;
          }
          var error = null;
          if (data.url) error = new URL(data.url, root.location.href).searchParams.get("error");
          else if (!res.ok) error = "Default";
          var result = { error: error, status: res.status, ok: res.ok, url: error ? null : data.url || null };
          if (!res.ok) return result;
          // Signed in: refresh this tab and tell the others.
          return getSession({ force: true }).then(function () {
            return result;
          });
        });
    });
  }

  /**
   * Signs out (§14.4): `POST <base>/signout` with the CSRF token, announced to the other
   * tabs. Navigates to the answered URL, or with `redirect: false` refreshes this tab's
   * session and returns `{url}`.
   */
  function signOut(options) {
    options = options || {};
    var callbackUrl = options.callbackUrl != null ? options.callbackUrl : root.location.href;
    var redirect = options.redirect != null ? options.redirect : true;
    return getCsrfToken()
      .then(function (csrfToken) {
        return postForm(route("signout"), { csrfToken: csrfToken, callbackUrl: callbackUrl, json: "true" });
      })
      .then(function (answer) {
        post("signout");
        if (redirect) {
          navigate(answer.data.url != null ? answer.data.url : callbackUrl);
          return undefined;
        }
        return getSession({ event: "storage" }).then(function () {
          return answer.data;
        });
      });
  }

  /**
   * Calls `listener(session, event)` whenever this tab's view of the session changes
   * (signed in, signed out, another user, a new expiry). Returns the unsubscribe function.
   */
  function onSessionChange(listener) {
    if (typeof listener !== "function") throw new TypeError("onSessionChange needs a function");
    listeners.push(listener);
    return function unsubscribe() {
      var at = listeners.indexOf(listener);
      if (at !== -1) listeners.splice(at, 1);
    };
  }

  // keepAlive: while a session is cached, re-read it every keepAlive seconds, which also
  // slides the session cookie forward. v3 re-arms a one-shot timer on every render of its
  // Provider; without renders, the timer re-arms itself after each poll.
  function arm() {
    if (timer !== null) root.clearTimeout(timer);
    timer = null;
    if (!(config.keepAlive > 0)) return;
    timer = root.setTimeout(function () {
      timer = null;
      var poll = session ? getSession({ event: "timer" }) : Promise.resolve(null);
      poll.then(arm, arm);
    }, config.keepAlive * 1000);
  }

  function seconds(value, name) {
    var n = Number(value);
    if (!(n >= 0) || !isFinite(n)) throw new TypeError(name + " must be a number of seconds >= 0");
    return n;
  }

  /**
   * Sets `basePath` (default: the folder this script was served from, else "/api/auth"),
   * `keepAlive` and `clientMaxAge` (seconds; 0 turns them off). Unlike v3's setOptions,
   * a 0 given here applies.
   */
  function configure(options) {
    options = options || {};
    if (options.basePath != null) {
      config.basePath = String(options.basePath).replace(/\/+$/, "");
      basePathKnown = true;
    }
    if (options.clientMaxAge != null) config.clientMaxAge = seconds(options.clientMaxAge, "clientMaxAge");
    if (options.keepAlive != null) {
      config.keepAlive = seconds(options.keepAlive, "keepAlive");
      arm();
    }
  }

  var client = {
    getSession: getSession,
    getCsrfToken: getCsrfToken,
    getProviders: getProviders,
    signIn: signIn,
    signOut: signOut,
    onSessionChange: onSessionChange,
    configure: configure,
    /** A copy of the current settings. */
    get options() {
      return { basePath: config.basePath, keepAlive: config.keepAlive, clientMaxAge: config.clientMaxAge };
    },
    /** For client.mjs: the base path from the module's URL, unless one was chosen. */
    _useScriptUrl: useScriptUrl,
  };
  root.Portcullis = Object.freeze(client);
})();
