Feature: C14 JWT encryption (JWE, A256GCM) by setting encryption = true

  With `jwt.encryption = true` the signed token is wrapped in a compact JWE with the
  header exactly {"alg":"dir","enc":"A256GCM"}, encrypted with the key HKDF derives from the
  secret (spec §5.2 step 3). Decoding also accepts v3's `zip: DEF` tokens (spec §5.3).

  Background:
    Given a site at "http://localhost:3000/api/auth"
    And JWT encryption is on

  Scenario: The session cookie is a 5-part JWE and the session round-trips
    Given I am signed in
    Then the session cookie is a JWE with the header '{"alg":"dir","enc":"A256GCM"}'
    And the session reads back as "Jane Doe"
    And the response sets the cookies:
      """
      next-auth.session-token={jwe}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
      """
    And the session cookie is a JWE with the header '{"alg":"dir","enc":"A256GCM"}'

  Scenario: The JWE opens with the derived encryption key and holds an HS512 JWS
    Given I am signed in
    Then the session cookie opens with the key derived from "a-test-secret-that-is-long-enough-0123456789" to a JWS with the header '{"alg":"HS512"}'
    And the session cookie's claims are:
      """
      {"name":"Jane Doe","email":"jane@example.com","sub":"42","jti":"{hex32}","auth_time":"{unix:now}","iat":"{unix:now}","exp":"{unix:+30d}"}
      """

  Scenario: A JWE minted independently with the site's keys is accepted
    Given my session cookie is a JWE with the header '{"alg":"dir","enc":"A256GCM"}' around a token signed with the secret "a-test-secret-that-is-long-enough-0123456789" and the claims:
      """
      {"name":"Minted Elsewhere","sub":"7","iat":"{unix:now}","exp":"{unix:+1d}"}
      """
    Then the session reads back as "Minted Elsewhere"

  Scenario: A plain JWS is not accepted when encryption is on
    Given my session cookie is a token with the header '{"alg":"HS512"}' signed HS512 with the secret "a-test-secret-that-is-long-enough-0123456789" and the claims:
      """
      {"name":"Jane Doe","sub":"42","iat":"{unix:now}","exp":"{unix:+1d}"}
      """
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

  Scenario Outline: A JWE that does not open or is not v3's kind reads as no session
    Given my session cookie is a JWE with the header '<header>' around a token signed with the secret "<secret>" and the claims:
      """
      {"name":"Mallory","sub":"666","iat":"{unix:now}","exp":"{unix:+1d}"}
      """
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

    Examples:
      | header                                      | secret                                       |
      | {"alg":"dir","enc":"A256GCM"}               | another-secret-that-is-long-enough-987654321 |
      | {"alg":"dir","enc":"A128GCM"}               | a-test-secret-that-is-long-enough-0123456789 |
      | {"alg":"A256KW","enc":"A256GCM"}            | a-test-secret-that-is-long-enough-0123456789 |
      | {"alg":"dir","enc":"A256GCM","jku":"https://evil.example"} | a-test-secret-that-is-long-enough-0123456789 |

  @embedded
  Scenario: The §19 JWE vector (zip DEF) decodes with its secret
    Given the secret is "my-nextauth-secret"
    And short secrets are allowed
    And the clock is at 1700000001
    And my cookie "next-auth.session-token" is "{vector:jwe}"
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":"https://example.com/a.png"},"expires":"2023-12-14T22:13:21.000Z"}'
    And the session cookie is a JWE with the header '{"alg":"dir","enc":"A256GCM"}'
    And the session cookie opens with the key derived from "my-nextauth-secret" to a JWS with the header '{"alg":"HS512"}'
