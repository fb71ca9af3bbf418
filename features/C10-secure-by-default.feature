Feature: C10 Secure by default; promotes passwordless sign-in

  Every default that protects a user, one scenario each, with nothing configured to get it:
  the server will not start without a secret outside dev mode; cookies are Secure (the CSRF
  cookie `__Host-`) on an https site; every POST route checks the CSRF token; an OAuth
  sign-in carries `state` and a PKCE S256 challenge; a callback URL to another origin lands
  on the site; the built-in pages send a strict Content-Security-Policy; credentials
  sign-ins and magic links are rate-limited. The site's configuration names none of these
  settings, so each scenario exercises the default itself.

  How we know each scenario fails when its default is weakened: we flipped the defaults
  locally, all in one build (the magic-link limit in a second one) — the server
  generating a secret outside dev mode; cookies not Secure on https; the CSRF comparison
  always true; `Checks::default()` with state and PKCE off; `same_origin` accepting any
  origin; `'unsafe-inline'` added to the pages' `style-src`; 1000 credentials attempts
  per username instead of 10; 1000 magic links per address a minute instead of 3 — and
  ran this file on both targets: every scenario but the last failed, each at the step
  that pins its own default (the binary started; `next-auth.csrf-token` without
  `__Host-`/Secure; the JSON was a verify-request, provider or callback URL instead of
  `?csrf=true`; no `state` sent; `https://evil.example` followed and stored in the
  callback-url cookie; a different policy; 200 and a session for the right password; a
  fourth mail delivered). With the defaults back, all pass.

  The sign-in page lists passwordless options first (the last scenario; the embedded site
  configures OAuth, credentials, then e-mail, so a page in configuration order fails it);
  `serve --dev` signs in by magic link with a built-in mailbox (tested on the binary in
  apps/server/tests/server/dev_mailbox.rs).

  Background:
    Given a site at "http://localhost:3000/api/auth"

  @http
  Scenario: The server refuses to start without a secret outside dev mode
    When the server is started with the configuration:
      """
      url = "http://localhost:3000/api/auth"
      data_dir = "{dir}/data"
      """
    Then the server exits with status 2, saying "error: invalid configuration: no secret: set NEXTAUTH_SECRET (or `secret` in the config file) to at least 32 random bytes, e.g. `openssl rand -base64 32`"

  Scenario: On an https site every cookie is Secure, and the CSRF cookie is __Host-
    Given a site at "https://example.com/api/auth"
    When I GET "/api/auth/csrf"
    Then the response sets the cookies:
      """
      __Host-next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; Secure; SameSite=Lax
      __Secure-next-auth.callback-url=https%3A%2F%2Fexample.com; Path=/; Secure; SameSite=Lax
      """
    When I sign in as "jane" with password "correct horse"
    Then the response sets the cookies:
      """
      __Secure-next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; Secure; SameSite=Lax
      """

  Scenario Outline: POST <route> without the CSRF token is refused and changes nothing
    Given e-mail sign-in with links valid for 600 seconds
    And an OpenID provider "oidc"
    And I am signed in
    When I POST "<route>" with the form:
      | email    | jane@example.com |
      | username | jane             |
      | password | correct horse    |
      | json     | true             |
    Then the status is 200
    And the JSON is '{"url":"<refused>"}'
    And the response does not set the cookie "next-auth.session-token"
    And no mail was delivered
    And the session reads back as "Jane Doe"

    Examples:
      | route                          | refused                                               |
      | /api/auth/signin/email         | http://localhost:3000/api/auth/signin?csrf=true       |
      | /api/auth/signin/oidc          | http://localhost:3000/api/auth/signin?csrf=true       |
      | /api/auth/signin/credentials   | http://localhost:3000/api/auth/signin?csrf=true       |
      | /api/auth/callback/credentials | http://localhost:3000/api/auth/signin?csrf=true       |
      | /api/auth/signout              | http://localhost:3000/api/auth/signout?csrf=true      |

  Scenario: An OAuth provider configured with nothing but its endpoints gets state and PKCE
    Given an OAuth 2 provider "plain"
    And the site runs the server with the configuration:
      """
      url = "http://localhost:3000/api/auth"
      secret = "a-test-secret-that-is-long-enough-0123456789"
      data_dir = "{dir}/data"

      [[providers]]
      type = "oauth"
      id = "plain"
      name = "Plain"
      authorization_url = "{saved:provider}/authorize"
      token_url = "{saved:provider}/token"
      userinfo_url = "{saved:provider}/userinfo"
      scope = "profile email"
      client_id = "plain-client"
      client_secret = "plain-secret-0123456789abcdef"
      """
    When I sign in with "plain"
    Then I am sent to the provider to authorise "plain"
    And the authorisation request carries:
      | state                 | {random} |
      | code_challenge        | {random} |
      | code_challenge_method | S256     |
    When I consent at the provider
    And I return to the site
    Then I am redirected to "http://localhost:3000"
    And the provider's token request carried the PKCE verifier of that challenge

  Scenario Outline: A callback URL on another origin lands on the site (<route>)
    Given I am signed in
    When I POST "<route>" with the form:
      | csrfToken   | {csrf}               |
      | username    | jane                 |
      | password    | correct horse        |
      | callbackUrl | https://evil.example |
      | json        | true                 |
    Then the JSON is '{"url":"http://localhost:3000"}'

    Examples:
      | route                          |
      | /api/auth/callback/credentials |
      | /api/auth/signout              |

  Scenario: A callback URL on another origin in the query lands on the site
    When I GET "/api/auth/signin?callbackUrl=https%3A%2F%2Fevil.example%2Fphish"
    Then the response sets the cookies:
      """
      next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
      next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/; SameSite=Lax
      """
    And the page does not contain "evil.example"

  Scenario Outline: The built-in <page> page sends a strict Content-Security-Policy
    When I GET "<path>"
    Then the Content-Security-Policy is "<policy>"
    And the header "x-frame-options" is "DENY"
    And the page contains no inline script, style attribute or external resource

    Examples:
      | page           | path                               | policy                                                                                                                                   |
      | sign-in        | /api/auth/signin                   | default-src 'none'; style-src {style-hash}; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none' |
      | sign-out       | /api/auth/signout                  | default-src 'none'; style-src {style-hash}; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none' |
      | error          | /api/auth/error?error=AccessDenied | default-src 'none'; style-src {style-hash}; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none' |
      | verify-request | /api/auth/verify-request           | default-src 'none'; style-src {style-hash}; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none' |

  Scenario: Repeated failed credentials sign-ins are refused, even with the right password
    When I sign in as "jane" with password "wrong" 10 times
    Then the status is 401
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"}'
    When I sign in as "jane" with password "correct horse"
    Then the status is 401
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"}'
    And the backend was called 10 times
    And I have no session

  Scenario: Magic links for one address are rate-limited: the fourth in a minute is not sent
    Given e-mail sign-in with links valid for 600 seconds
    When I ask for a sign-in link for "jane@example.com" 3 times
    Then I receive 3 mails, each sent to "jane@example.com" only
    When I remember the answer as "third"
    And I ask for a sign-in link for "jane@example.com"
    Then the answer is the same as "third"
    And no mail was delivered

  Scenario: The sign-in page offers passwordless sign-in first
    Given e-mail sign-in with links valid for 600 seconds
    And an OpenID provider "oidc"
    When I GET "/api/auth/signin"
    Then the page lists the sign-in options in the order "email, oidc, credentials"
