@load @serial
Feature: Load, latency, and not one acknowledged write lost
  A short, bounded load with Goose: latency percentiles per route from an hdrhistogram, SLO
  gates that decide the exit code, and afterwards every POST the app acknowledged must be
  readable. Load only ever targets this machine (port-forward a cluster Service).

  Scenario: A short mixed load meets its SLOs and loses nothing
    Given the reference app running on a real MongoDB-wire server
    When 8 users load it for 3 seconds with the "mixed" mix and the SLOs "p95<2s,errors<1%"
    Then every SLO is met
    And every acknowledged write is readable afterwards
    And latency percentiles are reported for "GET /", "POST /data" and "GET /data"

  Scenario: A target off this machine is refused before any request
    When a load against "http://10.0.0.1:5000" is asked for
    Then it is refused with "load runs target loopback only"
