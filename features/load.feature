@load @serial
Feature: Load, latency per route, and not one acknowledged write lost
  A short, bounded load with Goose: latency percentiles per route from an hdrhistogram, SLO
  gates per route that decide the exit code, and afterwards every POST the app acknowledged
  must be readable. A clause without a route applies to every route; GET /data, whose answer
  grows with the data the load writes, is read one page at a time when the app pages, else
  judged per 1,000 documents. Load only ever targets this machine (port-forward a cluster
  Service).

  Scenario: A short mixed load meets its SLOs and loses nothing
    Given the reference app running on a real MongoDB-wire server
    When 8 users load it for 3 seconds with the "mixed" mix and the SLOs "GET /:p95<2s,POST /data:p95<2s,p95<2s,errors<1%"
    Then every SLO is met
    And every acknowledged write is readable afterwards
    And latency percentiles are reported for "GET /", "POST /data" and "GET /data"

  Scenario: A target off this machine is refused before any request
    When a load against "http://10.0.0.1:5000" is asked for
    Then it is refused with "load runs target loopback only"
