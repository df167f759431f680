@cluster
Feature: Blue-green and canary releases work in a Kubernetes cluster
  Runs only under `cargo test --features e2e`. Each reference variant is deployed from its
  overlay (k8s/overlays/bluegreen, k8s/overlays/canary, with the profile next to it where there
  is one) into a fresh namespace of its own, checked, and deleted as soon as its scenario is
  done (beside the dev stack, a third stack would not fit a small node's CPU requests).

  @destructive @serial
  Scenario: The blue-green variant switches and rolls back without a failed request
    Given the "bluegreen" variant is deployed in the cluster
    Then the "deploy" scenario passes
    And the "bluegreen" scenario passes
    And the "bluegreen" variant is removed from the cluster

  @destructive @serial
  Scenario: The canary variant splits by ready pods and aborts without a failed request
    Given the "canary" variant is deployed in the cluster
    Then the "deploy" scenario passes
    And the "canary" scenario passes
    And the "canary" variant is removed from the cluster
