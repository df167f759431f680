@local @serial
Feature: Challenge part 1 on a laptop
  The app and MongoDB on one machine: the contract holds, a short load meets the profile's
  SLOs route by route, and when the database restarts under the app, the app recovers by
  itself and every write it acknowledged before the restart is still there. The command runs
  exactly as a newcomer types it, `deploycheck local`: its defaults are the ones under test.

  Scenario: The reference stack passes part one with the command's own defaults
    When the local check runs on the reference stack
    Then the contract passes
    And the load meets the "reference" profile's SLOs on every route
    And the list route is read one page at a time with "/data?limit=100"
    And the database restart passes with every acknowledged write still there

  Scenario: Without a restart command the restart is skipped, never passed
    Given the reference app running on a real MongoDB-wire server
    When the local check runs against it without a restart command
    Then the database restart is skipped because "no --db-restart command was given"
