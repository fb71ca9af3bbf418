Feature: C12 The most restrictive cookie policy for each cookie

  Every cookie is host-only, Path=/ and SameSite=Lax; HttpOnly except the callback URL
  (which v3's client reads). On https the names carry `__Host-` (CSRF) and `__Secure-`
  prefixes and every cookie is Secure. The `Set-Cookie` lines are v3's bytes (spec §2).

  Scenario: First visit on an http site: the CSRF and callback-url cookies
    Given a site at "http://localhost:3000/api/auth"
    When I GET "/api/auth/providers"
    Then the status is 200
    And the response sets the cookies:
      """
      next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
      next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/; SameSite=Lax
      """

  Scenario: Sign-in and sign-out on an http site
    Given a site at "http://localhost:3000/api/auth"
    When I fetch a CSRF token
    And I sign in as "jane" with password "correct horse"
    Then the response sets the cookies:
      """
      next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
      """
    When I sign out
    Then the response sets the cookies:
      """
      next-auth.session-token=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
      """

  Scenario: On an https site every cookie is Secure, with __Host- and __Secure- names
    Given a site at "https://example.com/api/auth"
    When I GET "/api/auth/csrf"
    Then the response sets the cookies:
      """
      __Host-next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; Secure; SameSite=Lax
      __Secure-next-auth.callback-url=https%3A%2F%2Fexample.com; Path=/; Secure; SameSite=Lax
      """
    And the CSRF token is the one in the CSRF cookie
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken   | {csrf}                    |
      | username    | jane                      |
      | password    | correct horse             |
      | callbackUrl | https://example.com/page  |
      | json        | true                      |
    Then the JSON is '{"url":"https://example.com/page"}'
    And the response sets the cookies:
      """
      __Secure-next-auth.callback-url=https%3A%2F%2Fexample.com%2Fpage; Path=/; Secure; SameSite=Lax
      __Secure-next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; Secure; SameSite=Lax
      """
    And the session reads back as "Jane Doe"
    When I sign out
    Then the JSON is '{"url":"https://example.com/page"}'
    And the response sets the cookies:
      """
      __Secure-next-auth.session-token=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; Secure; SameSite=Lax
      """
    And I have no session

  Scenario: Secure cookies can be forced on an http site
    Given a site at "http://localhost:3000/api/auth"
    And secure cookies are forced
    When I GET "/api/auth/csrf"
    Then the response sets the cookies:
      """
      __Host-next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; Secure; SameSite=Lax
      __Secure-next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/; Secure; SameSite=Lax
      """

  Scenario: A cookie policy from the configuration replaces the default
    Given a site at "http://localhost:3000/api/auth"
    And the session-token cookie policy is:
      """
      {"name":"app-session","http_only":true,"same_site":"strict","path":"/","secure":false}
      """
    And the callback-url cookie policy is:
      """
      {"name":"app-return-to","http_only":true,"same_site":"strict","path":"/app","secure":false,"domain":"localhost"}
      """
    When I fetch a CSRF token
    Then the response sets the cookies:
      """
      next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
      app-return-to=http%3A%2F%2Flocalhost%3A3000; Domain=localhost; Path=/app; HttpOnly; SameSite=Strict
      """
    When I sign in as "jane" with password "correct horse"
    Then the response sets the cookies:
      """
      app-session={jws}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Strict
      """
    And the session reads back as "Jane Doe"
    When I sign out
    Then the response sets the cookies:
      """
      app-session=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Strict
      """
    And I have no session

  Scenario: Responses that carry a cookie or a session are never cached
    Given a site at "http://localhost:3000/api/auth"
    When I GET "/api/auth/providers"
    Then the header "cache-control" is "no-store"
    When I GET "/api/auth/providers"
    Then the response sets no cookie
    And the header "cache-control" is absent
