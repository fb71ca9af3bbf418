Feature: C11 CSRF tokens on POST routes

  Double-submit CSRF protection as v3 (spec §3): the cookie holds `token|sha256(token +
  secret)`; a POST to sign in, sign out or the credentials callback must echo the token as
  `csrfToken`. Failures redirect to `?csrf=true` and change nothing. Tokens are compared in
  constant time and a forged cookie is replaced.

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario: GET /csrf hands out the token of the CSRF cookie, and keeps it
    When I GET "/api/auth/csrf"
    Then the status is 200
    And the JSON is '{"csrfToken":"{hex64}"}'
    And the header "cache-control" is "no-store"
    And the CSRF token is the one in the CSRF cookie
    When I remember the CSRF token as "first"
    And I GET "/api/auth/csrf"
    Then the JSON is '{"csrfToken":"{saved:first}"}'
    And the response sets no cookie

  Scenario: POST /signout without csrfToken keeps the session
    Given I am signed in
    When I POST "/api/auth/signout" with the form:
      | callbackUrl | http://localhost:3000/bye |
    Then I am redirected to "http://localhost:3000/api/auth/signout?csrf=true"
    And the response does not set the cookie "next-auth.session-token"
    And the session reads back as "Jane Doe"

  Scenario: POST /signout with a wrong csrfToken keeps the session (json=true)
    Given I am signed in
    When I POST "/api/auth/signout" with the form:
      | csrfToken | 0000000000000000000000000000000000000000000000000000000000000000 |
      | json      | true                                                             |
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000/api/auth/signout?csrf=true"}'
    And the session reads back as "Jane Doe"

  Scenario: POST /signout with the right csrfToken signs out
    Given I am signed in
    When I POST "/api/auth/signout" with the form:
      | csrfToken | {csrf} |
    Then I am redirected to "http://localhost:3000"
    And the session cookie is cleared
    And I have no session

  Scenario: The token may come in a JSON body
    Given I am signed in
    When I POST "/api/auth/signout" with the JSON:
      """
      {"csrfToken":"{csrf}"}
      """
    Then I am redirected to "http://localhost:3000"
    And I have no session

  Scenario: The credentials callback without csrfToken never reaches the backend
    When I fetch a CSRF token
    And I POST "/api/auth/callback/credentials" with the form:
      | username | jane          |
      | password | correct horse |
      | json     | true          |
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000/api/auth/signin?csrf=true"}'
    And the response sets no cookie
    When I POST "/api/auth/callback/credentials" with the form:
      | username | jane          |
      | password | correct horse |
    Then I am redirected to "http://localhost:3000/api/auth/signin?csrf=true"
    And the backend was never called
    And I have no session

  Scenario: POST /signin/<provider> checks the token before anything else
    When I fetch a CSRF token
    And I POST "/api/auth/signin/credentials" with the form:
      | json | true |
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000/api/auth/signin?csrf=true"}'
    When I POST "/api/auth/signin/credentials" with the form:
      | csrfToken | {csrf} |
    Then I am redirected to "http://localhost:3000/api/auth/signin"
    When I POST "/api/auth/signin/nosuchprovider" with the form:
      | csrfToken | {csrf} |
    Then I am redirected to "http://localhost:3000/api/auth/signin?csrf=true"

  Scenario: A forged CSRF cookie is refused and replaced
    Given my cookie "next-auth.csrf-token" is "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%7Cbogus"
    When I POST "/api/auth/signout" with the form:
      | csrfToken | aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa |
    Then I am redirected to "http://localhost:3000/api/auth/signout?csrf=true"
    And the response sets the cookies:
      """
      next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
      next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/; SameSite=Lax
      """
    When I GET "/api/auth/csrf"
    Then the CSRF token is the one in the CSRF cookie
    And the JSON is not '{"csrfToken":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}'

  Scenario: A CSRF cookie hashed with another site's secret is refused
    Given my cookie "next-auth.csrf-token" is the §19 CSRF cookie
    When I GET "/api/auth/csrf"
    Then the JSON is not '{"csrfToken":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}'
    And the response sets the cookies:
      """
      next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
      next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/; SameSite=Lax
      """

  Scenario: The §19 CSRF cookie verifies under its own secret
    Given the secret is "my-nextauth-secret"
    And short secrets are allowed
    And my cookie "next-auth.csrf-token" is the §19 CSRF cookie
    When I GET "/api/auth/csrf"
    Then the JSON is '{"csrfToken":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}'
    And the response does not set the cookie "next-auth.csrf-token"

  Scenario: A token from another browser's cookie is refused
    Given I am signed in
    When another browser fetches a CSRF token, remembered as "theirs"
    And I POST "/api/auth/signout" with the form:
      | csrfToken | {saved:theirs} |
      | json      | true           |
    Then the JSON is '{"url":"http://localhost:3000/api/auth/signout?csrf=true"}'
    And the session reads back as "Jane Doe"

  Scenario: A POST with a token but no CSRF cookie is refused
    When I POST "/api/auth/signout" with the form:
      | csrfToken | aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa |
      | json      | true                                                             |
    Then the JSON is '{"url":"http://localhost:3000/api/auth/signout?csrf=true"}'
    And the response sets cookie "next-auth.csrf-token"

  Scenario Outline: A duplicated or ambiguous csrfToken field is refused
    Given I am signed in
    When I POST "/api/auth/signout" with the raw form "<body>"
    Then the JSON is '{"url":"http://localhost:3000/api/auth/signout?csrf=true"}'
    And the session reads back as "Jane Doe"

    Examples:
      | body                                       |
      | csrfToken={csrf}&csrfToken={csrf}&json=true |
      | csrfToken=wrong&csrfToken={csrf}&json=true  |
      | csrfToken={csrf}x&json=true                 |
      | csrfToken=&json=true                        |
      | csrfToken[]={csrf}&json=true                |
