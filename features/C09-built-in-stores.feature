@stores
Feature: C09 Built-in stores: sled, SQLite, PostgreSQL, MariaDB and MongoDB

  Portcullis ships its stores: sled, embedded, for single-node or no-database setups (the
  default); one SQL store in NextAuth v3's schema for SQLite, PostgreSQL and MariaDB; and
  a MongoDB store in v3's collections. Every scenario here, and every scenario tagged as
  depending on the store elsewhere (C03 e-mail sign-in, C05 database sessions), runs once
  on each: sled (a temporary database), SQLite (a file), PostgreSQL and MariaDB (the real
  servers, a database created for the scenario and dropped after), MongoDB (a
  MongoDB-wire server, a database of its own). A server that is not running fails the
  run; none is skipped.

  Background:
    Given a site at "http://localhost:3000/api/auth"
    And e-mail sign-in with links valid for 86400 seconds
    And database sessions are on

  Scenario: The site runs on the store under test, and another connection sees what it wrote
    Given I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    Then I am redirected to "http://localhost:3000"
    And the site's store is the one this run is about
    And the store holds my session, of the user "jane@example.com"
    And read afresh, the store's database has the user "jane@example.com"

  Scenario: A user's whole life on the store: link, session, second sign-in, sign-out
    Given I have a sign-in link for "jane@example.com"
    When I follow the link in the mail
    And I remember the session cookie as "first"
    Then my database session reads back as the user "jane@example.com"
    When I forget my cookies
    And I ask for a sign-in link for "Jane@Example.com"
    Then I receive one mail, sent to "jane@example.com" only
    When I follow the link in the mail
    Then the store holds my session, of the user "jane@example.com"
    And the store still holds the session "{saved:first}"
    When I sign out
    Then the store no longer holds the session "{saved:db-token}"
    And the store still holds the session "{saved:first}"
    And I have no session

  @embedded
  Scenario: Sessions over time on the store: extended once per updateAge, then expired and deleted
    Given Jane has a database session that expires in 30 days
    When 86400 seconds pass
    And I GET "/api/auth/session"
    Then the store was asked to update_session_expiry 0 times in all
    When 1 seconds pass
    And I GET "/api/auth/session"
    Then the stored session expires "{iso:+30d}"
    And the store was asked to update_session_expiry 1 time in all
    When 2592000 seconds pass
    And I GET "/api/auth/session"
    Then the body is "{}"
    And the session cookie is cleared
    And the store no longer holds the session "{saved:db-token}"
