Feature: C03 E-mail / passwordless sign-in (magic link), single-use, expiring, hashed at rest

  The user types an address, gets a link by e-mail, follows it, and is signed in (spec §8,
  §11.1). `POST /signin/email` (with the CSRF token) answers with the verify-request page;
  the link `…/callback/email?email=…&token=…` sets the session cookie and sends the user on.
  An unknown, used, expired or foreign link ends on the error page, `Verification` (403).

  The mail really travels: the site sends it through the SMTP adapter to an SMTP server on
  loopback (aiosmtpd, `.ci/smtp`), and the scenario reads the delivered message from the
  server's Maildir, envelope included, then follows the link with its cookie jar. Scenarios
  tagged @stores run on every built-in store (sled, SQLite, PostgreSQL, MariaDB, MongoDB).

  The address is canonicalised once, before anything else sees it, and that canonical
  address is the stored identifier and the only recipient (checklist §1 #8, #11, #12). The
  token is 256 random bits, stored only as hex(sha256(token + secret)) (v3's hash), taken
  from the store in one atomic step, and bound to its address (checklist §1 #1, #2). The
  answer to a link request is the same whether the address is known, unknown or throttled
  (checklist §5 items 5, 6, 13).

  Background:
    Given a site at "http://localhost:3000/api/auth"
    And e-mail sign-in with links valid for 86400 seconds

  @stores
  Scenario: A link by e-mail signs a new user in with a JWT session
    When I fetch a CSRF token
    And I POST "/api/auth/signin/email" with the form:
      | csrfToken   | {csrf}                          |
      | email       | jane@example.com                |
      | callbackUrl | http://localhost:3000/dashboard |
    Then I am redirected to "http://localhost:3000/api/auth/verify-request?provider=email&type=email"
    When I follow the redirect
    Then the status is 200
    And the page's heading is "Check your email"
    And I receive one mail, sent to "jane@example.com" only
    And the mail's link is "http://localhost:3000/api/auth/callback/email?email=jane%40example.com&token={hex64}"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/dashboard"
    And the response sets the cookies:
      """
      next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
      """
    And the store has a user "jane@example.com", verified "{iso:now}"
    And the session cookie's claims are:
      """
      {"name":null,"email":"jane@example.com","picture":null,"sub":"{saved:user-id}","jti":"{hex32}","auth_time":"{unix:now}","iat":"{unix:now}","exp":"{unix:+30d}"}
      """
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":null,"email":"jane@example.com","image":null},"expires":"{iso:+30d}"}'

  @stores
  Scenario: A link signs the user in with a database session
    Given database sessions are on
    And I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the response sets the cookies:
      """
      next-auth.session-token={hex64}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
      """
    And the store holds my session, of the user "jane@example.com"
    And my database session reads back as the user "jane@example.com"
    When I sign out
    Then the session cookie is cleared
    And the store no longer holds the session "{saved:db-token}"

  @stores
  Scenario: An existing user signs in as that user, and only emailVerified changes
    Given the store has a user "Jane Doe" with the e-mail "jane@example.com"
    And these custom pages:
      """
      {"newUser": "http://localhost:3000/welcome"}
      """
    And I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the store has a user "jane@example.com", verified "{iso:now}"
    And the session cookie's claims are:
      """
      {"name":"Jane Doe","email":"jane@example.com","picture":null,"sub":"{saved:user-id}","jti":"{hex32}","auth_time":"{unix:now}","iat":"{unix:now}","exp":"{unix:+30d}"}
      """
    And the session reads back as "Jane Doe"

  @stores
  Scenario: A user made from an address a provider did not verify is not the address owner's
    Given an OpenID provider "oidc"
    And the site keeps users and accounts in its store
    And the provider's user is:
      """
      {"sub": "m", "name": "Mallory", "email": "owner@example.com", "email_verified": false}
      """
    And I signed in with "oidc" at the provider
    When I forget my cookies
    And I have a sign-in link for "owner@example.com"
    And I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the store has a user "owner@example.com", verified "{iso:now}"
    And the session cookie's claims are:
      """
      {"name":null,"email":"owner@example.com","picture":null,"sub":"{saved:user-id}","jti":"{hex32}","auth_time":"{unix:now}","iat":"{unix:now}","exp":"{unix:+30d}"}
      """
    And the "oidc" account of the provider's user does not belong to the user "owner@example.com"

  @stores
  Scenario: A user made from an address its provider verified is the address owner's
    Given an OpenID provider "oidc"
    And the site keeps users and accounts in its store
    And I signed in with "oidc" at the provider
    When I forget my cookies
    And I have a sign-in link for "jane@example.com"
    And I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the store has 1 user
    And the session reads back as "Jane Doe"
    And the user "jane@example.com" has the "oidc" account of the provider's user

  @stores
  Scenario: A new user is created and sent to the new-user page
    Given these custom pages:
      """
      {"newUser": "http://localhost:3000/welcome"}
      """
    And I have a sign-in link for "new@example.com"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/welcome?callbackUrl=http%3A%2F%2Flocalhost%3A3000"
    And the store has a user "new@example.com", verified "{iso:now}"

  @stores
  Scenario: A link works once; used again it is refused with the Verification page
    Given I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    When I forget my cookies
    And I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"
    And the response does not set the cookie "next-auth.session-token"
    When I follow the redirect
    Then the status is 403
    And the page's heading is "Unable to sign in"
    And the page contains "The sign in link is no longer valid."
    And I have no session

  @embedded @stores
  Scenario: A link works until one second before it expires, and not at its expiry
    Given e-mail sign-in with links valid for 600 seconds
    And I have a sign-in link for "jane@example.com"
    When 599 seconds pass
    And I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    When I forget my cookies
    And I have a sign-in link for "jane@example.com"
    And 600 seconds pass
    And I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"
    And I have no session
    When 1 seconds pass
    And I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"

  @stores
  Scenario: A link for one address does not sign in another, and still works for its own
    Given I have a sign-in link for "alice@example.com"
    When I follow the link in the mail with the e-mail changed to "bob@example.com"
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"
    And I have no session
    And the store has no user "bob@example.com"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the store has a user "alice@example.com", verified "{iso:now}"
    When I GET "/api/auth/session"
    Then the JSON is '{"user":{"name":null,"email":"alice@example.com","image":null},"expires":"{iso:+30d}"}'

  @stores
  Scenario: Of ten browsers following one link at the same time, exactly one signs in
    Given I have a sign-in link for "jane@example.com"
    When 10 other browsers follow the link in the mail at the same time
    Then exactly one of them was signed in, and the other 9 sent to "http://localhost:3000/api/auth/error?error=Verification"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"

  # @embedded: the store that records every call is an in-process double.
  @embedded
  Scenario Outline: An address that is not exactly one mailbox is refused, and nothing is sent
    Given a store that records every call
    When I fetch a CSRF token
    And I POST "/api/auth/signin/email" with the form:
      | csrfToken | {csrf}    |
      | email     | <address> |
    Then I am redirected to "http://localhost:3000/api/auth/error?error=EmailInvalid&reason=<reason>"
    And no mail was delivered
    And the store was never called
    When I follow the redirect
    Then I am redirected to "http://localhost:3000/api/auth/signin?error=EmailInvalid"
    When I follow the redirect
    Then the sign-in page shows the error "Enter one valid email address."

    Examples:
      | address                                                 | reason            |
      | Jane <jane@example.com>                                 | display_name      |
      | "Jane Doe" <jane@example.com>                           | display_name      |
      | jane@example.com, eve@evil.example                      | list              |
      | jane@example.com;eve@evil.example                       | list              |
      | "e@attacker.tld"@victim.tld                             | quoted_local_part |
      | jane@evil.example@example.com                           | multiple_at       |
      | jane{U+FF20}example.com                                 | confusable        |
      | jane@example{U+FF0E}com                                 | confusable        |
      | jane@example.com{U+000D}{U+000A}RCPT TO:<eve@evil.example> | control_character |
      | jane{U+0000}@example.com                                | control_character |
      | jane{U+200B}@example.com                                | control_character |

  Scenario: With json=true a refused address is a 200 with the error URL
    When I fetch a CSRF token
    And I POST "/api/auth/signin/email" with the form:
      | csrfToken | {csrf}                             |
      | email     | jane@example.com, eve@evil.example |
      | json      | true                               |
    Then the status is 200
    And the JSON is '{"url":"http://localhost:3000/api/auth/error?error=EmailInvalid&reason=list"}'
    And no mail was delivered

  Scenario: The mail goes to the canonical address only, and never repeats what was typed
    When I ask for a sign-in link for "{U+0020}Jane.Doe@EXAMPLE.com{U+0020}"
    Then I am redirected to "http://localhost:3000/api/auth/verify-request?provider=email&type=email"
    And I receive one mail, sent to "jane.doe@example.com" only
    And the mail does not contain "Jane.Doe@EXAMPLE.com"
    And the mail's link is "http://localhost:3000/api/auth/callback/email?email=jane.doe%40example.com&token={hex64}"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the store has a user "jane.doe@example.com", verified "{iso:now}"

  # @embedded: the rows handed to the store are seen by the in-process store wrapper only.
  @stores @embedded
  Scenario: The store is given the token only as v3's hash, and finds the row by it
    Given I have a sign-in link for "jane@example.com"
    Then the store was given the link's token only as hex(sha256(token + secret))
    And the store finds the link's row by that hash, and not by the token itself
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"

  Scenario: The fourth link for one address within a minute gets the same answer, and no mail
    Given the store has a user "Jane Doe" with the e-mail "jane@example.com"
    When I ask for a sign-in link for "jane@example.com" 3 times
    Then I receive 3 mails, each sent to "jane@example.com" only
    When I remember the answer as "third"
    And I ask for a sign-in link for "jane@example.com"
    Then the answer is the same as "third"
    And no mail was delivered
    When I ask for a sign-in link for "nobody@example.com"
    Then the answer is the same as "third"
    And I receive one mail, sent to "nobody@example.com" only

  @embedded
  Scenario: Twenty links a minute from one client address, then the same answer and no mail
    When I ask from 203.0.113.7 for sign-in links for 20 different addresses
    Then I receive 20 mails, one for each of those addresses
    When I remember the answer as "twentieth"
    And I ask from 203.0.113.7 for a sign-in link for "jane@example.com"
    Then the answer is the same as "twentieth"
    And no mail was delivered
    When I ask from 198.51.100.9 for a sign-in link for "jane@example.com"
    Then I receive one mail, sent to "jane@example.com" only
    When 60 seconds pass
    And I ask from 203.0.113.7 for a sign-in link for "jane@example.com"
    Then I receive one mail, sent to "jane@example.com" only

  @embedded
  Scenario: Redeeming links is limited per client address, so tokens cannot be guessed at speed
    When I have a sign-in link for "jane@example.com"
    And I follow the link in the mail from 203.0.113.7 with a guessed token 30 times
    And I follow the link in the mail from 203.0.113.7
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"
    When I follow the link in the mail from 198.51.100.9
    Then I am redirected to "http://localhost:3000"

  @embedded
  Scenario: The limits are configurable, per address and per client address
    Given at most 1 links per address and 2 per client IP a minute
    When I ask from 203.0.113.7 for a sign-in link for "alice@example.com"
    Then I receive one mail, sent to "alice@example.com" only
    When I remember the answer as "first"
    And I ask from 203.0.113.7 for a sign-in link for "bob@example.com"
    Then I receive one mail, sent to "bob@example.com" only
    When I ask from 203.0.113.7 for a sign-in link for "carol@example.com"
    Then the answer is the same as "first"
    And no mail was delivered
    When I ask from 198.51.100.9 for a sign-in link for "alice@example.com"
    Then the answer is the same as "first"
    And no mail was delivered
    When 60 seconds pass
    And I ask from 198.51.100.9 for a sign-in link for "alice@example.com"
    Then I receive one mail, sent to "alice@example.com" only

  @embedded
  Scenario Outline: The signIn callback decides when a link is asked for: <outcome>, and no mail
    Given the signIn callback <callback>
    And the signIn callback answers so only when a link is asked for
    When I ask for a sign-in link for "jane@example.com"
    Then I am redirected to "<location>"
    And no mail was delivered

    Examples:
      | outcome     | callback                                               | location                                                |
      | refused     | denies                                                 | http://localhost:3000/api/auth/error?error=AccessDenied |
      | sent away   | redirects to "http://localhost:3000/pending-approval"  | http://localhost:3000/pending-approval                  |
      | its message | fails with "Suspended"                                 | http://localhost:3000/api/auth/error?error=Suspended    |

  @embedded @stores
  Scenario Outline: The signIn callback decides again when the link is used: <outcome>, no session, no user
    Given the signIn callback <callback>
    And the signIn callback answers so only when a link is used
    And I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    Then I am redirected to "<location>"
    And the response does not set the cookie "next-auth.session-token"
    And I have no session
    And the store has no user "jane@example.com"

    Examples:
      | outcome     | callback                                              | location                                                |
      | refused     | denies                                                | http://localhost:3000/api/auth/error?error=AccessDenied |
      | sent away   | redirects to "http://localhost:3000/pending-approval" | http://localhost:3000/pending-approval                  |
      | its message | fails with "Suspended"                                | http://localhost:3000/api/auth/error?error=Suspended    |

  Scenario: A mail server that cannot be reached is EmailSignin
    Given the mail server cannot be reached
    When I ask for a sign-in link for "jane@example.com"
    Then I am redirected to "http://localhost:3000/api/auth/error?error=EmailSignin"
    When I follow the redirect
    Then I am redirected to "http://localhost:3000/api/auth/signin?error=EmailSignin"
    When I follow the redirect
    Then the sign-in page shows the error "Check your email inbox."

  @embedded
  Scenario: The app's own sender replaces the built-in mail (v3's sendVerificationRequest)
    Given links are sent by the app's own sender
    When I ask for a sign-in link for "Jane@Example.com"
    Then I am redirected to "http://localhost:3000/api/auth/verify-request?provider=email&type=email"
    And the app's sender was asked to send one link, to "jane@example.com"
    And no mail was delivered

  @embedded
  Scenario: The app's own sender failing is EmailSignin
    Given links are sent by the app's own sender, which fails
    When I ask for a sign-in link for "jane@example.com"
    Then I am redirected to "http://localhost:3000/api/auth/error?error=EmailSignin"

  @stores
  Scenario: Signing in again replaces the database session the browser had
    Given database sessions are on
    And I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    And I remember the session cookie as "first"
    And I have a sign-in link for "jane@example.com"
    And I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the session cookie is not "{saved:first}"
    And the store no longer holds the session "{saved:first}"
    And the store holds my session, of the user "jane@example.com"
    And my database session reads back as the user "jane@example.com"

  Scenario Outline: A link that is incomplete or unknown is refused: <case>
    When I GET "/api/auth/callback/email<query>"
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"
    And the response does not set the cookie "next-auth.session-token"

    Examples:
      | case               | query                                                                                           |
      | no token           | ?email=jane%40example.com                                                                       |
      | empty token        | ?email=jane%40example.com&token=                                                                |
      | no address         | ?token=4f9c2a1be0d34c6a8e7f5b3d2c1a09887766554433221100ffeeddccbbaa9988                         |
      | a list             | ?email=jane%40example.com%2Ceve%40evil.example&token=4f9c2a1be0d34c6a8e7f5b3d2c1a09887766554433221100ffeeddccbbaa9988 |
      | an unknown token   | ?email=jane%40example.com&token=4f9c2a1be0d34c6a8e7f5b3d2c1a09887766554433221100ffeeddccbbaa9988 |

  @embedded
  Scenario: Events hear about a new user and an existing one
    Given events are recorded
    And I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    Then the events are "createUser(jane@example.com), signIn(?, email)"
    When I forget my cookies
    And I have a sign-in link for "jane@example.com"
    And I follow the link in the mail
    Then the events are "createUser(jane@example.com), signIn(?, email), updateUser(jane@example.com), signIn(?, email)"

  @embedded
  Scenario Outline: A store that fails while a link is asked for is EmailSignin, and no mail
    Given the store fails to <operation>
    When I ask for a sign-in link for "jane@example.com"
    Then I am redirected to "http://localhost:3000/api/auth/error?error=EmailSignin"
    And no mail was delivered

    Examples:
      | operation                 |
      | get_user_by_email         |
      | create_verification_token |

  @embedded
  Scenario Outline: A store that fails while a link is used: <code>, and no session
    Given I have a sign-in link for "jane@example.com"
    And the store fails to <operation>
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=<code>"
    And the response does not set the cookie "next-auth.session-token"

    Examples:
      | operation              | code               |
      | use_verification_token | Callback           |
      | get_user_by_email      | Callback           |
      | create_user            | EmailCreateAccount |

  @embedded
  Scenario Outline: A store that fails to <op> while an address moves to its owner is Callback
    Given an OpenID provider "oidc"
    And the site keeps users and accounts in its store
    And the provider's user is:
      """
      {"sub": "m", "name": "Mallory", "email": "owner@example.com", "email_verified": false}
      """
    And I signed in with "oidc" at the provider
    And I have a sign-in link for "owner@example.com"
    And the store fails to <op>
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Callback"

    Examples:
      | op                    |
      | get_accounts_for_user |
      | update_user           |

  @embedded
  Scenario: A store that fails to update an existing user is Callback
    Given the store has a user "Jane Doe" with the e-mail "jane@example.com"
    And I have a sign-in link for "jane@example.com"
    And the store fails to update_user
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Callback"

  @embedded
  Scenario: A store that fails to create the database session is Callback
    Given database sessions are on
    And I have a sign-in link for "jane@example.com"
    And the store fails to create_session
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Callback"
    And the response does not set the cookie "next-auth.session-token"

  @embedded
  Scenario: A failing jwt callback when the link is used is a configuration error
    Given the jwt callback fails
    And I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Configuration"
    And the response does not set the cookie "next-auth.session-token"
