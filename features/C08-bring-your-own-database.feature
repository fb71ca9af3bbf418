Feature: C08 Bring your own database: a documented store port any database can implement

  A store is anything that implements the `Store` trait of `portcullis-ports` (users,
  accounts, sessions and verification tokens, each method's contract in its doc comment;
  stores never read the clock) given to `Portcullis::builder().store(…)`. That is all it
  takes. The specs crate has a store of its own, written against the trait alone: a few
  maps behind a mutex (`specs/src/memory_store.rs`). It passes the same store conformance
  suite as the built-in stores (`cargo test -p portcullis-specs --lib`) and the scenarios
  below, the whole e-mail sign-in with database sessions, unchanged from the built-in
  stores' ones.

  Background:
    Given a site at "http://localhost:3000/api/auth"
    And my own store, written against the store port
    And e-mail sign-in with links valid for 86400 seconds
    And database sessions are on

  # @embedded: the specs' own store is an in-process object; the binary runs its built-in stores.
  @embedded
  Scenario: E-mail sign-in, a database session and sign-out, on my own store
    Given I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the site's store is "own"
    And the store holds my session, of the user "jane@example.com"
    And my database session reads back as the user "jane@example.com"
    When I sign out
    Then the session cookie is cleared
    And the store no longer holds the session "{saved:db-token}"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000/api/auth/error?error=Verification"

  # @embedded: the specs' own store is an in-process object; the binary runs its built-in stores.
  @embedded
  Scenario: Of ten browsers following one link at the same time, one signs in on my own store too
    Given I have a sign-in link for "jane@example.com"
    When 10 other browsers follow the link in the mail at the same time
    Then exactly one of them was signed in, and the other 9 sent to "http://localhost:3000/api/auth/error?error=Verification"

  @embedded
  Scenario: My own store keeps sessions over time: extended once per updateAge, revoked everywhere
    Given Jane has a database session that expires in 30 days
    When 86401 seconds pass
    And I GET "/api/auth/session"
    Then the stored session expires "{iso:+30d}"
    And the store was asked to update_session_expiry 1 time in all
    Given Jane also has a database session in another browser, remembered as "laptop"
    When the app signs Jane out everywhere
    Then 2 sessions were ended
    And I have no session
