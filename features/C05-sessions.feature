Feature: C05 Sessions as JSON Web Tokens or as database rows

  With JWT sessions (the default) nothing is stored on the server: the session is the
  signed token in the session cookie. GET /session answers v3's JSON shape and re-issues
  the cookie, so an active user's session slides forward (spec §5.5, §6.2, §6.5).
  With database sessions the cookie carries a random token and the session lives in the
  store, extended at most once per updateAge (spec §6.3). The database scenarios run on
  every built-in store (tag `@stores`): sled, SQLite, PostgreSQL, MariaDB and MongoDB.

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario: GET /session answers v3's JSON and re-issues the cookie
    Given I am signed in
    When I remember the session cookie's claim "auth_time" as "signed_in_at"
    And I GET "/api/auth/session"
    Then the status is 200
    And the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"expires":"{iso:+30d}"}'
    And the header "content-type" is "application/json; charset=utf-8"
    And the header "cache-control" is "no-store"
    And the response sets the cookies:
      """
      next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
      """
    And the session cookie's claims are:
      """
      {"name":"Jane Doe","email":"jane@example.com","sub":"42","jti":"{hex32}","auth_time":{saved:signed_in_at},"iat":"{unix:now}","exp":"{unix:+30d}"}
      """

  Scenario: Without a session cookie the session is {}
    When I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"
    And the response does not set the cookie "next-auth.session-token"

  Scenario: The session is a JWT carried by the cookie alone
    Given I am signed in
    When I remember the session cookie as "jane"
    And I forget my cookies
    Then I have no session
    Given my cookie "next-auth.session-token" is "{saved:jane}"
    Then the session reads back as "Jane Doe"

  @embedded
  Scenario: Every read slides the expiry forward; an idle session expires
    Given I am signed in
    When 20 days pass
    And I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"expires":"2024-01-03T22:13:20.000Z"}'
    And the response sets the cookies:
      """
      next-auth.session-token={jws}; Path=/; Expires=Wed, 03 Jan 2024 22:13:20 GMT; HttpOnly; SameSite=Lax
      """
    When 20 days pass
    Then the session reads back as "Jane Doe"
    When 31 days pass
    And I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

  @embedded
  Scenario: The token lifetime is its own setting
    Given JWT tokens last 60 seconds
    And I am signed in
    When 59 seconds pass
    Then the session reads back as "Jane Doe"
    When 61 seconds pass
    Then I have no session

  @embedded
  Scenario: The session lifetime sets the cookie and the JSON expiry
    Given sessions last 3600 seconds
    And I am signed in
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"expires":"2023-11-14T23:13:20.000Z"}'
    And the response sets the cookies:
      """
      next-auth.session-token={jws}; Path=/; Expires=Tue, 14 Nov 2023 23:13:20 GMT; HttpOnly; SameSite=Lax
      """

  @embedded
  Scenario: The jwt and session callbacks shape the token and the session JSON
    Given the jwt callback adds the claim "role" = "admin"
    And the session callback copies the claim "role"
    And I am signed in
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"expires":"{iso:+30d}","role":"admin"}'
    And the session cookie's claims are:
      """
      {"name":"Jane Doe","email":"jane@example.com","sub":"42","jti":"{hex32}","auth_time":"{unix:now}","role":"admin","iat":"{unix:now}","exp":"{unix:+30d}"}
      """

  @embedded
  Scenario: A failing jwt callback on read gives {} and clears the cookie
    Given the jwt callback fails when the session is read
    And I am signed in
    When I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"
    And the response sets the cookies:
      """
      next-auth.session-token=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
      """
    And I have no session

  @embedded
  Scenario: A failing session callback gives {} and clears the cookie
    Given the session callback fails
    And I am signed in
    When I GET "/api/auth/session"
    Then the status is 200
    And the body is "{}"
    And the session cookie is cleared

  @embedded
  Scenario: Events hear about sign-in, session reads and sign-out
    Given events are recorded
    And I am signed in
    When I GET "/api/auth/session"
    And I sign out
    And I sign out
    Then the events are "signIn(Jane Doe, credentials), session(Jane Doe), signOut(42), signOut(no token)"

  @embedded
  Scenario: A custom codec encodes and decodes the session token
    Given a custom session codec
    And I am signed in
    Then the session cookie starts with "plain."
    And the session reads back as "Jane Doe"
    Given my session cookie is a token with the header '{"alg":"HS512"}' signed HS512 with the secret "a-test-secret-that-is-long-enough-0123456789" and the claims:
      """
      {"name":"Mallory","sub":"666","iat":"{unix:now}","exp":"{unix:+30d}"}
      """
    Then I have no session

  Scenario: Signing out clears the cookie and ends the session
    Given I am signed in
    When I sign out
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000"}'
    And the response sets the cookies:
      """
      next-auth.session-token=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
      """
    And I have no session

  @stores
  Scenario: A database session reads back with v3's JSON and keeps its expiry
    Given database sessions are on
    And Jane has a database session that expires in 30 days
    When I GET "/api/auth/session"
    Then the status is 200
    And the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"accessToken":"{saved:access-token}","expires":"{saved:expires-iso}"}'
    And the header "cache-control" is "no-store"
    And the response sets the cookies:
      """
      next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
      next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/; SameSite=Lax
      next-auth.session-token={saved:db-token}; Path=/; Expires={saved:expires-http}; HttpOnly; SameSite=Lax
      """
    And the stored session expires "{saved:expires-iso}"

  @stores
  Scenario: A database session last extended more than updateAge ago is extended
    Given database sessions are on
    And Jane has a database session that expires in 28 days
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"accessToken":"{saved:access-token}","expires":"{iso:+30d}"}'
    And the response sets the cookies:
      """
      next-auth.csrf-token={hex64}%7C{hex64}; Path=/; HttpOnly; SameSite=Lax
      next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000; Path=/; SameSite=Lax
      next-auth.session-token={saved:db-token}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
      """
    And the stored session expires "{iso:+30d}"

  @stores
  Scenario: An expired database session is deleted and its cookie cleared
    Given database sessions are on
    And Jane has a database session that expired 1 seconds ago
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared
    And the store no longer holds the session

  @stores
  Scenario: An unknown session token reads as no session, and no cookie as {}
    Given database sessions are on
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the response does not set the cookie "next-auth.session-token"
    Given my cookie "next-auth.session-token" is "0000000000000000000000000000000000000000000000000000000000000000"
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

  @stores
  Scenario: Signing out deletes the database session
    Given database sessions are on
    And Jane has a database session that expires in 30 days
    When I sign out
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000"}'
    And the session cookie is cleared
    And the store no longer holds the session
    Given my cookie "next-auth.session-token" is "{saved:db-token}"
    Then I have no session

  @embedded @stores
  Scenario: The stored expiry is written at most once per updateAge
    Given database sessions are on
    And Jane has a database session that expires in 30 days
    When 86400 seconds pass
    And I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"accessToken":"{saved:access-token}","expires":"{saved:expires-iso}"}'
    And the stored session expires "{saved:expires-iso}"
    And the store was asked to update_session_expiry 0 times in all
    When 1 seconds pass
    And I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":null},"accessToken":"{saved:access-token}","expires":"{iso:+30d}"}'
    And the stored session expires "{iso:+30d}"
    And the store was asked to update_session_expiry 1 time in all
    When 86400 seconds pass
    And I GET "/api/auth/session"
    And I GET "/api/auth/session"
    Then the store was asked to update_session_expiry 1 time in all
    When 1 seconds pass
    And I GET "/api/auth/session"
    Then the stored session expires "{iso:+30d}"
    And the store was asked to update_session_expiry 2 times in all

  @embedded @stores
  Scenario: updateAge is configurable; 0 writes the expiry on every read
    Given database sessions are on
    And database sessions are extended at most once every 0 seconds
    And Jane has a database session that expires in 30 days
    When 1 seconds pass
    And I GET "/api/auth/session"
    Then the stored session expires "{iso:+30d}"
    When 1 seconds pass
    And I GET "/api/auth/session"
    Then the stored session expires "{iso:+30d}"
    And the store was asked to update_session_expiry 2 times in all

  @embedded @stores
  Scenario: A database session is valid until its expiry; at its expiry it is gone, row and all
    Given database sessions are on
    And Jane has a database session that expires in 30 days
    And Jane also has a database session in another browser, remembered as "laptop"
    When 2591999 seconds pass
    Then the session reads back as "Jane Doe"
    When 1 seconds pass
    Given my cookie "next-auth.session-token" is "{saved:laptop}"
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared
    And the store no longer holds the session "{saved:laptop}"

  @embedded @stores
  Scenario: The app lists a user's sessions and revokes one
    Given database sessions are on
    And Jane has a database session that expires in 30 days
    And Jane also has a database session in another browser, remembered as "laptop"
    Then the app lists 2 sessions of Jane's
    When the app revokes the session "{saved:laptop}"
    Then the app lists 1 sessions of Jane's
    And the store no longer holds the session "{saved:laptop}"
    And the session reads back as "Jane Doe"

  @embedded @stores
  Scenario: Signing a user out everywhere ends every session of theirs
    Given database sessions are on
    And Jane has a database session that expires in 30 days
    And Jane also has a database session in another browser, remembered as "laptop"
    And Jane also has a database session in another browser, remembered as "phone"
    When the app signs Jane out everywhere
    Then 3 sessions were ended
    And the app lists 0 sessions of Jane's
    And the store no longer holds the session "{saved:laptop}"
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

  @embedded
  Scenario: Events hear about database session reads and sign-outs
    Given database sessions are on
    And events are recorded
    And Jane has a database session that expires in 30 days
    When I GET "/api/auth/session"
    And I sign out
    Then the events are "session(Jane Doe), signOut(database session of user {saved:user-id})"

  @embedded
  Scenario: A store that cannot read answers 503 {} with Retry-After and keeps the cookie
    Given database sessions are on
    And Jane has a database session that expires in 30 days
    And the store fails to get_session_and_user
    When I GET "/api/auth/session"
    Then the status is 503
    And the header "retry-after" is "1"
    And the body is "{}"
    And the response does not set the cookie "next-auth.session-token"

  @embedded
  Scenario: A store that cannot extend answers 503 {} and keeps the cookie
    Given database sessions are on
    And Jane has a database session that expires in 28 days
    And the store fails to update_session_expiry
    When I GET "/api/auth/session"
    Then the status is 503
    And the body is "{}"
    And the response does not set the cookie "next-auth.session-token"

  @embedded
  Scenario: An expired session is cleared even when the store cannot delete it
    Given database sessions are on
    And Jane has a database session that expired 1 seconds ago
    And the store fails to delete_session
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared

  @embedded
  Scenario: A failing session callback answers {} and keeps the cookie
    Given database sessions are on
    And the session callback fails
    And Jane has a database session that expires in 30 days
    When I GET "/api/auth/session"
    Then the body is "{}"
    And the response does not set the cookie "next-auth.session-token"

  @embedded
  Scenario: Signing out goes on when the store fails
    Given database sessions are on
    And Jane has a database session that expires in 30 days
    And the store fails to get_session_and_user
    And the store fails to delete_session
    When I sign out
    Then the JSON is '{"url":"http://localhost:3000"}'
    And the session cookie is cleared

  Rule: With `jwt.revocable`, signing out ends a JWT session everywhere

    A JWT session lives in its cookie, so signing out only deletes that cookie: a copy
    taken earlier stays valid until it expires. With `jwt.revocable` (it needs a store)
    signing out records the token's `jti` in the store until the token expires, and every
    session read and `get_token` asks the store first, on every instance sharing it.
    Renewals keep the `jti`, so every copy of the session ends together.

    @stores
    Scenario: A copy of the session cookie taken before sign-out is refused after it
      Given JWT sessions are revocable
      And I am signed in
      When I remember the session cookie as "copy"
      And I GET "/api/auth/session"
      Then the session reads back as "Jane Doe"
      When I sign out
      Then I have no session
      Given my cookie "next-auth.session-token" is "{saved:copy}"
      When I GET "/api/auth/session"
      Then the body is "{}"
      And the session cookie is cleared

    @embedded
    Scenario: get_token refuses a revoked token, and reads one that did not sign out
      Given JWT sessions are revocable
      And I am signed in
      When I remember the session cookie as "copy"
      And the app checks the token with the header "Cookie" = "next-auth.session-token={saved:copy}"
      Then the app finds the token of subject "42"
      When I sign out
      And the app checks the token with the header "Cookie" = "next-auth.session-token={saved:copy}"
      Then the app finds no token

    @embedded
    Scenario: A store that cannot say whether the token was revoked answers 503 {} and keeps the cookie
      Given JWT sessions are revocable
      And I am signed in
      And the store fails to is_jwt_revoked
      When I GET "/api/auth/session"
      Then the status is 503
      And the header "retry-after" is "1"
      And the body is "{}"
      And the response does not set the cookie "next-auth.session-token"

    @embedded
    Scenario: Signing out goes on when the store cannot record the revocation
      Given JWT sessions are revocable
      And I am signed in
      And the store fails to revoke_jwt
      When I sign out
      Then the JSON is '{"url":"http://localhost:3000"}'
      And the session cookie is cleared
