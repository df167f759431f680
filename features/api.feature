@api
Feature: The HTTP contract of the challenge
  The app answers the four routes of the take-home the way any client expects, and treats
  bad input as the client's mistake: a 4xx with a message, never a 5xx, a hang or a dropped
  connection. Valid variations pass: 200 or 201 for POST, extra fields, any greeting wording
  that carries the current time in any common format or zone.

  Background:
    Given the reference app running on a real MongoDB-wire server

  Scenario: Every check of the contract passes
    When its API contract is checked with the "reference" profile
    Then every check passes

  Scenario Outline: <check>
    When its API contract is checked with the "reference" profile
    Then the check "<check>" passes

    Examples: the routes
      | check                                |
      | GET / greets with the current time   |
      | GET /health answers 2xx              |
      | GET /ready answers 2xx               |
      | POST /data stores a JSON object      |
      | GET /data returns the stored object  |

    Examples: bad input is the client's mistake
      | check                                                     |
      | invalid JSON is refused with a 4xx                        |
      | a JSON value that is not an object is refused with a 4xx  |
      | a body over 1 MiB is refused with a 4xx                   |
      | a wrong content type is refused with a 4xx                |
      | a missing content type is refused with a 4xx              |
      | operator keys ($-prefixed) are refused with a 4xx         |

    Examples: the metrics the profile names
      | check                                          |
      | the metrics route serves a valid exposition    |
      | the request counter counts requests            |

  Scenario: A profile without a readiness path skips that check instead of passing it
    When its API contract is checked with the "flask-mongo" profile
    Then the check "GET /ready answers 2xx" is skipped because "the profile declares no readiness path"

  Scenario: A profile without a metrics route skips the metrics checks instead of passing them
    When its API contract is checked with the "flask-mongo" profile
    Then the check "the metrics route serves a valid exposition" is skipped because "the profile names no metrics route ([monitoring] metrics_path)"
    And the check "the request counter counts requests" is skipped because "the profile names no metrics route ([monitoring] metrics_path)"
