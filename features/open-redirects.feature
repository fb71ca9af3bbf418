Feature: Open redirects are closed on every flow

  A callback URL is followed only when its parsed origin is the site's origin; a relative
  path is resolved against the base URL; anything else, including what does not parse,
  becomes the base URL (security checklist §1 #3 #4 #5). Checked on sign-in, on sign-out,
  from the query string and from the callback-url cookie.

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario Outline: Through the credentials sign-in
    When I fetch a CSRF token
    And I POST "/api/auth/callback/credentials" with the form:
      | csrfToken   | {csrf}        |
      | username    | jane          |
      | password    | correct horse |
      | callbackUrl | <callbackUrl> |
      | json        | true          |
    Then the status is 200
    And the JSON is '{"url":"<followed>"}'
    And the session reads back as "Jane Doe"

    Examples:
      | callbackUrl                             | followed                              |
      | https://evil.example                    | http://localhost:3000                 |
      | //evil.example                          | http://localhost:3000                 |
      | https://localhost:3000@evil.example     | http://localhost:3000                 |
      | http://localhost:3000@evil.example/     | http://localhost:3000                 |
      | http://localhost:3000.evil.example/x    | http://localhost:3000                 |
      | http://user:pw@localhost:3000/          | http://localhost:3000                 |
      | /\\evil.example                         | http://localhost:3000                 |
      | \\\\evil.example                        | http://localhost:3000                 |
      | /\nevil.example                         | http://localhost:3000                 |
      | http://localhost:3001/                  | http://localhost:3000                 |
      | https://localhost:3000/                 | http://localhost:3000                 |
      | javascript:alert(1)                     | http://localhost:3000                 |
      | data:text/html,<b>hi</b>                | http://localhost:3000                 |
      | evil.example                            | http://localhost:3000                 |
      | http://[::1                             | http://localhost:3000                 |
      | %                                       | http://localhost:3000                 |
      | /dashboard?tab=1                        | http://localhost:3000/dashboard?tab=1 |
      | /%2F%2Fevil.example                     | http://localhost:3000/%2F%2Fevil.example |
      | http://localhost:3000/profile           | http://localhost:3000/profile         |

  Scenario Outline: Through sign-out
    Given I am signed in
    When I POST "/api/auth/signout" with the form:
      | csrfToken   | {csrf}        |
      | callbackUrl | <callbackUrl> |
    Then I am redirected to "<followed>"
    And I have no session

    Examples:
      | callbackUrl                          | followed                      |
      | https://evil.example                 | http://localhost:3000         |
      | //evil.example                       | http://localhost:3000         |
      | https://localhost:3000@evil.example  | http://localhost:3000         |
      | http://localhost:3000.evil.example/x | http://localhost:3000         |
      | /\\evil.example                      | http://localhost:3000         |
      | http://[::1                          | http://localhost:3000         |
      | /goodbye                             | http://localhost:3000/goodbye |

  Scenario Outline: From the query string, into the callback-url cookie
    When I GET "/api/auth/signin?callbackUrl=<encoded>"
    Then the status is 200
    And the response sets the cookies:
      """
      next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
      next-auth.callback-url=<cookie>; Path=/; SameSite=Lax
      """

    Examples:
      | encoded                                   | cookie                                     |
      | https%3A%2F%2Fevil.example%2Fx            | http%3A%2F%2Flocalhost%3A3000              |
      | %2F%2Fevil.example                        | http%3A%2F%2Flocalhost%3A3000              |
      | http%3A%2F%2Flocalhost%3A3000%40evil.example | http%3A%2F%2Flocalhost%3A3000           |
      | %2Fdashboard                              | http%3A%2F%2Flocalhost%3A3000%2Fdashboard  |

  Scenario: A forged callback-url cookie does not redirect sign-out off-site
    Given I am signed in
    And my cookie "next-auth.callback-url" is "https%3A%2F%2Fevil.example%2F"
    When I POST "/api/auth/signout" with the form:
      | csrfToken | {csrf} |
    Then I am redirected to "http://localhost:3000"
    And the response sets the cookies:
      """
      next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/; SameSite=Lax
      next-auth.session-token=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
      """

  Scenario Outline: The server's allowed origins (v3's callbacks.redirect) add exactly those origins
    Given the site runs the server with the configuration:
      """
      url = "http://localhost:3000/api/auth"
      secret = "a-test-secret-that-is-long-enough-0123456789"
      data_dir = "{dir}/data"

      [redirects]
      allowed_origins = ["https://app.example.org", "http://localhost:5173"]

      [[providers]]
      type = "credentials"
      id = "credentials"
      name = "Credentials"
      users_file = "{dir}/users.toml"
      """
    When I fetch a CSRF token
    And I POST "/api/auth/callback/credentials" with the form:
      | csrfToken   | {csrf}        |
      | username    | jane          |
      | password    | correct horse |
      | callbackUrl | <callbackUrl> |
      | json        | true          |
    Then the status is 200
    And the JSON is '{"url":"<followed>"}'

    Examples:
      | callbackUrl                          | followed                             |
      | https://app.example.org/welcome      | https://app.example.org/welcome      |
      | http://localhost:5173/               | http://localhost:5173/               |
      | /dashboard                           | http://localhost:3000/dashboard      |
      | http://app.example.org/welcome       | http://localhost:3000                |
      | https://evil.app.example.org/        | http://localhost:3000                |
      | https://app.example.org.evil.net/    | http://localhost:3000                |
      | https://app.example.org@evil.net/    | http://localhost:3000                |
      | https://evil.example/                | http://localhost:3000                |

  @embedded
  Scenario Outline: The app's redirect callback <does>, within the same-origin rule
    Given the redirect callback <callback>
    When I fetch a CSRF token
    And I POST "/api/auth/callback/credentials" with the form:
      | csrfToken   | {csrf}     |
      | username    | jane       |
      | password    | correct horse |
      | callbackUrl | /dashboard |
      | json        | true       |
    Then the status is 200
    And the JSON is '{"url":"<followed>"}'
    And the session reads back as "Jane Doe"

    Examples:
      | does                                 | callback                                | followed                      |
      | rewrites the callback URL            | answers "/welcome"                      | http://localhost:3000/welcome |
      | cannot send the user off the site    | answers "https://evil.example/"         | http://localhost:3000         |
      | fails: the base URL                  | fails                                   | http://localhost:3000         |
