@static
Feature: Manifests and Dockerfiles, checked without a cluster
  Before anything is deployed, deploycheck reads the Kubernetes manifests and the Dockerfile
  and points at the mistakes that make a take-home fail: the app talking to localhost, data
  on a volume that dies with the pod, probes on the wrong port, an HPA that cannot scale.
  Every finding names a rule, a file and a line, and says how to fix it.

  Scenario: A correct stack raises no finding at all
    Given a correct stack
    When it is linted
    Then there are no findings

  Scenario Outline: The reference manifests raise no error in any environment
    Given the manifests in "<overlay>"
    When they are linted with the "reference" profile
    Then there are no error findings

    Examples:
      | overlay                 |
      | k8s/overlays/dev        |
      | k8s/overlays/preprod    |
      | k8s/overlays/prod       |
      | k8s/overlays/monitoring |

  Scenario: The reference service's Dockerfile is clean
    Given the file "app/Dockerfile"
    When it is linted
    Then there are no findings

  Scenario Outline: A common mistake is caught, and nothing else is
    Given a correct stack
    And the mistake "<mistake>"
    When it is linted
    Then exactly the rules <rules> fire, each at a line

    Examples: the database connection
      | mistake                                   | rules         |
      | app connects to localhost                 | DC001         |
      | app connects to a pod IP inside a URI     | DC001         |
      | app connects to a host that is no Service | DC001         |
      | password as a literal env value           | DC002         |
      | MongoDB without root credentials          | DC003         |
      | data on an emptyDir                       | DC004         |
      | nothing mounted at /data/db               | DC004         |
      | MongoDB as a Deployment                   | DC005         |
      | StatefulSet's Service is not headless     | DC005         |

    Examples: probes and resources
      | mistake                                   | rules         |
      | no readiness probe                        | DC010         |
      | liveness probe on an undeclared port      | DC011         |
      | liveness and readiness are the same check | DC012         |
      | liveness probe on the data route          | DC013         |
      | liveness probe runs a database client against the database | DC013 |
      | no limits                                 | DC020         |
      | CPU limit below the request               | DC021         |
      | memory limit beyond the profile's bound   | DC022         |

    Examples: autoscaling and Services
      | mistake                                   | rules         |
      | HPA targets a Deployment that does not exist | DC030,DC070 |
      | HPA minimum above maximum                 | DC031         |
      | HPA without a CPU target                  | DC032         |
      | HPA target without CPU requests           | DC020,DC033   |
      | replicas set on a Deployment the HPA scales | DC034       |
      | Service selector matches no pods          | DC040         |
      | Service targetPort not exposed            | DC041         |

    Examples: what pods read from Secrets and ConfigMaps
      | mistake                                                | rules |
      | app reads a key its Secret does not define             | DC080 |
      | envFrom names a Secret the manifests do not define     | DC081 |
      | a volume names a ConfigMap the manifests do not define | DC081 |

    Examples: release strategies
      | mistake                                                    | rules       |
      | a canary Deployment beside the app, its Service over both  | DC090       |
      | a blue-green live Service over both sides                  | DC090,DC091 |
      | a blue-green preview Service that selects the live side    | DC090,DC092 |
      | a canary Service that selects only the stable track        | DC090,DC093 |
      | a canary larger than its stable Deployment                 | DC090,DC094 |
      | a canary whose rollout may take its only pod down          | DC090,DC095 |
      | an Argo Rollouts Rollout                                   | DC096       |

    Examples: monitoring
      | mistake                                                                  | rules |
      | a ServiceMonitor selecting the pod label of a Service that has no labels | DC100 |
      | a ServiceMonitor naming the port by number                               | DC101 |
      | a ServiceMonitor picking the pod's port by targetPort number             | DC102 |
      | a PodMonitor selecting no pod                                            | DC103 |
      | a PodMonitor port that is no named containerPort                         | DC104 |
      | a ServiceMonitor without the release label its Prometheus selects        | DC105 |
      | a ServiceMonitor without a release label for kube-prometheus-stack       | DC106 |
      | a scrape annotation on a port the pod does not expose                    | DC107 |
      | a dashboard whose JSON does not parse                                    | DC109 |
      | a dashboard query that is not PromQL                                     | DC110 |
      | a dashboard when the app's series are unknown                            | DC112 |

    Examples: images, security and availability
      | mistake                                   | rules         |
      | image without a tag                       | DC050         |
      | image on latest                           | DC050         |
      | imagePullPolicy Never                     | DC051         |
      | runs as root                              | DC060         |
      | privilege escalation allowed              | DC061         |
      | writable root filesystem                  | DC062         |
      | one replica and an HPA that allows one    | DC031,DC070   |
      | one replica and no HPA                    | DC070         |
      | no PodDisruptionBudget                    | DC071         |

    Examples: the Dockerfile
      | mistake                                   | rules         |
      | unpinned base image                       | DF001         |
      | no USER                                   | DF002         |
      | compiles in the only stage                | DF003         |
      | password in ENV                           | DF004         |
      | no .dockerignore                          | DF005         |

  Scenario Outline: A monitoring mistake is caught against the app's metrics route and series
    The reference profile documents the app's metrics route and series; flask-mongo's app
    exposes none, so these are judged with the reference's.

    Given a correct stack
    And the mistake "<mistake>"
    When they are linted with the "reference" profile
    Then exactly the rules <rules> fire, each at a line

    Examples:
      | mistake                                                     | rules |
      | a scrape annotation path other than the app's metrics route | DC108 |
      | a dashboard querying a metric the app does not have         | DC111 |
