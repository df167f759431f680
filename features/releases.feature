@cluster
Feature: Blue-green and canary releases work in a Kubernetes cluster
  Runs only under `cargo test --features e2e`. Each reference variant is deployed from its
  overlay (k8s/overlays/bluegreen, k8s/overlays/canary, with the profile next to it where there
  is one) into a fresh namespace of its own, checked, and deleted at the end of the run.

  @destructive @serial
  Scenario: The blue-green variant switches and rolls back without a failed request
    Given the "bluegreen" variant is deployed in the cluster
    Then the "deploy" scenario passes
    And the "bluegreen" scenario passes

  @destructive @serial
  Scenario: The canary variant splits by ready pods and aborts without a failed request
    Given the "canary" variant is deployed in the cluster
    Then the "deploy" scenario passes
    And the "canary" scenario passes
