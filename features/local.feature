@local @serial
Feature: Challenge part 1 on a laptop
  The app and MongoDB on one machine: the contract holds, a short load passes, and when the
  database restarts under the app, the app recovers by itself and every write it acknowledged
  before the restart is still there.

  Scenario: The reference stack survives a database restart with nothing lost
    When the local check runs on the reference stack
    Then the contract passes
    And the database restart passes with every acknowledged write still there

  Scenario: Without a restart command the restart is skipped, never passed
    Given the reference app running on a real MongoDB-wire server
    When the local check runs against it without a restart command
    Then the database restart is skipped because "no --db-restart command was given"
