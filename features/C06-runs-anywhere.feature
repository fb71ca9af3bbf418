Feature: C06 Runs anywhere

  The same engine runs embedded in a Rust service (any runtime: the crate's `handle` takes
  an `http::Request` and needs no server of its own), as the standalone `portcullis`
  server, as the `portcullis-lambda` function on AWS Lambda (here under cargo-lambda's
  local emulator, which turns HTTP requests into function URL events), and mounted in an
  axum app (`examples/axum`: the `tower`/`axum` features, its engine built from the same
  file by the server's code). One outline runs the
  same core scenarios against each: on the embedded target every row is the engine in
  process, configured by the server's own code from the same file; on the HTTP target each
  row is its real binary, configured from that file. The server follows the platforms'
  conventions: it listens where `PORT`/`HOST` say when its file does not (tested on the
  binary in apps/server/tests/server/ops.rs), answers an orchestrator's probes outside the
  auth base path, and drains requests in flight on SIGTERM.

  Background:
    Given a site at "http://localhost:3000/api/auth"

  @embedded
  Scenario: Embedded, the engine answers the auth routes in process, with no server
    When I GET "/api/auth/providers"
    Then the status is 200
    And the JSON is '{"credentials":{"id":"credentials","name":"Credentials","type":"credentials","signinUrl":"http://localhost:3000/api/auth/signin/credentials","callbackUrl":"http://localhost:3000/api/auth/callback/credentials"}}'

  @http
  Scenario: The standalone server answers liveness and readiness probes outside the auth path
    Given the site runs the server with the configuration:
      """
      url = "http://localhost:3000/api/auth"
      secret = "a-test-secret-that-is-long-enough-0123456789"
      data_dir = "{dir}/data"
      """
    When I GET "/healthz"
    Then the status is 200
    And the body is "ok"
    And the header "cache-control" is "no-store"
    And the response does not set the cookie "next-auth.csrf-token"
    When I GET "/readyz"
    Then the status is 200
    And the body is "ok"
    When I GET "/api/auth/csrf"
    Then the status is 200

  @http
  Scenario: The probes can be turned off
    Given the site runs the server with the configuration:
      """
      url = "http://localhost:3000/api/auth"
      secret = "a-test-secret-that-is-long-enough-0123456789"
      data_dir = "{dir}/data"

      [health]
      enabled = false
      """
    When I GET "/healthz"
    Then the status is 404
    When I GET "/readyz"
    Then the status is 404

  Scenario Outline: One behaviour on <frontend>: CSRF, a credentials sign-in, the session, sign-out, an error page
    Given the site runs <frontend> with the configuration:
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
    When I GET "/api/auth/csrf"
    Then the status is 200
    And the CSRF token is the one in the CSRF cookie
    When I sign in as "jane" with password "wrong"
    Then the status is 401
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"}'
    When I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000"}'
    And the session reads back as "Jane Doe"
    When I POST "/api/auth/signout" with the form:
      | csrfToken | {csrf} |
    Then I am redirected to "http://localhost:3000"
    And the session cookie is cleared
    And I have no session
    When I GET "/api/auth/error?error=Verification"
    Then the status is 403
    And the page's heading is "Unable to sign in"

    Examples:
      | frontend            |
      | the server          |
      | the Lambda function |
      | the axum example    |
