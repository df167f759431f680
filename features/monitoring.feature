@cluster
Feature: The app's monitoring works in a Kubernetes cluster
  Runs only under `cargo test --features e2e`. The monitoring variant (k8s/overlays/monitoring:
  the reference stack with a Prometheus that discovers the app's pods and a Grafana with the
  app's dashboard, and the profile next to it naming both) is deployed into a fresh namespace of
  its own, checked, and deleted as soon as its scenario is done (beside the dev stack, a third
  stack would not fit a small node's CPU requests). Its reports are written as
  cluster-monitoring.json and cluster-monitoring.xml.

  @serial
  Scenario: The app's metrics count what it serves, and Prometheus and Grafana show them
    Given the "monitoring" variant is deployed in the cluster
    Then the "deploy" scenario passes
    And the "monitoring" scenario passes
    And the "monitoring" variant is removed from the cluster
