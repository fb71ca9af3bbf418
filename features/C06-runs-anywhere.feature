Feature: C06 Runs anywhere

  The same engine runs embedded in a Rust service (any runtime: the crate's `handle` takes
  an `http::Request` and needs no server of its own) and as the standalone `portcullis`
  server. The server follows the platforms' conventions: it listens where `PORT`/`HOST`
  say when its file does not (tested on the binary in apps/server/tests/server/ops.rs),
  answers an orchestrator's probes outside the auth base path, and drains requests in
  flight on SIGTERM. Serverless (AWS Lambda) and a tower/axum service are not there yet
  (issue 12): this feature pins what runs today.

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
