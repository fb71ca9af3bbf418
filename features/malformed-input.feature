Feature: Malformed input gets the spec's answer, never a 5xx or a hang

  Bad bytes, oversized headers and bodies, unreadable JSON, duplicated or garbage cookies:
  each gets a 4xx, a redirect with an error code or `{}` for the session (issue point 9,
  security checklist §1 #5 #14, §5 item 10). Every request here must answer within the
  specs' time limit.

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario: A Cookie header with non-UTF-8 bytes reads as no cookies
    When I GET "/api/auth/session" with a Cookie header of non-UTF-8 bytes
    Then the status is 200
    And the body is "{}"
    When I POST "/api/auth/signout" with a Cookie header of non-UTF-8 bytes
    Then I am redirected to "http://localhost:3000/api/auth/signout?csrf=true"

  Scenario: A large Cookie header of unknown cookies is read and ignored
    When I GET "/api/auth/session" with a Cookie header of 100 KB
    Then the status is 200
    And the body is "{}"

  Scenario: A huge Cookie header is refused (HTTP 431 from the server), never a 5xx
    When I GET "/api/auth/session" with a Cookie header of 1024 KB
    Then the status is 200 or 431

  Scenario: An oversized session cookie reads as no session
    Given my cookie "next-auth.session-token" is 20 KB of "a"
    When I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"

  Scenario Outline: A garbage session cookie reads as no session
    Given my cookie "next-auth.session-token" is "<value>"
    When I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"

    Examples:
      | value                    |
      | not.a.token              |
      | ....                     |
      | %%%                      |
      | %FF%FE                   |
      | "quoted"                 |
      | e30.e30.e30              |
      | eyJhbGciOiJub25lIn0.e30. |

  Scenario: With duplicated session cookies the first one counts
    Given I am signed in
    When I remember the session cookie as "good"
    And I GET "/api/auth/session" with the header "Cookie" = "next-auth.session-token=garbage; next-auth.session-token={saved:good}"
    Then the body is "{}"
    When I GET "/api/auth/session" with the header "Cookie" = "next-auth.session-token={saved:good}; next-auth.session-token=garbage"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"expires":"{iso:+30d}"}'

  Scenario: A 10 MB body is refused with 413
    When I fetch a CSRF token
    And I POST "/api/auth/callback/credentials" with a body of 10 MB
    Then the status is 413
    And the body is "Error: request body too large"

  Scenario: A body just over 64 KiB is refused with 413
    When I POST "/api/auth/signout" with a body of 65537 bytes
    Then the status is 413

  Scenario: An invalid JSON body is a 400
    When I POST "/api/auth/signout" with content type "application/json" and body "{not json"
    Then the status is 400
    And the body is "Error: invalid JSON body"

  Scenario Outline: Bodies that are not a form or a JSON object carry no fields
    Given I am signed in
    When I POST "/api/auth/signout" with content type "<type>" and body "<body>"
    Then I am redirected to "http://localhost:3000/api/auth/signout?csrf=true"
    And the session reads back as "Jane Doe"

    Examples:
      | type             | body              |
      | application/json | ["csrfToken"]     |
      | application/json | "csrfToken"       |
      | text/plain       | csrfToken={csrf}  |
      | application/xml  | <csrfToken/>      |

  Scenario: Form fields with broken percent-encoding are read, not fatal
    When I fetch a CSRF token
    And I POST "/api/auth/callback/credentials" with the raw form "csrfToken={csrf}&username=%ZZ%&password=%E9&json=true"
    Then the status is 401
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"}'

  Scenario: A callback URL that cannot be parsed falls back to the base URL
    When I GET "/api/auth/signin?callbackUrl=http%3A%2F%2F%5B%3A%3A1"
    Then the status is 200
    When I GET "/api/auth/signin?callbackUrl=%25"
    Then the status is 200
