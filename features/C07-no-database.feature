Feature: C07 Works without a database

  Credentials sign-in with JWT sessions needs no store at all: the whole flow (CSRF,
  sign-in, session reads, sign-out) keeps its state in signed cookies. E-mail sign-in
  needs a store for its single-use tokens: configured without one, both of its routes
  answer `Configuration` (spec §8.1), a 500 with `json=true`, and nothing is sent. (The
  server refuses to start with such a configuration; that is tested in apps/server.)

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario: The whole credentials and JWT flow works with no store configured
    When I fetch a CSRF token
    And I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000"}'
    And the session reads back as "Jane Doe"
    When I sign out
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000"}'
    And I have no session

  # @embedded: the store that records every call is an in-process double.
  @embedded
  Scenario: JWT sessions never call a store, even when one is attached
    Given a store that records every call
    When I fetch a CSRF token
    And I sign in as "jane" with password "wrong"
    Then the status is 401
    When I sign in as "jane" with password "correct horse"
    Then the status is 200
    And the session reads back as "Jane Doe"
    When I sign out
    Then I have no session
    Given my cookie "next-auth.session-token" is "not.a.token"
    Then I have no session
    And the store was never called

  # @embedded: the server refuses to start such a configuration (apps/server tests).
  @embedded
  Scenario: E-mail sign-in without a store answers Configuration on both of its routes
    Given e-mail sign-in without a store
    When I fetch a CSRF token
    And I POST "/api/auth/signin/email" with the form:
      | csrfToken | {csrf}           |
      | email     | jane@example.com |
      | json      | true             |
    Then the status is 500
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=Configuration"}'
    And no mail was delivered
    When I POST "/api/auth/signin/email" with the form:
      | csrfToken | {csrf}           |
      | email     | jane@example.com |
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Configuration"
    And no mail was delivered
    When I follow the redirect
    Then the status is 500
    And the page contains "There is a problem with the server configuration."
    When I GET "/api/auth/callback/email?email=jane%40example.com&token=4f9c2a1be0d34c6a8e7f5b3d2c1a09887766554433221100ffeeddccbbaa9988"
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Configuration"
    And the response does not set the cookie "next-auth.session-token"
    And I have no session
