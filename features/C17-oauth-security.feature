Feature: C17 Follows current OWASP guidance (ASVS session management, OAuth 2.0 Security BCP RFC 9700)

  The OAuth half: every check of an OAuth or OpenID sign-in fails closed (security checklist
  §1 #3 #4 #9 #10 #13, §2, §4). A callback whose `state`, PKCE verifier or `nonce` is
  missing, wrong, used, expired or made for another provider ends on
  `error?error=OAuthCallback` without a session and without calling the token endpoint; an
  ID token is verified against the provider's keys (an allow-list of asymmetric algorithms,
  then `iss`, `aud`/`azp`, `exp`/`iat`, `nonce`, `sub`); a provider that answers badly ends
  on the error page, never on a 5xx. The check cookies are sealed, HttpOnly, SameSite=Lax,
  15 minutes, prefixed on https, and never read as a session. No secret of a sign-in reaches
  a log line.

  The provider is the specs' own strict OAuth / OpenID server on loopback
  (`specs/src/provider.rs`), scripted per scenario to misbehave.

  Background:
    Given a site at "http://localhost:3000/api/auth"
    And an OpenID provider "oidc"

  Rule: The one-time checks of a sign-in fail closed

    Scenario Outline: A callback <tampering> fails with OAuthCallback
      When I sign in with "oidc"
      And I consent at the provider
      And I return to the site <tampering>
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the response does not set the cookie "next-auth.session-token"
      And the provider's token endpoint was never called
      And I have no session

      Examples:
        | tampering                                      |
        | without state                                  |
        | with state set to "forged-state"               |
        | with state set to "{U+0000}"                   |
        | without code                                   |
        | with iss set to "https://evil.example"         |

    Scenario Outline: A callback after losing the <cookie> cookie fails with OAuthCallback
      When I sign in with "oidc"
      And I consent at the provider
      And I lose my "<cookie>" cookie
      And I return to the site
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's token endpoint was never called
      And I have no session

      Examples:
        | cookie                       |
        | next-auth.state              |
        | next-auth.pkce.code_verifier |
        | next-auth.nonce              |

    Scenario: The check cookies are cleared by the callback, so its answer cannot be used twice
      When I sign in with "oidc"
      And I consent at the provider
      And I return to the site
      Then I am redirected to "http://localhost:3000"
      When I remember the session cookie as "first"
      And I forget my cookies
      And I return to the site again
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's token endpoint was called 1 time

    Scenario: Replayed with the very same check cookies, the provider refuses the used code
      When I sign in with "oidc"
      And I consent at the provider
      And I remember my "next-auth.state" cookie as "state"
      And I remember my "next-auth.pkce.code_verifier" cookie as "pkce"
      And I remember my "next-auth.nonce" cookie as "nonce"
      And I return to the site
      Then I am redirected to "http://localhost:3000"
      When I forget my cookies
      And my "next-auth.state" cookie is "{saved:state}"
      And my "next-auth.pkce.code_verifier" cookie is "{saved:pkce}"
      And my "next-auth.nonce" cookie is "{saved:nonce}"
      And I return to the site again
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's token endpoint was called 2 times
      And I have no session

    @embedded
    Scenario: A sign-in may take 15 minutes at the provider, not one second more
      When I sign in with "oidc"
      And I consent at the provider
      And 899 seconds pass
      And I return to the site
      Then I am redirected to "http://localhost:3000"
      When I forget my cookies
      And I sign in with "oidc"
      And I consent at the provider
      And 900 seconds pass
      And I return to the site
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's token endpoint was called 1 time

    Scenario: A state made for another provider is refused
      Given an OpenID provider "other"
      When I sign in with "other"
      And I consent at the provider
      And I return to the site at the callback of "oidc"
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's token endpoint was never called

    Scenario: A PKCE verifier made for another provider is refused
      Given an OpenID provider "other"
      When I sign in with "other"
      And I remember my "next-auth.pkce.code_verifier" cookie as "other-pkce"
      And I sign in with "oidc"
      And I consent at the provider
      And my "next-auth.pkce.code_verifier" cookie is "{saved:other-pkce}"
      And I return to the site
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's token endpoint was never called

    Scenario: A check cookie does not open as another check (a nonce pasted as the state)
      When I sign in with "oidc"
      And I consent at the provider
      And I remember my "next-auth.nonce" cookie as "nonce"
      And my "next-auth.state" cookie is "{saved:nonce}"
      And I return to the site
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"

    Scenario: The provider's error answer (access_denied) ends on OAuthCallback
      When I sign in with "oidc"
      And the provider sends me back with the error "access_denied"
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the response sets the cookies:
        """
        next-auth.state=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
        next-auth.pkce.code_verifier=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
        next-auth.nonce=; Max-Age=0; Path=/; Expires={date:now}; HttpOnly; SameSite=Lax
        """
      And the provider's token endpoint was never called

    Scenario: The provider names itself (RFC 9207): the sign-in goes on
      Given the provider names itself in its authorisation answers
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"

    Scenario: Another issuer's name in the answer (mix-up, RFC 9207) fails closed
      Given the provider names the issuer "https://evil.example" in its authorisation answers
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's token endpoint was never called

  Rule: ID tokens are verified, and a bad one fails closed

    Scenario Outline: An ID token <fault> is refused
      Given the provider's ID tokens have the claims:
        """
        <claims>
        """
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the response does not set the cookie "next-auth.session-token"
      And the provider's userinfo endpoint was never called
      And I have no session

      Examples:
        | fault                                   | claims                                                  |
        | of another issuer                       | {"iss": "https://evil.example"}                         |
        | for another client                      | {"aud": "another-client"}                               |
        | for several audiences without azp       | {"aud": ["oidc-client", "another-client"]}              |
        | authorised for another party (azp)      | {"aud": ["oidc-client", "x"], "azp": "another-client"}  |
        | that expired                            | {"exp": "{unix:-2m}"}                                   |
        | without an expiry                       | {"exp": null}                                           |
        | issued in the future                    | {"iat": "{unix:+5m}"}                                   |
        | with another nonce                      | {"nonce": "not-the-nonce"}                              |
        | without a nonce                         | {"nonce": null}                                         |
        | without a subject                       | {"sub": null}                                           |
        | with an empty subject                   | {"sub": ""}                                             |

    Scenario Outline: An ID token signed <how> is refused
      Given the provider signs its ID tokens <how>
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the response does not set the cookie "next-auth.session-token"
      And I have no session

      Examples:
        | how                                         |
        | with alg none                               |
        | with HS256 keyed with its public key        |
        | with a key other than the one its kid names |

    Scenario: An unknown key id makes one refetch of the key set (rate-floored), then fails
      Given the provider signs its ID tokens with a key it does not publish
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's jwks endpoint was called 1 time

    @embedded
    Scenario Outline: A rotated key is found by refetching the key set (<profile>)
      Given <setting>
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      When the provider starts signing with a new key and publishes it
      And 60 seconds pass
      And I forget my cookies
      And I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000"
      And the provider's jwks endpoint was called 2 times
      And the session reads back as "Jane Doe"

      Examples:
        | profile                    | setting                                                         |
        | profile from userinfo      | the provider's access tokens expire in 3600 seconds             |
        | profile from the ID token  | the OAuth provider "oidc" takes the profile from the ID token only |

    Scenario: An unreachable key set fails closed
      Given the provider's jwks endpoint cannot be reached
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And I have no session

    Scenario: An OpenID token answer without an ID token fails closed
      Given the provider's token endpoint answers 200 with a "application/json" body:
        """
        {"access_token": "at-without-id-token", "token_type": "Bearer", "expires_in": 3600}
        """
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's jwks endpoint was never called

  Rule: A provider answering badly ends on the error page, never on a 5xx

    Scenario Outline: The token endpoint answers <answer>
      Given the provider's token endpoint <answer>
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's jwks endpoint was never called
      And I have no session

      Examples:
        | answer                                  |
        | answers 500                             |
        | answers 400                             |
        | answers with a body of 10 MB            |
        | redirects to its "/internal/token" path |
        | cannot be reached                       |

    Scenario: The token endpoint answers an HTML page
      Given the provider's token endpoint answers 200 with a "text/html" body:
        """
        <!doctype html><html><body><h1>Service unavailable</h1></body></html>
        """
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"

    Scenario: The token endpoint answers with an OAuth error
      Given the provider's token endpoint answers 200 with a "application/json" body:
        """
        {"error": "invalid_grant", "error_description": "the code was used"}
        """
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"

    Scenario: A redirect from the token endpoint is not followed (SSRF)
      Given the provider's token endpoint redirects to its "/internal/token" path
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider never saw a request for "/internal/token"

    Scenario Outline: The userinfo endpoint answers <answer>
      Given the provider's userinfo endpoint <answer>
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And I have no session

      Examples:
        | answer                  |
        | answers 500             |
        | answers with a body of 10 MB |
        | cannot be reached       |

    Scenario: The userinfo endpoint answers something that is not JSON
      Given the provider's userinfo endpoint answers 200 with a "text/html" body:
        """
        <html><body>Welcome back!</body></html>
        """
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"

    Scenario: Userinfo describing another subject than the ID token is refused
      Given the provider's userinfo answers the claims:
        """
        {"sub": "someone-else", "email": "someone@example.com"}
        """
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And I have no session

    Scenario Outline: Discovery <fault> at sign-in ends on OAuthSignin
      Given an OpenID provider "disco" found by discovery
      And <setting>
      When I sign in with "disco"
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthSignin"
      And the response does not set the cookie "next-auth.state"

      Examples:
        | fault                        | setting                                                             |
        | unreachable                  | the provider's discovery endpoint cannot be reached                 |
        | naming another issuer        | the provider's discovery document names the issuer "https://evil.example" |
        | answering 500                | the provider's discovery endpoint answers 500                       |

    Scenario: Discovery failing at the callback ends on OAuthCallback
      Given an OpenID provider "disco" found by discovery
      When I sign in with "disco"
      And I consent at the provider
      And the site restarts
      And the provider's discovery endpoint answers 500
      And I return to the site
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's token endpoint was never called

  Rule: OAuth 1.0a fails closed too

    Background:
      Given an OAuth 1.0a provider "legacy"

    Scenario: The provider refuses a request token: OAuthSignin
      Given the provider's request-token endpoint answers 401
      When I sign in with "legacy"
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthSignin"
      And the response does not set the cookie "next-auth.oauth1.token_secret"

    Scenario: A callback without the sealed request token fails
      When I sign in with "legacy"
      And I consent at the provider
      And I lose my "next-auth.oauth1.token_secret" cookie
      And I return to the site
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's access-token endpoint was never called

    Scenario: A callback naming another request token fails
      When I sign in with "legacy"
      And I consent at the provider
      And I return to the site with oauth_token set to "another-request-token"
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the provider's access-token endpoint was never called

  Rule: No open redirect through an OAuth sign-in

    Scenario Outline: A callback URL of <what> ends the sign-in on <followed>
      When I sign in with "oidc" and the callback URL "<callbackUrl>"
      And I consent at the provider
      And I return to the site
      Then I am redirected to "<followed>"

      Examples:
        | what                 | callbackUrl                         | followed                        |
        | another origin       | https://evil.example/steal          | http://localhost:3000           |
        | a protocol-relative  | //evil.example                      | http://localhost:3000           |
        | a userinfo trick     | http://localhost:3000@evil.example/ | http://localhost:3000           |
        | javascript:          | javascript:alert(1)                 | http://localhost:3000           |
        | this site            | /account?tab=security               | http://localhost:3000/account?tab=security |

    @embedded
    Scenario: The signIn callback's redirect is the app's own decision
      Given the signIn callback redirects to "http://localhost:3000/blocked"
      When I sign in with "oidc" at the provider
      Then I am redirected to "http://localhost:3000/blocked"

  Rule: The check cookies are locked down and are never a session

    Scenario: On an https site the check cookies are __Host-, Secure, HttpOnly, Lax, 15 minutes
      Given a site at "https://example.com/api/auth"
      And an OpenID provider "oidc"
      When I sign in with "oidc"
      Then the response sets the cookies:
        """
        __Host-next-auth.pkce.code_verifier={jwe}; Path=/; Expires={date:+15m}; HttpOnly; Secure; SameSite=Lax
        __Host-next-auth.state={jwe}; Path=/; Expires={date:+15m}; HttpOnly; Secure; SameSite=Lax
        __Host-next-auth.nonce={jwe}; Path=/; Expires={date:+15m}; HttpOnly; Secure; SameSite=Lax
        """
      When I consent at the provider
      And I return to the site
      Then I am redirected to "https://example.com"
      And the response sets cookie "__Secure-next-auth.session-token"

    Scenario Outline: The <cookie> cookie pasted as the session cookie is not a session
      When I sign in with "oidc"
      And my session cookie is my "<cookie>" cookie
      Then I have no session
      And the session cookie is cleared

      Examples:
        | cookie                       |
        | next-auth.state              |
        | next-auth.pkce.code_verifier |
        | next-auth.nonce              |

  @stores
  Rule: A callback links an account only into the fresh session that started the sign-in

    Background:
      Given the site keeps users and accounts in its store
      And an OAuth 2 provider "plain"

    @embedded
    Scenario: Check cookies tossed into the jar of a victim signed in two hours ago link nothing
      Given the store has a user "Victor" with the e-mail "victor@example.com"
      And I am signed in as the stored user "victor@example.com"
      When 7200 seconds pass
      And I remember the session cookie as "victim"
      And I forget my cookies
      And I sign in with "plain"
      And I consent at the provider
      And my "next-auth.session-token" cookie is "{saved:victim}"
      And I return to the site
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthAccountNotLinked"
      And the response does not set the cookie "next-auth.session-token"
      And nobody has the "plain" account of the provider's user

    Scenario: A fresh session does not take an account from a sign-in another browser started
      Given I signed in with "oidc" at the provider
      When I remember the session cookie as "victim"
      And I forget my cookies
      And I sign in with "plain"
      And I consent at the provider
      And my "next-auth.session-token" cookie is "{saved:victim}"
      And I return to the site
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthAccountNotLinked"
      And nobody has the "plain" account of the provider's user
      And the session reads back as "Jane Doe"

    @embedded
    Scenario: A session signed in longer ago than the linking window does not link
      Given I signed in with "oidc" at the provider
      When 601 seconds pass
      And I sign in with "plain" at the provider
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthAccountNotLinked"
      And nobody has the "plain" account of the provider's user

    @embedded
    Scenario: A session signed in within the linking window links
      Given I signed in with "oidc" at the provider
      When 600 seconds pass
      And I sign in with "plain" at the provider
      Then I am redirected to "http://localhost:3000"
      And the user "jane@example.com" has the "plain" account of the provider's user

  Rule: A callback's `user` parameter is Apple's name, never an identity

    Scenario: A user parameter added to a callback does not name the signed-in account
      Given the built-in provider "slack", its endpoints on the test provider
      And the provider's userinfo endpoint answers 200 with a "application/json" body:
        """
        {"ok": true}
        """
      When I sign in with "slack"
      And I consent at the provider
      And I return to the site with user set to '{"id":"VICTIM","email":"victim@example.com"}'
      Then I am redirected to "http://localhost:3000/api/auth/error?error=OAuthCallback"
      And the response does not set the cookie "next-auth.session-token"
      And I have no session

  @embedded
  Rule: No secret of a sign-in reaches a log line

    Scenario Outline: A sign-in that <how> logs no client secret, code, token or ID token
      Given <setting>
      When I sign in with "oidc" at the provider
      Then I am redirected to "<to>"
      And no log line holds the client secret, a code, a token or an ID token

      Examples:
        | how                                 | setting                                                     | to                                                        |
        | succeeds                            | the provider's access tokens expire in 3600 seconds         | http://localhost:3000                                     |
        | is refused at the token endpoint    | the provider's token endpoint answers 400                   | http://localhost:3000/api/auth/error?error=OAuthCallback  |
        | gets an ID token that is refused    | the provider signs its ID tokens with a key other than the one its kid names | http://localhost:3000/api/auth/error?error=OAuthCallback |
        | fails at userinfo                   | the provider's userinfo endpoint answers 500                | http://localhost:3000/api/auth/error?error=OAuthCallback  |
        | cannot reach the key set            | the provider's jwks endpoint cannot be reached              | http://localhost:3000/api/auth/error?error=OAuthCallback  |
