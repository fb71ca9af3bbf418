Feature: Pages: sign-in, sign-out, verify-request and error, built in or custom

  The built-in pages are minimal but correct HTML (spec §13); custom pages get a redirect
  with their parameters URL-encoded (spec §1.4, §13.1), and the error route forwards sign-in
  errors to the sign-in page (spec §1.4.6).

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario: The sign-in page lists the credentials form with the CSRF token
    When I GET "/api/auth/signin"
    Then the status is 200
    And the header "content-type" is "text/html; charset=utf-8"
    And the CSRF token is the one in the CSRF cookie
    And the page contains "<title>Sign In</title>"
    And the page contains "<form action="http://localhost:3000/api/auth/callback/credentials" method="POST"><input type="hidden" name="csrfToken" value="{csrf}">"
    And the page contains "<label for="input-username-for-credentials-provider">Username</label><input name="username" id="input-username-for-credentials-provider" type="text" value="" placeholder="">"
    And the page contains "<input name="password" id="input-password-for-credentials-provider" type="password" value="" placeholder="">"
    And the page contains "<button type="submit">Sign in with Credentials</button>"

  Scenario: The sign-in form posts straight to a session
    When I GET "/api/auth/signin"
    And I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf}        |
      | username  | jane          |
      | password  | correct horse |
    Then I am redirected to "http://localhost:3000"
    And the session reads back as "Jane Doe"

  Scenario Outline: The sign-in page shows v3's message for an error code
    When I GET "/api/auth/signin?error=<code>"
    Then the status is 200
    And the sign-in page shows the error "<message>"

    Examples:
      | code                  | message                                                                     |
      | CredentialsSignin     | Sign in failed. Check the details you provided are correct.                 |
      | OAuthAccountNotLinked | To confirm your identity, sign in with the same account you used originally. |
      | EmailSignin           | Check your email inbox.                                                     |
      | Callback              | Try signing in with a different account.                                    |
      | %3Cscript%3E          | Unable to sign in.                                                          |

  Scenario: The sign-out page posts to /signout with the CSRF token
    When I GET "/api/auth/signout"
    Then the status is 200
    And the page contains "<h1>Are you sure you want to sign out?</h1>"
    And the page contains "<form action="http://localhost:3000/api/auth/signout" method="POST"><input type="hidden" name="csrfToken" value="{csrf}"><button type="submit">Sign out</button></form>"

  Scenario: The verify-request page
    When I GET "/api/auth/verify-request"
    Then the status is 200
    And the page contains "<h1>Check your email</h1>"

  Scenario Outline: Sign-in error codes on the error route go to the sign-in page
    When I GET "/api/auth/error?error=<code>&provider=credentials"
    Then I am redirected to "http://localhost:3000/api/auth/signin?error=<code>"
    And the body is empty

    Examples:
      | code                  |
      | CredentialsSignin     |
      | Signin                |
      | OAuthSignin           |
      | OAuthCallback         |
      | OAuthCreateAccount    |
      | EmailCreateAccount    |
      | Callback              |
      | OAuthAccountNotLinked |
      | EmailSignin           |

  Scenario Outline: The error page's status and heading
    When I GET "<path>"
    Then the status is <status>
    And the page's heading is "<heading>"
    And the page's title is "Error"

    Examples:
      | path                                  | status | heading           |
      | /api/auth/error?error=AccessDenied    | 403    | Access Denied     |
      | /api/auth/error?error=accessdenied    | 403    | Access Denied     |
      | /api/auth/error/AccessDenied          | 403    | Access Denied     |
      | /api/auth/error?error=Verification    | 403    | Unable to sign in |
      | /api/auth/error?error=Configuration   | 500    | Server error      |
      | /api/auth/error?error=Something%20odd | 200    | Error             |
      | /api/auth/error                       | 200    | Error             |

  Scenario: Pages escape what the request puts in them
    When I GET "/api/auth/error?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    Then the status is 200
    And the page does not contain "<script>"

  Scenario: Custom pages get a redirect with their parameters URL-encoded
    Given these custom pages:
      """
      {"signIn":"/login","signOut":"/bye","error":"/oops?from=auth","verifyRequest":"/check-mail"}
      """
    When I GET "/api/auth/signin?callbackUrl=http%3A%2F%2Flocalhost%3A3000%2Fdash%3Fa%3D1%26b%3D2"
    Then I am redirected to "/login?callbackUrl=http%3A%2F%2Flocalhost%3A3000%2Fdash%3Fa%3D1%26b%3D2"
    When I GET "/api/auth/signin?error=CredentialsSignin"
    Then I am redirected to "/login?callbackUrl=http%3A%2F%2Flocalhost%3A3000%2Fdash%3Fa%3D1%26b%3D2&error=CredentialsSignin"
    When I GET "/api/auth/signout"
    Then I am redirected to "/bye"
    When I GET "/api/auth/verify-request"
    Then I am redirected to "/check-mail"
    When I GET "/api/auth/error?error=AccessDenied"
    Then I am redirected to "/oops?from=auth&error=AccessDenied"
    When I GET "/api/auth/error?error=a%26b%3Dc"
    Then I am redirected to "/oops?from=auth&error=a%26b%3Dc"
    When I GET "/api/auth/error"
    Then I am redirected to "/oops?from=auth"

  Scenario: Internal redirects still go through the built-in routes to the custom pages
    Given these custom pages:
      """
      {"signIn":"/login","error":"/oops"}
      """
    When I fetch a CSRF token
    And I POST "/api/auth/callback/credentials" with the form:
      | csrfToken | {csrf} |
      | username  | jane   |
      | password  | wrong  |
    Then I am redirected to "http://localhost:3000/api/auth/error?error=CredentialsSignin&provider=credentials"
    When I follow the redirect
    Then I am redirected to "/oops?error=CredentialsSignin"
