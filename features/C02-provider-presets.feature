Feature: C02 Built-in presets for the popular sign-in services, each with its endpoints and profile mapping

  Every provider of NextAuth v3's catalogue (spec §7.10: 48, Twitter on OAuth 1.0a, Apple
  with its ES256 client secret) is built in: configured by id with a client id and secret
  (and an option where the service needs one: a tenant host, a region …), it knows its
  endpoints, scope, checks, token-request quirks and how to map its profile to
  `{id, name, email, image}`.

  Here a representative few run end to end against the specs' test provider, with the
  preset's endpoints rebased onto it (same paths and queries) and the provider answering
  with that service's recorded token answer and profile (`fixtures/providers/<id>/`); the
  flow of every preset is tested in `apps/embedded/tests/presets_flow/`.

  Background:
    Given a site at "http://localhost:3000/api/auth"

  Scenario Outline: The <id> preset signs a user in, with its profile mapped
    Given the built-in provider "<id>", its endpoints on the test provider
    When I sign in with "<id>"
    Then I am sent to the provider to authorise "<id>"
    When I consent at the provider
    And I return to the site
    Then I am redirected to "http://localhost:3000"
    And the signed-in user is the one of the "<id>" fixture

    Examples:
      | id      |
      | github  |
      | google  |
      | slack   |
      | dropbox |
      | gitlab  |
      | discord |
      | spotify |

  Scenario: GitHub: scope, state and PKCE; v3's token request without grant_type
    Given the built-in provider "github", its endpoints on the test provider
    When I sign in with "github"
    Then the authorisation request carries:
      | scope                 | read:user user:email |
      | state                 | {random}             |
      | code_challenge        | {random}             |
      | code_challenge_method | S256                 |
      | nonce                 | {absent}             |
    When I consent at the provider
    And I return to the site
    Then I am redirected to "http://localhost:3000"
    And the provider's token request carried the PKCE verifier of that challenge
    And the provider's last token request had no "grant_type"
    And the provider's last userinfo request had the header "authorization" = "Bearer gho_FAKE6C7e42F292c6912E7710c838347Ae178"

  Scenario: Slack: the user token is nested in the token answer (authed_user)
    Given the built-in provider "slack", its endpoints on the test provider
    When I sign in with "slack"
    Then the authorisation request carries:
      | user_scope | identity.basic,identity.email,identity.avatar |
    When I consent at the provider
    And I return to the site
    Then I am redirected to "http://localhost:3000"
    And the provider's last userinfo request had the header "authorization" = "Bearer xoxp-FAKE-0000-0000-0000"
    And the session reads back as "Jane Doe"

  Scenario: Dropbox: offline access is asked for, and the profile is POSTed for
    Given the built-in provider "dropbox", its endpoints on the test provider
    When I sign in with "dropbox"
    Then the authorisation request carries:
      | token_access_type | offline           |
      | response_type     | code              |
      | scope             | account_info.read |
    When I consent at the provider
    And I return to the site
    Then I am redirected to "http://localhost:3000"
    And the provider's last userinfo request was a POST
    And the signed-in user is the one of the "dropbox" fixture

  Scenario: Google: the v1 userinfo endpoint, its query kept
    Given the built-in provider "google", its endpoints on the test provider
    When I sign in with "google" at the provider
    Then I am redirected to "http://localhost:3000"
    And the provider's last userinfo request had "alt" = "json"

  Scenario: Twitter on OAuth 1.0a
    Given the built-in provider "twitter", its endpoints on the test provider
    When I sign in with "twitter"
    Then the status is 302
    And the response sets cookie "next-auth.oauth1.token_secret"
    When I consent at the provider
    And I return to the site
    Then I am redirected to "http://localhost:3000"
    And the provider's OAuth 1.0a requests were all signed
    And the provider's last profile request had "include_email" = "true"
    And the signed-in user is the one of the "twitter" fixture

  @stores
  Scenario: A preset's account is linked to the user made from its profile
    Given the site keeps users and accounts in its store
    And the built-in provider "github", its endpoints on the test provider
    When I sign in with "github" at the provider
    Then I am redirected to "http://localhost:3000"
    And the store has a user "jane.doe@example.com" named "octojane", e-mail not verified

  Scenario: Every preset of spec §7.10 is built in, and a site with all of them lists them
    Given every built-in provider, with a client id and secret
    When I GET "/api/auth/providers"
    Then the status is 200
    And the providers answer lists exactly these OAuth providers:
      | 42-school        | 42 School                  |
      | apple            | Apple                      |
      | atlassian        | Atlassian                  |
      | auth0            | Auth0                      |
      | azure-ad-b2c     | Azure Active Directory B2C |
      | basecamp         | Basecamp                   |
      | battlenet        | Battle.net                 |
      | box              | Box                        |
      | bungie           | Bungie                     |
      | cognito          | Cognito                    |
      | coinbase         | Coinbase                   |
      | discord          | Discord                    |
      | dropbox          | Dropbox                    |
      | eveonline        | EVE Online                 |
      | facebook         | Facebook                   |
      | faceit           | FACEIT                     |
      | foursquare       | Foursquare                 |
      | freshbooks       | Freshbooks                 |
      | fusionauth       | FusionAuth                 |
      | github           | GitHub                     |
      | gitlab           | GitLab                     |
      | google           | Google                     |
      | identity-server4 | IdentityServer4            |
      | instagram        | Instagram                  |
      | kakao            | Kakao                      |
      | line             | LINE                       |
      | linkedin         | LinkedIn                   |
      | mailchimp        | Mailchimp                  |
      | mailru           | Mail.ru                    |
      | medium           | Medium                     |
      | naver            | Naver                      |
      | netlify          | Netlify                    |
      | okta             | Okta                       |
      | onelogin         | OneLogin                   |
      | osso             | SAML SSO                   |
      | reddit           | Reddit                     |
      | salesforce       | Salesforce                 |
      | slack            | Slack                      |
      | spotify          | Spotify                    |
      | strava           | Strava                     |
      | twitch           | Twitch                     |
      | twitter          | Twitter                    |
      | vk               | VK                         |
      | wordpress        | WordPress.com              |
      | workos           | WorkOS                     |
      | yandex           | Yandex                     |
      | zoho             | Zoho                       |
      | zoom             | Zoom                       |
