Feature: Routes: providers, CSRF endpoint and unsupported requests

  The REST routes answer v3's shapes (spec §1.3, §1.4, §1.9). Anything v3 does not serve is
  a 400 with v3's text, never a 5xx.

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario: GET /providers lists every provider in v3's shape
    Given a credentials provider "ldap" with no backend
    When I GET "/api/auth/providers"
    Then the status is 200
    And the header "content-type" is "application/json; charset=utf-8"
    And the JSON is:
      """
      {
        "ldap": {"id":"ldap","name":"ldap","type":"credentials","signinUrl":"http://localhost:3000/api/auth/signin/ldap","callbackUrl":"http://localhost:3000/api/auth/callback/ldap"},
        "credentials": {"id":"credentials","name":"Credentials","type":"credentials","signinUrl":"http://localhost:3000/api/auth/signin/credentials","callbackUrl":"http://localhost:3000/api/auth/callback/credentials"}
      }
      """

  Scenario: URLs come from the configuration, never from the request's Host headers
    When I GET "/api/auth/providers" with the header "Host" = "evil.example"
    Then the JSON is '{"credentials":{"id":"credentials","name":"Credentials","type":"credentials","signinUrl":"http://localhost:3000/api/auth/signin/credentials","callbackUrl":"http://localhost:3000/api/auth/callback/credentials"}}'
    When I GET "/api/auth/signin?callbackUrl=http%3A%2F%2Fevil.example%2F" with the header "X-Forwarded-Host" = "evil.example"
    Then the page contains "<form action="http://localhost:3000/api/auth/callback/credentials" method="POST">"
    And the response sets no cookie

  Scenario: A site under a custom base path serves its routes there only
    Given a site at "https://example.com/custom/auth"
    When I GET "/custom/auth/providers"
    Then the status is 200
    And the JSON is '{"credentials":{"id":"credentials","name":"Credentials","type":"credentials","signinUrl":"https://example.com/custom/auth/signin/credentials","callbackUrl":"https://example.com/custom/auth/callback/credentials"}}'
    When I GET "/api/auth/providers"
    Then the status is 404

  Scenario: POST /_log is accepted and dropped
    When I POST "/api/auth/_log" with the form:
      | code    | CLIENT_ERROR |
      | level   | error        |
      | message | ["x"]        |
    Then the status is 200
    And the body is empty

  Scenario Outline: Unsupported method or action: 400 with v3's text
    When I send <method> "<path>"
    Then the status is 400
    And the body is "Error: This action with HTTP <method> is not supported by NextAuth.js"

    Examples:
      | method | path                            |
      | GET    | /api/auth/nope                  |
      | GET    | /api/auth                       |
      | GET    | /api/auth/_log                  |
      | GET    | /api/auth/callback/credentials  |
      | GET    | /api/auth/%FF                   |
      | POST   | /api/auth/session               |
      | POST   | /api/auth/csrf                  |
      | POST   | /api/auth/providers             |
      | POST   | /api/auth/error                 |
      | POST   | /api/auth/callback/nope         |
      | PUT    | /api/auth/session               |
      | DELETE | /api/auth/signout               |
      | PATCH  | /api/auth/signin/credentials    |
      | OPTIONS | /api/auth/csrf                 |

  Scenario: A path outside the base path is not found
    When I GET "/elsewhere"
    Then the status is 404
