# C18
Feature: C18 Advanced hooks: who signs in, the token, the cookies and the session's lifetime

  v3's advanced options, as the server and the embedded crate take them: the sign_in, jwt,
  session, redirect and events hooks (operator's HTTP endpoints for the server), the cookie policy,
  the session's lifetime and re-validation interval, and v3's explicit JWT keys.

  A NextAuth v3 site that set `jwt.signingKey` (and `jwt.encryptionKey`) keeps its users'
  sessions: the same JWK strings, given as `[jwt] signing_key` / `encryption_key`, sign,
  verify and encrypt instead of the keys derived from the secret (spec §5.1). The v3 tokens
  below were minted by next-auth@3.29.10's own `jwt.encode`
  (fixtures/nextauth-v3/explicit-keys) at 1700000000.

  @embedded
  Scenario: A cookie v3 signed with an explicit signing key reads back
    Given a site at "http://localhost:3000/api/auth"
    And the JWT signing key is v3's "signingKey"
    And the clock is at 1700000001
    And my session cookie is the token v3 minted for "signing_key"
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":"https://example.com/a.png"},"expires":"{iso:+30d}"}'

  @embedded
  Scenario: A cookie v3 signed and encrypted with explicit keys reads back
    Given a site at "http://localhost:3000/api/auth"
    And JWT encryption is on
    And the JWT signing key is v3's "signingKey"
    And the JWT encryption key is v3's "encryptionKey"
    And the clock is at 1700000001
    And my session cookie is the token v3 minted for "signing_and_encryption_keys"
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":"https://example.com/a.png"},"expires":"{iso:+30d}"}'

  @embedded
  Scenario: A v3 cookie signed with another key is refused
    Given a site at "http://localhost:3000/api/auth"
    And the JWT signing key is v3's "otherSigningKey"
    And the clock is at 1700000001
    And my session cookie is the token v3 minted for "signing_key"
    When I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"
    And the session cookie is cleared

  @embedded
  Scenario: A v3 cookie encrypted with the explicit key does not open with the derived one
    Given a site at "http://localhost:3000/api/auth"
    And JWT encryption is on
    And the JWT signing key is v3's "signingKey"
    And the clock is at 1700000001
    And my session cookie is the token v3 minted for "signing_and_encryption_keys"
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

  Scenario: With an explicit signing key, sessions are signed with it
    Given a site at "http://localhost:3000/api/auth"
    And the JWT signing key is v3's "signingKey"
    And I am signed in
    Then the session cookie is a JWS with the header '{"alg":"HS512"}'
    And the session cookie's signature verifies with v3's "signingKey"

  Scenario: A token signed now with the explicit key is accepted
    Given a site at "http://localhost:3000/api/auth"
    And the JWT signing key is v3's "signingKey"
    And my session cookie is a token signed HS512 with v3's "signingKey" and the claims:
      """
      {"name":"Minted Elsewhere","email":"m@example.com","picture":"https://example.com/m.png","sub":"7","iat":"{unix:-1h}","exp":"{unix:+1d}"}
      """
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Minted Elsewhere","email":"m@example.com","image":"https://example.com/m.png"},"expires":"{iso:+30d}"}'

  Scenario: With an explicit signing key, the key derived from the secret no longer verifies
    Given a site at "http://localhost:3000/api/auth"
    And the JWT signing key is v3's "signingKey"
    And my session cookie is a token with the header '{"alg":"HS512"}' signed HS512 with the secret "a-test-secret-that-is-long-enough-0123456789" and the claims:
      """
      {"name":"Mallory","sub":"666","iat":"{unix:-1h}","exp":"{unix:+1d}"}
      """
    When I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"
    And the session cookie is cleared

  Scenario: The server takes both keys from its configuration file
    Given a site at "http://localhost:3000/api/auth"
    And the site runs the server with the configuration:
      """
      url = "http://localhost:3000/api/auth"
      secret = "a-test-secret-that-is-long-enough-0123456789"
      data_dir = "{dir}/data"

      [jwt]
      encryption = true
      signing_key = '{v3-key:signingKey}'
      encryption_key = '{v3-key:encryptionKey}'

      [[providers]]
      type = "credentials"
      id = "credentials"
      name = "Credentials"
      users_file = "{dir}/users.toml"
      """
    And I am signed in
    Then the session cookie opens with v3's "encryptionKey" to a JWS signed with v3's "signingKey"
    And the session reads back as "Jane Doe"

  Rule: The server's hooks are the operator's HTTP endpoints, called signed (docs/hooks.md)

    The server is configured from its file alone: each `[hooks.<name>]` names an endpoint
    of the operator's hook server on loopback, which checks every request's signature and
    signs its answers for that request.

    Scenario Outline: The sign_in hook <decides>
      Given a site at "http://localhost:3000/api/auth"
      And the operator's hook server answering:
        | hook    | answer   |
        | sign_in | <answer> |
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"

        [hooks.sign_in]
        url = "{saved:hook_url}/sign_in"
        secret = "{saved:hook_secret}"
        timeout_ms = 5000
        """
      And I fetch a CSRF token
      When I sign in as "jane" with password "correct horse"
      Then the status is <status>
      And the JSON is '{"url":"<url>"}'
      And every request the hook server received was signed

      Examples:
        | decides                                  | answer                                           | status | url                                                      |
        | allows: signed in                        | allow                                            | 200    | http://localhost:3000                                    |
        | denies: 403 AccessDenied                 | deny                                             | 403    | http://localhost:3000/api/auth/error?error=AccessDenied  |
        | sends the user elsewhere on the site     | redirect to http://localhost:3000/pending        | 200    | http://localhost:3000/pending                            |
        | sends the user off the site: refused     | redirect to https://evil.example/                | 200    | http://localhost:3000/api/auth/error?error=AccessDenied  |
        | fails (500): the sign-in fails closed    | fail                                             | 200    | http://localhost:3000/api/auth/error?error=AccessDenied  |

    @http
    Scenario: The jwt hook adds a role at sign-in and the session hook shows it
      Given a site at "http://localhost:3000/api/auth"
      And the operator's hook server answering:
        | hook    | answer                      |
        | jwt     | add the claim role = admin  |
        | session | copy the claim role         |
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"

        [hooks.jwt]
        url = "{saved:hook_url}/jwt"
        secret = "{saved:hook_secret}"
        timeout_ms = 5000

        [hooks.session]
        url = "{saved:hook_url}/session"
        secret = "{saved:hook_secret}"
        timeout_ms = 5000
        """
      And I fetch a CSRF token
      When I sign in as "jane" with password "correct horse"
      Then the status is 200
      When I GET "/api/auth/session"
      Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"expires":"{iso:+30d}","role":"admin"}'
      And every request the hook server received was signed

    @http
    Scenario: Events reach the operator's receiver, signed
      Given a site at "http://localhost:3000/api/auth"
      And the operator's hook server answering:
        | hook | answer |
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"

        [hooks.events]
        url = "{saved:hook_url}/events"
        secret = "{saved:hook_secret}"
        """
      And I fetch a CSRF token
      When I sign in as "jane" with password "correct horse"
      Then the status is 200
      And the hook server receives the event "signIn(Jane Doe, credentials)"
      And every request the hook server received was signed

    Scenario Outline: The redirect hook <does>
      Given a site at "http://localhost:3000/api/auth"
      And the operator's hook server answering:
        | hook     | answer   |
        | redirect | <answer> |
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [redirects]
        allowed_origins = ["https://app.example.org"]

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"

        [hooks.redirect]
        url = "{saved:hook_url}/redirect"
        secret = "{saved:hook_secret}"
        timeout_ms = 5000
        """
      And I fetch a CSRF token
      When I POST "/api/auth/callback/credentials" with the form:
        | csrfToken   | {csrf}        |
        | username    | jane          |
        | password    | correct horse |
        | callbackUrl | <callbackUrl> |
        | json        | true          |
      Then the status is 200
      And the JSON is '{"url":"<followed>"}'
      And the session reads back as "Jane Doe"
      And the hook server received 1 redirect request
      And every request the hook server received was signed

      Examples:
        | does                                                  | callbackUrl                | answer                                 | followed                        |
        | keeps the requested URL                               | /dashboard                 | keep                                   | http://localhost:3000/dashboard |
        | rewrites it to another page of the site               | /dashboard                 | rewrite to /welcome                    | http://localhost:3000/welcome   |
        | rewrites it to an allowed origin                      | /dashboard                 | rewrite to https://app.example.org/in  | https://app.example.org/in      |
        | narrows an allowed origin to the site                 | https://app.example.org/in | rewrite to /home                       | http://localhost:3000/home      |
        | cannot widen past the allowed origins: the base URL   | /dashboard                 | rewrite to https://evil.example/       | http://localhost:3000           |
        | fails (500): the base URL, not the requested URL      | https://app.example.org/in | fail                                   | http://localhost:3000           |

    Scenario: The redirect hook is asked about a callbackUrl once, not again for the cookie it set
      Given a site at "http://localhost:3000/api/auth"
      And the operator's hook server answering:
        | hook     | answer              |
        | redirect | rewrite to /welcome |
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"

        [hooks.redirect]
        url = "{saved:hook_url}/redirect"
        secret = "{saved:hook_secret}"
        timeout_ms = 5000
        """
      When I GET "/api/auth/signin?callbackUrl=%2Fdashboard"
      Then the status is 200
      And the response sets the cookies:
        """
        next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
        next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000%2Fwelcome; Path=/; SameSite=Lax
        """
      When I fetch a CSRF token
      And I sign in as "jane" with password "correct horse"
      Then the JSON is '{"url":"http://localhost:3000/welcome"}'
      And the hook server received 1 redirect request
      And every request the hook server received was signed

  Rule: The server's cookie policy and session lifetime come from its file

    What v3 sets in code (`cookies`, `session.maxAge`) the server reads from its
    configuration file: `[cookies]`, `[session]` (docs/security.md). These run the real
    binary on the real clock.

    @http
    Scenario: The cookie policy comes from the configuration file
      Given a site at "https://example.com/api/auth"
      And the site runs the server with the configuration:
        """
        url = "https://example.com/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [cookies]
        prefix = "host"

        [cookies.callbackUrl]
        name = "app-return-to"
        same_site = "strict"
        secure = true

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"
        """
      When I GET "/api/auth/csrf"
      Then the response sets the cookies:
        """
        __Host-next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; Secure; SameSite=Lax
        app-return-to=https%3A%2F%2Fexample.com; Path=/; HttpOnly; Secure; SameSite=Strict
        """
      When I fetch a CSRF token
      And I sign in as "jane" with password "correct horse"
      Then the response sets the cookies:
        """
        __Host-next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; Secure; SameSite=Lax
        """
      And the session reads back as "Jane Doe"

    @http
    Scenario: A session lasts the configured max_age
      Given a site at "http://localhost:3000/api/auth"
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [session]
        max_age = 3600

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"
        """
      And I fetch a CSRF token
      When I sign in as "jane" with password "correct horse"
      Then the response sets the cookies:
        """
        next-auth.session-token={jws}; Path=/; Expires={date:+1h}; HttpOnly; SameSite=Lax
        """
      When I GET "/api/auth/session"
      Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"expires":"{iso:+1h}"}'

    @http
    Scenario: With absolute_max_age a day, a session signed in an hour ago reads back
      Given a site at "http://localhost:3000/api/auth"
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [session]
        absolute_max_age = 86400

        [jwt]
        signing_key = '{v3-key:signingKey}'

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"
        """
      And my session cookie is a token signed HS512 with v3's "signingKey" and the claims:
        """
        {"name":"Jane Doe","email":"jane@example.com","sub":"1","auth_time":"{unix:-1h}","iat":"{unix:-1m}","exp":"{unix:+29d}"}
        """
      When I GET "/api/auth/session"
      Then the session reads back as "Jane Doe"

    @http
    Scenario: With absolute_max_age a day, a session signed in two days ago has ended, though renewed a minute ago
      Given a site at "http://localhost:3000/api/auth"
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [session]
        absolute_max_age = 86400

        [jwt]
        signing_key = '{v3-key:signingKey}'

        [[providers]]
        type = "credentials"
        id = "credentials"
        name = "Credentials"
        users_file = "{dir}/users.toml"
        """
      And my session cookie is a token signed HS512 with v3's "signingKey" and the claims:
        """
        {"name":"Jane Doe","email":"jane@example.com","sub":"1","auth_time":"{unix:-2d}","iat":"{unix:-1m}","exp":"{unix:+29d}"}
        """
      When I GET "/api/auth/session"
      Then the body is "{}"
      And the session cookie is cleared

    @stores
    Scenario: A database session signed in longer ago than the absolute lifetime has ended, though its expiry lies ahead
      Given a site at "http://localhost:3000/api/auth"
      And database sessions are on
      And sessions last at most 60 days from sign-in
      And Jane has a database session signed in 61 days ago that expires in 29 days
      When I GET "/api/auth/session"
      Then the body is "{}"
      And the session cookie is cleared
      And the store no longer holds the session

    @stores
    Scenario: A database session is extended no further than its absolute end
      Given a site at "http://localhost:3000/api/auth"
      And database sessions are on
      And sessions last at most 40 days from sign-in
      And Jane has a database session signed in 20 days ago that expires in 28 days
      When I GET "/api/auth/session"
      Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"accessToken":"{saved:access-token}","expires":"{saved:absolute-end-iso}"}'
      And the stored session expires "{saved:absolute-end-iso}"

  Rule: The re-validation interval (`[session] update_age`) is the operator's

    A database session is re-validated — its expiry written forward — at most once per
    `update_age` (v3's `session.updateAge`); in between, reads serve the stored expiry
    without a write. On the HTTP target the real binary runs from the file the scenario's
    settings make.

    @stores
    Scenario Outline: A database session last extended 2 days ago, with update_age <age>, <what>
      Given a site at "http://localhost:3000/api/auth"
      And database sessions are on
      And database sessions are extended at most once every <seconds> seconds
      And Jane has a database session that expires in 28 days
      When I GET "/api/auth/session"
      Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"accessToken":"{saved:access-token}","expires":"<expires>"}'
      And the stored session expires "<expires>"

      Examples:
        | age    | what                  | seconds | expires             |
        | 1 day  | is extended           | 86400   | {iso:+30d}          |
        | 3 days | keeps its expiry      | 259200  | {saved:expires-iso} |
