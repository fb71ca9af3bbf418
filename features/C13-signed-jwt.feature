Feature: C13 JWT sessions are signed by default (JWS, HS512)

  The session token is a compact JWS whose header is exactly {"alg":"HS512"}, signed with
  the key HKDF derives from the secret (spec §5.2). Anything that does not verify —
  tampered, unsigned, another algorithm, another key, expired — reads as no session: `{}`,
  and the cookie is cleared (spec §6.2 step 9).

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario: The session cookie is an HS512 JWS signed with the key derived from the secret
    Given I am signed in
    Then the session cookie is a JWS with the header '{"alg":"HS512"}'
    And the session cookie's signature verifies with the key derived from "a-test-secret-that-is-long-enough-0123456789"
    And the session cookie's claims are:
      """
      {"name":"Jane Doe","email":"jane@example.com","sub":"42","jti":"{hex32}","auth_time":"{unix:now}","iat":"{unix:now}","exp":"{unix:+30d}"}
      """

  Scenario: A token minted independently with the site's key is accepted
    Given my session cookie is a token with the header '{"alg":"HS512"}' signed HS512 with the secret "a-test-secret-that-is-long-enough-0123456789" and the claims:
      """
      {"name":"Minted Elsewhere","email":"m@example.com","picture":"https://example.com/m.png","sub":"7","iat":"{unix:-1h}","exp":"{unix:+1d}"}
      """
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Minted Elsewhere","email":"m@example.com","image":"https://example.com/m.png"},"expires":"{iso:+30d}"}'

  Scenario: A tampered payload is refused and the cookie cleared
    Given I am signed in
    When I change the name in the session cookie's payload to "Mallory"
    And I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"
    And the response sets the cookies:
      """
      next-auth.session-token=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
      """
    And I have no session

  Scenario Outline: A token that does not verify reads as no session
    Given my session cookie is a token with the header '<header>' signed <alg> with the secret "<secret>" and the claims:
      """
      {"name":"Mallory","sub":"666","iat":"<iat>","exp":"<exp>"}
      """
    When I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"
    And the session cookie is cleared

    Examples: unsigned, other algorithms, other keys, bad headers
      | header                                   | alg   | secret                                       | iat        | exp        |
      | {"alg":"none"}                           | none  | a-test-secret-that-is-long-enough-0123456789 | {unix:now} | {unix:+1d} |
      | {"alg":"HS256"}                          | HS256 | a-test-secret-that-is-long-enough-0123456789 | {unix:now} | {unix:+1d} |
      | {"alg":"HS512"}                          | HS256 | a-test-secret-that-is-long-enough-0123456789 | {unix:now} | {unix:+1d} |
      | {"alg":"HS512"}                          | HS512 | another-secret-that-is-long-enough-987654321 | {unix:now} | {unix:+1d} |
      | {"alg":"HS512","jku":"https://evil.example/k"} | HS512 | a-test-secret-that-is-long-enough-0123456789 | {unix:now} | {unix:+1d} |
      | {"alg":"HS512","kid":"evil"}             | HS512 | a-test-secret-that-is-long-enough-0123456789 | {unix:now} | {unix:+1d} |
      | {"alg":"HS512","crit":["exp"]}           | HS512 | a-test-secret-that-is-long-enough-0123456789 | {unix:now} | {unix:+1d} |

    Examples: expired, too old, not yet valid
      | header          | alg   | secret                                       | iat         | exp         |
      | {"alg":"HS512"} | HS512 | a-test-secret-that-is-long-enough-0123456789 | {unix:-31d} | {unix:-1d}  |
      | {"alg":"HS512"} | HS512 | a-test-secret-that-is-long-enough-0123456789 | {unix:-31d} | {unix:+1d}  |
      | {"alg":"HS512"} | HS512 | a-test-secret-that-is-long-enough-0123456789 | {unix:+1h}  | {unix:+30d} |

  Scenario Outline: A validly signed token whose subject is <why> is no session
    A session needs a subject: a token made for another purpose never passes for one
    (checklist §1 #10).

    Given my session cookie is a token with the header '{"alg":"HS512"}' signed HS512 with the secret "a-test-secret-that-is-long-enough-0123456789" and the claims:
      """
      {"name":"Mallory","email":"m@example.com",<sub>"iat":"{unix:-1m}","exp":"{unix:+1d}"}
      """
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

    Examples:
      | why      | sub         |
      | missing  |             |
      | empty    | "sub":"",   |
      | a number | "sub":7,    |
      | null     | "sub":null, |

  Scenario: A token without iat is refused
    Given my session cookie is a token with the header '{"alg":"HS512"}' signed HS512 with the secret "a-test-secret-that-is-long-enough-0123456789" and the claims:
      """
      {"name":"Mallory","sub":"666","exp":"{unix:+1d}"}
      """
    Then I have no session

  Scenario: The header may name the JWT type and v3's key id
    Given my session cookie is a token with the header '{"alg":"HS512","typ":"JWT","kid":"nextauth-auto-generated-signing-key"}' signed HS512 with the secret "a-test-secret-that-is-long-enough-0123456789" and the claims:
      """
      {"name":"Jane Doe","sub":"42","iat":"{unix:now}","exp":"{unix:+1d}"}
      """
    Then the session reads back as "Jane Doe"

  @embedded
  Scenario: The §19 JWS vector is accepted with its secret at its iat
    Given the secret is "my-nextauth-secret"
    And short secrets are allowed
    And the clock is at 1700000000
    And my cookie "next-auth.session-token" is "{vector:jws}"
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":"https://example.com/a.png"},"expires":"2023-12-14T22:13:20.000Z"}'
    And the session cookie's claims are:
      """
      {"name":"Jane Doe","email":"jane@example.com","picture":"https://example.com/a.png","sub":"42","iat":1700000000,"exp":1702592000}
      """
    And the session cookie is "{vector:jws}"

  @embedded
  Scenario: The §19 JWS vector is refused once expired, and with another secret
    Given the secret is "my-nextauth-secret"
    And short secrets are allowed
    And the clock is at 1702592000
    And my cookie "next-auth.session-token" is "{vector:jws}"
    Then I have no session
    Given the clock is at 1700000000
    And the secret is "a-test-secret-that-is-long-enough-0123456789"
    And my cookie "next-auth.session-token" is "{vector:jws}"
    Then I have no session

  @embedded
  Scenario: get_token reads the session cookie or a bearer token, never failing
    Given the secret is "my-nextauth-secret"
    And short secrets are allowed
    And the clock is at 1700000000
    When the app checks the token with the header "Authorization" = "Bearer {vector:jws}"
    Then the app finds the token of subject "42"
    When the app checks the token with the header "Cookie" = "next-auth.session-token={vector:jws}"
    Then the app finds the token of subject "42"
    When the app checks the token with the header "Authorization" = "Bearer %zz"
    Then the app finds no token
    When the app checks the token with the header "Authorization" = "Bearer eyJhbGciOiJub25lIn0.e30."
    Then the app finds no token
    When the app checks the token with the header "Authorization" = "Basic {vector:jws}"
    Then the app finds no token
