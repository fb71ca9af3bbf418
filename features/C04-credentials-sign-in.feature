Feature: C04 Credentials sign-in against any backend

  The app plugs in its own check (LDAP, an HTTP service, a password table …) as a port.
  A correct sign-in sets the session cookie and sends the user on; a failed one answers
  exactly as NextAuth v3 does (spec §9, §1.8): `json=true` turns every redirect into
  `{"url": …}` with the status already set (200, 401, 403 or 500), otherwise a 302.

  Background:
    Given a site at "http://localhost:3000/api/auth"
    And I fetch a CSRF token

  Scenario: Success with json=true answers {url} with 200 and sets the session cookie
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf}        |
      | username  | jane          |
      | password  | correct horse |
      | json      | true          |
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000"}'
    And the header "cache-control" is "no-store"
    And the response sets the cookies:
      """
      next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
      """
    And the session reads back as "Jane Doe"

  Scenario: Success without json redirects to the callback URL the form names
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken   | {csrf}                          |
      | username    | jane                            |
      | password    | correct horse                   |
      | callbackUrl | http://localhost:3000/dashboard |
    Then I am redirected to "http://localhost:3000/dashboard"
    And the response sets the cookies:
      """
      next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000%2Fdashboard; Path=/; SameSite=Lax
      next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
      """
    And the session reads back as "Jane Doe"

  Scenario: A wrong password with json=true is 401 with the error URL, and no session
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf} |
      | username  | jane   |
      | password  | wrong  |
      | json      | true   |
    Then the status is 401
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"}'
    And the response sets no cookie
    And I have no session

  Scenario: A wrong password without json goes to the error page, which forwards to sign-in
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf} |
      | username  | jane   |
      | password  | wrong  |
    Then I am redirected to "http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"
    When I follow the redirect
    Then I am redirected to "http://localhost:3000/api/auth/signin?error=CredentialsSignin"
    When I follow the redirect
    Then the status is 200
    And the page contains "Sign in failed. Check the details you provided are correct."

  Scenario: Missing fields are a failed sign-in, never an error
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf} |
      | json      | true   |
    Then the status is 401
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"}'

  # @embedded: only an in-process backend sees the request; the server's service gets the form without csrfToken.
  @embedded
  Scenario: The backend is given the whole form and the request, without its cookies
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken   | {csrf}                  |
      | username    | jane                    |
      | password    | correct horse           |
      | callbackUrl | http://localhost:3000/a |
      | json        | true                    |
    Then the status is 200
    And the backend was given the credentials:
      """
      {"csrfToken":"{csrf}","username":"jane","password":"correct horse","callbackUrl":"http://localhost:3000/a","json":"true"}
      """
    And the backend saw a POST request without its Cookie header

  Scenario: A JSON body works too, but only the string "true" asks for JSON
    When I POST "/api/auth/callback/credentials" with the JSON:
      """
      {"csrfToken":"{csrf}","username":"jane","password":"correct horse","json":true}
      """
    Then I am redirected to "http://localhost:3000"
    And the session reads back as "Jane Doe"

  # @embedded: a backend that throws is in-process; the server's backends fail closed (CredentialsSignin).
  @embedded
  Scenario: A failing backend sends the user to the error page with its message
    Given the credentials backend fails with "LDAP is unreachable"
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf}        |
      | username  | jane          |
      | password  | correct horse |
      | json      | true          |
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=LDAP%20is%20unreachable"}'
    And the response sets no cookie
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf}        |
      | username  | jane          |
      | password  | correct horse |
    Then I am redirected to "http://localhost:3000/api/auth/error?error=LDAP%20is%20unreachable"
    When I follow the redirect
    Then the status is 200
    And the page contains "<h1>Error</h1>"
    And I have no session

  # @embedded: a backend that throws a URL is in-process; the server's backends have no such answer.
  @embedded
  Scenario: A backend may send the user elsewhere instead (v3's thrown URL)
    Given the credentials backend sends the user to "http://localhost:3000/account-locked"
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf}        |
      | username  | jane          |
      | password  | correct horse |
    Then I am redirected to "http://localhost:3000/account-locked"
    And I have no session

  # @embedded: the server refuses to start such a configuration (apps/server tests).
  @embedded
  Scenario: A credentials provider without a backend is a configuration error (500)
    Given a credentials provider "ldap" with no backend
    When I POST "/api/auth/callback/ldap" with the form:
      | csrfToken | {csrf}        |
      | username  | jane          |
      | password  | correct horse |
      | json      | true          |
    Then the status is 500
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=Configuration"}'
    When I POST "/api/auth/callback/ldap" with the form:
      | csrfToken | {csrf}        |
      | username  | jane          |
      | password  | correct horse |
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Configuration"
    When I follow the redirect
    Then the status is 500
    And the page contains "There is a problem with the server configuration."

  @embedded
  Scenario: The signIn callback denies: 403 AccessDenied, no session
    Given the signIn callback denies
    When I sign in as "jane" with password "correct horse"
    Then the status is 403
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=AccessDenied"}'
    And the response sets no cookie
    When I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf}        |
      | username  | jane          |
      | password  | correct horse |
    Then I am redirected to "http://localhost:3000/api/auth/error?error=AccessDenied"
    When I follow the redirect
    Then the status is 403
    And the page contains "You do not have permission to sign in."
    And I have no session

  @embedded
  Scenario: The signIn callback sends the user elsewhere: no session
    Given the signIn callback redirects to "http://localhost:3000/pending-approval"
    When I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000/pending-approval"}'
    And the response sets no cookie
    And I have no session

  @embedded
  Scenario: The signIn callback throws: the error page gets its message
    Given the signIn callback fails with "Suspended"
    When I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=Suspended"}'
    And the response sets no cookie

  @embedded
  Scenario: The jwt callback fails at sign-in: its error, as v3 passes a thrown Error, no session
    Given the jwt callback fails
    When I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=jwt%20callback%20failed"}'
    And the response sets no cookie
    And I have no session

  @embedded
  Scenario: The signIn event hears about the sign-in
    Given events are recorded
    When I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the events are "signIn(Jane Doe, credentials)"

  Scenario: The server's own users file backend (Argon2id hashes) signs Jane in
    Given the site runs the server with the configuration:
      """
      url = "http://localhost:3000/api/auth"
      secret = "a-test-secret-that-is-long-enough-0123456789"
      data_dir = "{dir}/data"

      [[providers]]
      type = "credentials"
      id = "credentials"
      name = "Credentials"
      users_file = "{dir}/users.toml"
      """
    When I fetch a CSRF token
    And I sign in as "jane" with password "wrong"
    Then the status is 401
    When I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000"}'
    And the session reads back as "Jane Doe"

  Scenario: The server in dev mode signs in the demo user with no configuration
    Given the site runs the server in dev mode with the configuration:
      """
      data_dir = "{dir}/data"
      """
    When I fetch a CSRF token
    And I sign in as "demo" with password "demo"
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000"}'
    And the session reads back as "Demo User"

  Scenario: The 11th attempt for one username within 5 minutes fails like a wrong password, even with the right one
    When I sign in as "jane" with password "wrong" 10 times
    Then the status is 401
    When I remember the answer as "tenth wrong password"
    And I sign in as "jane" with password "correct horse"
    Then the status is 401
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"}'
    And the answer is the same as "tenth wrong password"
    And the backend was called 10 times
    And I have no session
    When I sign in as "JANE " with password "correct horse"
    Then the answer is the same as "tenth wrong password"
    When I sign in as "mallory" with password "wrong"
    Then the status is 401
    And the backend was called 11 times

  @embedded
  Scenario: Once the 5 minutes are over, the right password works again
    When I sign in as "jane" with password "wrong" 10 times
    And I sign in as "jane" with password "correct horse"
    Then the status is 401
    When 300 seconds pass
    And I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the session reads back as "Jane Doe"

  Rule: The server's LDAP backend, against a real OpenLDAP on loopback (.ci/ldap)

    The server's configuration names the directory; a wrong password, an unknown user and
    a locked account answer alike, and a directory that is down answers its own error code.

    Scenario Outline: An LDAP directory from the server's configuration checks <who>
      Given the test LDAP directory
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "corp"
        name = "Corporate"

        [providers.ldap]
        url = "{saved:ldap_url}"
        starttls = true
        ca_file = "{saved:ldap_ca}"
        bind_dn = "cn=portcullis,ou=services,dc=example,dc=org"
        bind_password = "service-secret"
        base_dn = "ou=people,dc=example,dc=org"
        """
      And I fetch a CSRF token
      When I POST "/api/auth/callback/corp" with the form:
        | csrfToken | {csrf}     |
        | username  | <username> |
        | password  | <password> |
        | json      | true       |
      Then the status is 401
      And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=corp"}'
      And the response sets no cookie
      And I have no session
      When I POST "/api/auth/callback/corp" with the form:
        | csrfToken | {csrf}        |
        | username  | jane          |
        | password  | correct horse |
        | json      | true          |
      Then the status is 200
      And the JSON is '{"url":"http://localhost:3000"}'
      And the session reads back as "Jane Doe"

      Examples:
        | who                  | username | password      |
        | a wrong password     | jane     | wrong         |
        | an unknown user      | nobody   | correct horse |
        | a locked account     | locked   | correct horse |
        | an empty password    | jane     |               |
        | an injected filter   | *)(uid=* | correct horse |

    Scenario: A DN template over LDAPS signs in a user whose uid has a comma
      Given the test LDAP directory
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "corp"
        name = "Corporate"

        [providers.ldap]
        url = "{saved:ldaps_url}"
        ca_file = "{saved:ldap_ca}"
        user_dn = "uid={username},ou=people,dc=example,dc=org"
        """
      And I fetch a CSRF token
      When I POST "/api/auth/callback/corp" with the form:
        | csrfToken | {csrf}        |
        | username  | smith, j      |
        | password  | correct horse |
        | json      | true          |
      Then the status is 200
      And the session reads back as "J Smith"

    Scenario: An LDAP directory that is down answers CredentialsUnavailable, not a 500
      Given the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "corp"
        name = "Corporate"

        [providers.ldap]
        url = "ldap://127.0.0.1:1"
        base_dn = "dc=example,dc=org"
        """
      And I fetch a CSRF token
      When I POST "/api/auth/callback/corp" with the form:
        | csrfToken | {csrf}        |
        | username  | jane          |
        | password  | correct horse |
        | json      | true          |
      Then the status is 200
      And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsUnavailable"}'
      And I have no session
      When I GET "/api/auth/error?error=CredentialsUnavailable"
      Then the status is 200

  Rule: The server's password table backend, against real PostgreSQL, MariaDB and SQLite

    An application's own users table checks the password: the query is the operator's,
    the hash is read in its own scheme, and may be rewritten to Argon2id on success.

    Scenario Outline: A password table in <database> signs Jane in with her bcrypt hash, then holds an Argon2id one
      Given a password table in <database> holding Jane's password as a bcrypt hash
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "app"
        name = "App"

        [providers.sql]
        url = "{saved:table_url}"
        query = "SELECT id, name, email, password_hash FROM {saved:table} WHERE email = {saved:param}"
        rehash = true
        update = "UPDATE {saved:table} SET password_hash = {saved:param} WHERE id = <second>"
        """
      And I fetch a CSRF token
      When I POST "/api/auth/callback/app" with the form:
        | csrfToken | {csrf}           |
        | username  | jane@example.com |
        | password  | wrong            |
        | json      | true             |
      Then the status is 401
      And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=app"}'
      And I have no session
      And the password table holds a bcrypt hash for Jane
      When I POST "/api/auth/callback/app" with the form:
        | csrfToken | {csrf}           |
        | username  | jane@example.com |
        | password  | correct horse    |
        | json      | true             |
      Then the status is 200
      And the JSON is '{"url":"http://localhost:3000"}'
      And the session reads back as "Jane Doe"
      And the password table holds an Argon2id hash for Jane

      Examples:
        | database   | second |
        | PostgreSQL | $2     |
        | MariaDB    | ?      |
        | SQLite     | ?      |

    Scenario: An unknown address is a failed sign-in like a wrong password
      Given a password table in SQLite holding Jane's password as an Argon2id hash
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "app"
        name = "App"

        [providers.sql]
        url = "{saved:table_url}"
        query = "SELECT id, name, email, password_hash FROM {saved:table} WHERE email = ?"
        """
      And I fetch a CSRF token
      When I POST "/api/auth/callback/app" with the form:
        | csrfToken | {csrf}              |
        | username  | mallory@example.com |
        | password  | correct horse       |
        | json      | true                |
      Then the status is 401
      And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=app"}'
      And I have no session

  Rule: The server's HTTP credentials backend: a signed POST to the operator's service

    The service receives the form (never the CSRF token) signed per Standard Webhooks, and
    answers a user or a refusal, signed for that request. Anything else fails closed.

    Scenario: The operator's service signs Jane in, and refuses a wrong password
      Given the operator's credentials service
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "app"
        name = "App"

        [providers.http]
        url = "{saved:service_url}"
        secret = "{saved:service_secret}"
        """
      And I fetch a CSRF token
      When I POST "/api/auth/callback/app" with the form:
        | csrfToken | {csrf}        |
        | username  | jane          |
        | password  | wrong         |
        | json      | true          |
      Then the status is 401
      And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=app"}'
      And I have no session
      When I POST "/api/auth/callback/app" with the form:
        | csrfToken | {csrf}        |
        | username  | jane          |
        | password  | correct horse |
        | json      | true          |
      Then the status is 200
      And the JSON is '{"url":"http://localhost:3000"}'
      And the session reads back as "Jane Doe"
      And the credentials service was called 2 times

    Scenario Outline: A service <failing> fails closed: no session
      Given the operator's credentials service, <answering>
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"
        data_dir = "{dir}/data"

        [[providers]]
        type = "credentials"
        id = "app"
        name = "App"

        [providers.http]
        url = "{saved:service_url}"
        secret = "{saved:service_secret}"
        timeout_ms = 2000
        """
      And I fetch a CSRF token
      When I POST "/api/auth/callback/app" with the form:
        | csrfToken | {csrf}        |
        | username  | jane          |
        | password  | correct horse |
        | json      | true          |
      Then the status is 401
      And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=app"}'
      And I have no session
      And the credentials service was called 1 time

      Examples:
        | failing                  | answering               |
        | whose answer is unsigned | answering unsigned      |
        | that answers too late    | answering after 6000 ms |
