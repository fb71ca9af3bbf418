Feature: C01 Works with any OAuth service: OAuth 1.0, 1.0a and 2.0 (and OpenID Connect)

  Any OAuth 2.0 or OpenID Connect provider, or an OAuth 1.0a one, signs users in (spec §7,
  §11). `POST /signin/<id>` (with the CSRF token) sends the browser to the provider with a
  fresh `state`, a PKCE S256 challenge and, for OpenID, a `nonce`, each sealed in its own
  15-minute cookie; `GET|POST /callback/<id>` checks what comes back, exchanges the code,
  verifies the ID token against the provider's keys, reads the profile, then signs the user
  in, links the account or creates the user, and always issues a fresh session.

  The provider is real: a small OAuth 2.0 / OpenID Connect / OAuth 1.0a server on loopback
  (`specs/src/provider.rs`) that Portcullis reaches through its real HTTP adapter. It is
  strict: it checks the client secret, the code (once), the redirect URI, the PKCE verifier
  and every OAuth 1.0a signature, and signs its ID tokens with RS256. The scenario plays the
  browser: it goes to the provider's authorisation URL, takes the provider's answer and
  carries it back to the site. Scenarios tagged @stores run on every built-in store.

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Rule: OpenID Connect

    Scenario: An OpenID provider signs a user in, with a JWT session and no database
      Given an OpenID provider "oidc"
      When I sign in with "oidc" and the callback URL "http://localhost:3000/dashboard"
      Then I am sent to the provider to authorise "oidc"
      And the authorisation request carries:
        | response_type         | code                 |
        | scope                 | openid profile email |
        | state                 | {random}             |
        | code_challenge        | {random}             |
        | code_challenge_method | S256                 |
        | nonce                 | {random}             |
        | response_mode         | {absent}             |
      And the response sets the cookies:
        """
        next-auth.callback-url=http%3A%2F%2Flocalhost%3A3000%2Fdashboard; Path=/; SameSite=Lax
        next-auth.pkce.code_verifier={jwe}; Path=/; Expires={date:+15m}; HttpOnly; SameSite=Lax
        next-auth.state={jwe}; Path=/; Expires={date:+15m}; HttpOnly; SameSite=Lax
        next-auth.nonce={jwe}; Path=/; Expires={date:+15m}; HttpOnly; SameSite=Lax
        """
      When I consent at the provider
      And I return to the site
      Then I am redirected to "http://localhost:3000/dashboard"
      And the response sets the cookies:
        """
        next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
        next-auth.state=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
        next-auth.pkce.code_verifier=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
        next-auth.nonce=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
        """
      And the provider's token request carried the PKCE verifier of that challenge
      And the provider's last token request had "client_secret" = "oidc-secret-0123456789abcdef"
      And the provider's last userinfo request carried its latest access token
      And the session cookie's claims are:
        """
        {"name":"Jane Doe","email":"jane@example.com","picture":"https://idp.example/jane.png","sub":"248289761001","jti":"{hex32}","auth_time":"{unix:now}","iat":"{unix:now}","exp":"{unix:+30d}"}
        """
      When I GET "/api/auth/session"
      Then the JSON is '{"user":{"name":"Jane Doe","email":"jane@example.com","image":"https://idp.example/jane.png"},"expires":"{iso:+30d}"}'

    @stores @embedded
    Scenario: A first sign-in creates the user and links the account, with the provider's tokens
      Given the site keeps users and accounts in its store
      And an OpenID provider "oidc"
      And events are recorded
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      And the store has a user "jane@example.com" named "Jane Doe", e-mail verified by the provider
      And the user "jane@example.com" has the "oidc" account of the provider's user
      And the "oidc" account holds the provider's latest tokens
      And the session cookie's claims are:
        """
        {"name":"Jane Doe","email":"jane@example.com","picture":"https://idp.example/jane.png","sub":"{saved:user-id}","jti":"{hex32}","auth_time":"{unix:now}","iat":"{unix:now}","exp":"{unix:+30d}"}
        """
      And the events are "createUser(jane@example.com), linkAccount(jane@example.com, oidc), signIn(Jane Doe, oauth)"
      And the session reads back as "Jane Doe"

    @stores
    Scenario: Signing in again finds the linked user and keeps the provider's newest tokens
      Given the site keeps users and accounts in its store
      And an OpenID provider "oidc"
      And I signed in with "oidc" at the provider
      When I forget my cookies
      And I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      And the provider issued 2 access tokens
      And the user "jane@example.com" has the "oidc" account of the provider's user
      And the "oidc" account holds the provider's latest tokens
      And the store has 1 user
      And the session reads back as "Jane Doe"

    @stores
    Scenario: With database sessions every sign-in gets a new session; the old one is deleted
      Given database sessions are on
      And an OpenID provider "oidc"
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      And the response sets cookie "next-auth.session-token"
      And the store holds my session, of the user "jane@example.com"
      When I remember the session cookie as "first"
      And I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      And the session cookie is not "{saved:first}"
      And the store no longer holds the session "{saved:first}"
      And the store holds my session, of the user "jane@example.com"
      And my database session reads back as the user "jane@example.com"

    Scenario: An issuer without configured endpoints is found by discovery, fetched once
      Given an OpenID provider "oidc" found by discovery
      When I sign in with "oidc"
      Then I am sent to the provider to authorise "oidc"
      And the authorisation request carries:
        | scope | openid profile email |
        | state | {random}             |
        | nonce | {random}             |
      When I consent at the provider
      And I return to the site
      Then I am redirected to "http://localhost:3000"
      And the provider's discovery endpoint was called 1 time
      And the provider's jwks endpoint was called 1 time
      And the session reads back as "Jane Doe"

    Scenario: A provider without userinfo: the profile is the verified ID token's claims
      Given an OpenID provider "oidc"
      And the OAuth provider "oidc" takes the profile from the ID token only
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      And the provider's userinfo endpoint was never called
      And the session reads back as "Jane Doe"

    Scenario: With json=true the sign-in answers the authorisation URL as JSON
      Given an OpenID provider "oidc"
      When I sign in with "oidc" asking for JSON
      Then the status is 200
      And I am sent to the provider to authorise "oidc"
      And the authorisation request carries:
        | state | {random} |
      And the response sets cookie "next-auth.state"
      When I consent at the provider
      And I return to the site
      Then I am redirected to "http://localhost:3000"

    @stores
    Scenario: A new user is sent to the new-user page, a returning one is not
      Given the site keeps users and accounts in its store
      And an OpenID provider "oidc"
      And these custom pages:
        """
        {"newUser": "http://localhost:3000/welcome"}
        """
      When I sign in with "oidc" at the provider and the callback URL "http://localhost:3000/app"
      Then I am redirected to "http://localhost:3000/welcome?callbackUrl=http%3A%2F%2Flocalhost%3A3000%2Fapp"
      When I sign in with "oidc" at the provider and the callback URL "http://localhost:3000/app"
      Then I am redirected to "http://localhost:3000/app"

    # @embedded: form_post is no key of the server's file (only its Apple preset sets it).
    @embedded
    Scenario: A provider answering by form POST (Apple): the cross-site POST is rerouted to a GET
      Given an OpenID provider "apple-like"
      And the OAuth provider "apple-like" answers by form POST
      When I sign in with "apple-like" and the callback URL "http://localhost:3000/dashboard"
      Then the authorisation request carries:
        | response_mode | form_post |
      When I consent at the provider
      And I return to the site
      Then the status is 303
      And the header "location" is the callback of "apple-like" with the provider's answer
      And the response does not set the cookie "next-auth.callback-url"
      When I follow the redirect
      Then I am redirected to "http://localhost:3000/dashboard"
      And the session reads back as "Jane Doe"

    # @embedded: form_post is no key of the server's file (only its Apple preset sets it).
    @embedded
    Scenario: After a form POST answer the user still lands on the callback URL asked for
      Given an OpenID provider "apple-like"
      And the OAuth provider "apple-like" answers by form POST
      When I sign in with "apple-like" and the callback URL "http://localhost:3000/dashboard"
      And I consent at the provider
      And I return to the site
      And I follow the redirect
      Then I am redirected to "http://localhost:3000/dashboard"

    Scenario: A custom OpenID provider from the server's configuration file
      Given an OpenID provider "corp" found by discovery
      And the site runs the server with the configuration:
        """
        url = "http://localhost:3000/api/auth"
        secret = "a-test-secret-that-is-long-enough-0123456789"

        data_dir = "{dir}/data"

        [[providers]]
        type = "oauth"
        id = "corp"
        name = "Corp SSO"
        issuer = "{saved:provider}"
        client_id = "corp-client"
        client_secret = "corp-secret-0123456789abcdef"
        """
      When I sign in with "corp" at the provider
      Then I am redirected to "http://localhost:3000"
      And the session reads back as "Jane Doe"

  Rule: OAuth 2.0 without OpenID Connect

    Scenario: A plain OAuth 2 provider: the code for a token, the profile from userinfo
      Given an OAuth 2 provider "plain"
      When I sign in with "plain"
      Then I am sent to the provider to authorise "plain"
      And the authorisation request carries:
        | scope          | profile email |
        | state          | {random}      |
        | code_challenge | {random}      |
        | nonce          | {absent}      |
      And the response sets the cookies:
        """
        next-auth.pkce.code_verifier={jwe}; Path=/; Expires={date:+15m}; HttpOnly; SameSite=Lax
        next-auth.state={jwe}; Path=/; Expires={date:+15m}; HttpOnly; SameSite=Lax
        """
      When I consent at the provider
      And I return to the site
      Then I am redirected to "http://localhost:3000"
      And the provider's jwks endpoint was never called
      And the provider's last userinfo request carried its latest access token
      And the session reads back as "Jane Doe"

  Rule: OAuth 1.0a

    Scenario: An OAuth 1.0a provider: request token, authorisation, access token, profile
      Given an OAuth 1.0a provider "legacy"
      When I sign in with "legacy"
      Then the status is 302
      And the provider's request-token endpoint was called 1 time
      And the response sets the cookies:
        """
        next-auth.oauth1.token_secret={jwe}; Path=/; Expires={date:+15m}; HttpOnly; SameSite=Lax
        """
      When I consent at the provider
      And I return to the site
      Then I am redirected to "http://localhost:3000"
      And the response sets the cookies:
        """
        next-auth.session-token={jws}; Path=/; Expires={date:+30d}; HttpOnly; SameSite=Lax
        next-auth.oauth1.token_secret=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
        """
      And the provider's OAuth 1.0a requests were all signed
      And the session reads back as "Jane Doe"

    @stores
    Scenario: An OAuth 1.0a account keeps the access token and its secret
      Given the site keeps users and accounts in its store
      And an OAuth 1.0a provider "legacy"
      When I sign in with "legacy" at the provider
      Then I am redirected to "http://localhost:3000"
      And the user "jane@example.com" has the "legacy" account of the provider's user

  @stores
  Rule: Accounts are linked as spec §11.2 says, and never by e-mail unless a provider is trusted to

    Background:
      Given the site keeps users and accounts in its store
      And an OpenID provider "oidc"
      And an OAuth 2 provider "plain"

    Scenario: Signed in with one provider, signing in with another links it to me
      Given I signed in with "oidc" at the provider
      When I remember the session cookie as "before"
      And I sign in with "plain" at the provider
      Then I am redirected to "http://localhost:3000"
      And the user "jane@example.com" has the "plain" account of the provider's user
      And the user "jane@example.com" has the "oidc" account of the provider's user
      And the store has 1 user
      And the session cookie is not "{saved:before}"
      And the session reads back as "Jane Doe"

    Scenario: With database sessions, linking replaces the session (no fixation)
      Given database sessions are on
      And I signed in with "oidc" at the provider
      When I remember the session cookie as "before"
      And I sign in with "plain" at the provider
      Then I am redirected to "http://localhost:3000"
      And the user "jane@example.com" has the "plain" account of the provider's user
      And the session cookie is not "{saved:before}"
      And the store no longer holds the session "{saved:before}"
      And my database session reads back as the user "jane@example.com"

    Scenario: An account linked to someone else is not linked to me
      Given the store has a user "Ann" with the e-mail "ann@example.com"
      And the store has a user "Jane Doe" with the e-mail "jane@example.com"
      And the store links the "oidc" account of the provider's user to "jane@example.com"
      And I am signed in as the stored user "ann@example.com"
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthAccountNotLinked"
      And the response does not set the cookie "next-auth.session-token"
      And the user "jane@example.com" has the "oidc" account of the provider's user

    Scenario: The e-mail of an existing user does not link the account
      Given the store has a user "Jane Doe" with the e-mail "jane@example.com"
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthAccountNotLinked"
      And nobody has the "oidc" account of the provider's user
      And I have no session

    Scenario: A trusted provider's verified e-mail links the account to the existing user
      Given the store has a user "Jane Doe" with the e-mail "jane@example.com"
      And the OAuth provider "oidc" links accounts by verified e-mail
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      And the user "jane@example.com" has the "oidc" account of the provider's user
      And the store has 1 user
      And the session reads back as "Jane Doe"

    Scenario: A trusted provider's unverified e-mail does not link the account
      Given the store has a user "Jane Doe" with the e-mail "jane@example.com"
      And the OAuth provider "oidc" links accounts by verified e-mail
      And the provider's user is:
        """
        {"sub": "248289761001", "name": "Mallory", "email": "jane@example.com", "email_verified": false}
        """
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthAccountNotLinked"
      And nobody has the "oidc" account of the provider's user

    @embedded
    Scenario Outline: The signIn callback decides: <decision>
      Given the signIn callback <decision>
      When I sign in with "oidc" at the provider
      Then I am redirected to "<to>"
      And the response does not set the cookie "next-auth.session-token"
      And nobody has the "oidc" account of the provider's user
      And I have no session

      Examples:
        | decision                                       | to                                                  |
        | denies                                         | http://localhost:3000/api/auth/error?error=AccessDenied |
        | redirects to "http://localhost:3000/not-yet"   | http://localhost:3000/not-yet                       |
        | fails with "Directory down"                    | http://localhost:3000/api/auth/error?error=Directory%20down |

    # @embedded: store failures are injected into the in-process store; the binary's store cannot be told to fail.
    @embedded
    Scenario Outline: A store failure ends on <code>: <op> fails
      Given the store fails to <op>
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=<code>"
      And the response does not set the cookie "next-auth.session-token"

      Examples:
        | op                  | code               |
        | get_user_by_account | Callback           |
        | create_user         | OAuthCreateAccount |
        | link_account        | Callback           |

    # @embedded: store failures are injected into the in-process store; the binary's store cannot be told to fail.
    @embedded
    Scenario: Saving a returning user's new tokens fails: Callback
      Given I signed in with "oidc" at the provider
      And the store fails to update_account_tokens
      When I forget my cookies
      And I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=Callback"
      And the response does not set the cookie "next-auth.session-token"

    @embedded
    Scenario: The jwt callback fails: Configuration, and no session
      Given the jwt callback fails
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=Configuration"
      And the response does not set the cookie "next-auth.session-token"

  Rule: JWT sessions can keep the provider's tokens and renew the access token (rotation)

    Background:
      Given the site keeps the provider's tokens in its encrypted JWT sessions
      And the provider's access tokens expire in 10 seconds

    Scenario: An expired access token is renewed when the session is read; the refresh token rotates
      Given an OpenID provider "oidc"
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      And the session cookie is a JWE with the header '{"alg":"dir","enc":"A256GCM"}'
      And the session cookie holds the provider's refresh token number 1
      And the session holds the provider's latest access token
      And the provider was asked to refresh with its refresh token number 1
      And the session cookie holds the provider's refresh token number 2
      And the session holds the provider's latest access token
      And the provider was asked to refresh with its refresh token number 2
      And the provider issued 3 access tokens

    Scenario: The token endpoint is found by discovery when the session is read
      Given an OpenID provider "oidc" found by discovery
      When I sign in with "oidc" at the provider
      And the site restarts
      Then the session holds the provider's latest access token
      And the provider was asked to refresh with its refresh token number 1
      And the provider's discovery endpoint was called 2 times

    Scenario: The provider refuses to renew: the session says RefreshAccessTokenError
      Given an OpenID provider "oidc"
      When I sign in with "oidc" at the provider
      And the provider refuses to refresh tokens
      Then the session holds the provider's access token number 1 and the error "RefreshAccessTokenError"
      And the session reads back as "Jane Doe"
