@cluster
Feature: The stack works in a Kubernetes cluster
  Runs only under `cargo test --features e2e`, against the current kube context. The stack is
  deployed once from k8s/overlays/dev into a fresh namespace (or DEPLOYCHECK_NAMESPACE is
  checked as it is), and the namespace is deleted at the end of the run. `@slow` scenarios
  (scale-down waits out the HPA's five-minute stabilisation) run only with DEPLOYCHECK_SLOW=1.

  Background:
    Given the stack is deployed in the cluster

  Scenario: The stack rolls out
    Then the "deploy" scenario passes

  Scenario: The app reaches MongoDB by its Service name
    Then the "connectivity" scenario passes

  @destructive @serial
  Scenario: Data survives the deletion of the database pod
    Then the "persistence" scenario passes

  @destructive @serial
  Scenario: Data survives the deletion and re-creation of the StatefulSet
    Then the "recreate" scenario passes

  @destructive @serial
  Scenario: A deleted app pod is replaced without failed requests
    Then the "replicas" scenario passes

  @serial
  Scenario: The HPA scales up under load
    Then the "hpa" scenario passes

  @serial @slow
  Scenario: After the load the HPA scales back down to the minimum
    Then the "hpa-scale-down" scenario passes

  @destructive @serial
  Scenario: A frozen app is restarted by its liveness probe
    Then the "liveness" scenario passes

  @destructive @serial
  Scenario: Readiness follows the database
    Then the "readiness" scenario passes

  Scenario: Resources and security settings hold
    Then the "resources" scenario passes

  @destructive @serial
  Scenario: A rolling restart fails no request
    Then the "rolling" scenario passes
