Feature: C15 Keys derived from the secret (HKDF), no key management

  The signing key (64 bytes) and the encryption key (32 bytes) are HKDF-SHA256 of the
  secret with an empty salt and v3's info strings (spec §5.1, §19). The secret may be a
  list: the first signs, all verify, so secrets rotate without signing anybody out.

  @embedded
  Scenario: The derived keys are the §19 vectors
    Then the engine derives the §19 signing and encryption keys from "my-nextauth-secret"

  Scenario: Tokens made with the §19 secret are signed with the §19 signing key
    Given a site at "http://localhost:3000/api/auth"
    And the secret is "my-nextauth-secret"
    And short secrets are allowed
    And I am signed in
    Then the session cookie's signature verifies with the §19 signing key

  Scenario: Encrypted tokens made with the §19 secret open with the §19 encryption key
    Given a site at "http://localhost:3000/api/auth"
    And the secret is "my-nextauth-secret"
    And short secrets are allowed
    And JWT encryption is on
    And I am signed in
    Then the session cookie opens with the §19 encryption key to a JWS signed with the §19 signing key

  Scenario: Rotating secrets: a token made under the old secret still reads, then is re-signed
    Given a site at "http://localhost:3000/api/auth"
    And the secret is "the-old-secret-that-is-long-enough-00000000"
    And I am signed in
    When the site restarts with the secrets "the-new-secret-that-is-long-enough-11111111" then "the-old-secret-that-is-long-enough-00000000"
    Then the session reads back as "Jane Doe"
    And the session cookie's signature verifies with the key derived from "the-new-secret-that-is-long-enough-11111111"
    When the site restarts with the secret "the-new-secret-that-is-long-enough-11111111"
    Then the session reads back as "Jane Doe"

  Scenario: Rotating secrets keeps the CSRF cookie valid too
    Given a site at "http://localhost:3000/api/auth"
    And the secret is "the-old-secret-that-is-long-enough-00000000"
    And I am signed in
    When the site restarts with the secrets "the-new-secret-that-is-long-enough-11111111" then "the-old-secret-that-is-long-enough-00000000"
    And I sign out
    Then the JSON is '{"url":"http://localhost:3000"}'
    And I have no session

  Scenario: A token made under a secret the site does not know is refused
    Given a site at "http://localhost:3000/api/auth"
    And the secret is "the-old-secret-that-is-long-enough-00000000"
    And I am signed in
    When the site restarts with the secrets "the-new-secret-that-is-long-enough-11111111" then "yet-another-secret-that-is-long-enough-2222"
    And I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

  Scenario: Rotation works for encrypted tokens as well
    Given a site at "http://localhost:3000/api/auth"
    And JWT encryption is on
    And the secret is "the-old-secret-that-is-long-enough-00000000"
    And I am signed in
    When the site restarts with the secrets "the-new-secret-that-is-long-enough-11111111" then "the-old-secret-that-is-long-enough-00000000"
    Then the session reads back as "Jane Doe"
    And the session cookie opens with the key derived from "the-new-secret-that-is-long-enough-11111111" to a JWS with the header '{"alg":"HS512"}'
