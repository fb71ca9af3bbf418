@http
Feature: C16 Tab/window syncing and keep-alive in the browser client

  The client script served at BASE/client.js keeps every open tab of a site in agreement
  about who is signed in, without a reload: a sign-in or sign-out in one tab is announced on
  the BroadcastChannel "nextauth" and under the localStorage key `nextauth.message` in v3's
  format (so a tab running NextAuth's own client follows too), and the other tabs read the
  session again. With keepAlive the client re-reads the session every N seconds, which
  slides the session cookie forward; with clientMaxAge it answers reads from its cache for
  N seconds (spec §14.5).

  A real browser drives these: headless Chromium through ChromeDriver (`bash .ci/browser`
  installs them), with the client's test page open in tabs of one profile. They need the
  real server and the real clock, so they run on the HTTP target only (@http).

  Background:
    Given a site at "http://127.0.0.1/api/auth"
    And the site is open in a real browser

  Scenario: Signing in and out in one tab updates the other, without a reload
    Given the client test page is open in tab "A"
    And the client test page is open in tab "B"
    Then tab "A" shows "signed-out"
    And tab "B" shows "signed-out"
    When Jane signs in with the client script in tab "A"
    Then tab "A" shows "signed-in"
    And tab "B" shows "signed-in", learned from another tab
    When I sign out with the client script in tab "A"
    Then tab "A" shows "signed-out"
    And tab "B" shows "signed-out", learned from another tab
    And tab "B" was not reloaded

  Scenario: keepAlive re-reads the session and slides the session cookie forward
    Given the client test page is open in tab "A" with keepAlive 1
    When Jane signs in with the client script in tab "A"
    And I remember the browser's session cookie
    Then within 10 seconds the browser's session cookie is replaced by one that expires later
    And tab "A" shows "signed-in", last changed by "timer"

  Scenario: Within clientMaxAge reads come from the cache, unless another tab announces a change
    Given the client test page is open in tab "A"
    When Jane signs in with the client script in tab "A"
    And the client test page is open in tab "B" with clientMaxAge 60
    Then tab "B" has sent 1 session request
    When tab "B" reads the session 3 times
    And tab "B" reads the session for the event "visibilitychange"
    And tab "B" reads the session for the event "timer"
    Then every read in the browser answered the session of "Jane Doe"
    And tab "B" has sent 1 session request
    When tab "B" reads the session for the event "storage"
    Then tab "B" has sent 2 session requests

  Scenario: Once clientMaxAge has passed, a read fetches the session again
    Given the client test page is open in tab "A"
    When Jane signs in with the client script in tab "A"
    And the client test page is open in tab "B" with clientMaxAge 1
    Then tab "B" has sent 1 session request
    And within 5 seconds a read in tab "B" sends a new session request
