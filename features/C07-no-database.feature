Feature: C07 Works without a database

  Credentials sign-in with JWT sessions needs no store at all: the whole flow (CSRF,
  sign-in, session reads, sign-out) keeps its state in signed cookies.

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
